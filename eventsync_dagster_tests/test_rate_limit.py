"""Luma's rate limit: the client stays under its budget, and 429s that come anyway are waited out.

The fake's limit is scaled down (a budget per two-second window instead of 200 per minute).
"""

import time
from pathlib import Path

import pytest

from eventsync_dagster.accounts import Account
from eventsync_dagster.fake_api import Dataset, FakeApi, Faults
from eventsync_dagster.resources import LumaResource
from eventsync_dagster.sources.http import RateLimiter
from eventsync_dagster_tests.conftest import count, failure_messages, materializations, materialize

WINDOW = 2.0
FAKE_BUDGET = 20


@pytest.fixture
def fake_api() -> FakeApi:  # overrides conftest's: a calendar that needs several windows
    faults = Faults(luma_rate_limit=FAKE_BUDGET, luma_rate_window=WINDOW, luma_block_seconds=1)
    with FakeApi(dataset=Dataset(events=45, guests_per_event=3), faults=faults) as api:
        yield api


def test_limiter_never_lets_more_than_the_budget_through_any_window() -> None:
    limiter = RateLimiter(limit=5, window=0.5)
    sent = []
    for _ in range(12):
        limiter.acquire()
        sent.append(time.monotonic())
    for i in range(len(sent) - 5):
        assert sent[i + 5] - sent[i] >= 0.5 - 1e-3


def test_sync_under_the_budget_meets_no_429_and_takes_requests_over_budget(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LUMA_REQUESTS_PER_MINUTE", str(FAKE_BUDGET - 2))  # per window, here
    monkeypatch.setenv("LUMA_RATE_WINDOW_SECONDS", str(WINDOW))
    started = time.monotonic()
    result = materialize("luma/events", "luma/event_guests")
    elapsed = time.monotonic() - started
    assert result.success, failure_messages(result)
    requests = sum(n for path, n in fake_api.counts.items() if path.startswith("/v1/"))
    assert not [k for k in fake_api.statuses if k[1] == 429]
    assert requests == 2 + 45  # the events page (read by both steps) and one page per event
    # The budget allows 18 requests per window: at least (47 / 18 - 1) windows of waiting.
    assert elapsed >= (requests // (FAKE_BUDGET - 2)) * WINDOW - WINDOW
    guests = materializations(result)["luma/event_guests"]
    assert guests["http_429s"] == 0 and guests["http_wait_seconds"] > 0
    assert guests["http_requests"] == 46
    assert count(duckdb_path, "luma.event_guests") == 45 * 3


def test_sync_over_the_budget_meets_429s_and_still_lands_every_row(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LUMA_REQUESTS_PER_MINUTE", "10000")
    monkeypatch.setenv("LUMA_RATE_WINDOW_SECONDS", str(WINDOW))
    result = materialize("luma/events", "luma/event_guests")
    assert result.success, failure_messages(result)
    throttled = sum(n for (path, status), n in fake_api.statuses.items() if status == 429)
    assert throttled > 0
    guests = materializations(result)["luma/event_guests"]
    assert guests["http_429s"] > 0 and guests["http_wait_seconds"] >= 1
    assert count(duckdb_path, "luma.events") == 45
    assert count(duckdb_path, "luma.event_guests") == 45 * 3


def test_every_luma_client_of_a_key_shares_one_budget(
    project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync, parallel fetches and the change sensor build clients separately.
    default = Account("luma", "default", "LUMA_API_KEY")
    assert LumaResource().client(default).limiter is LumaResource().client(default).limiter
    monkeypatch.setenv("LUMA_API_KEY_BERLIN", "another-calendar")
    berlin = Account("luma", "berlin", "LUMA_API_KEY_BERLIN")
    assert LumaResource().client(berlin).limiter is not LumaResource().client(default).limiter
