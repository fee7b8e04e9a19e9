"""Luma's rate limit: one budget per key for every process, paced at the limit the server
announces, capped by `LUMA_REQUESTS_PER_MINUTE`, and 429s that come anyway waited out.

The fake's limit is scaled down (a budget per two-second window instead of 200 per minute).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventsync_dagster.accounts import Account
from eventsync_dagster.budget import RateHeaders, SharedBudget
from eventsync_dagster.luma.defs import LumaResource
from eventsync_dagster_tests.conftest import count, failure_messages, materializations, materialize
from eventsync_dagster_tests.test_reliability import CLI, new_home
from eventsync_dev.fake_api import Dataset, FakeApi, Faults

WINDOW = 2.0
FAKE_BUDGET = 20
EVENTS, GUESTS = 45, 3


@pytest.fixture
def fake_api() -> FakeApi:  # overrides conftest's: a calendar that needs several windows
    faults = Faults(luma_rate_limit=FAKE_BUDGET, luma_rate_window=WINDOW, luma_block_seconds=1)
    with FakeApi(dataset=Dataset(events=EVENTS, guests_per_event=GUESTS), faults=faults) as api:
        yield api


def luma_requests(api: FakeApi) -> int:
    return sum(n for path, n in api.counts.items() if path.startswith("/v1/"))


def throttled(api: FakeApi) -> int:
    return sum(n for (_, status), n in api.statuses.items() if status == 429)


SPEND = """
import sys, time
from pathlib import Path
from eventsync_dagster.budget import SharedBudget
budget = SharedBudget(Path(sys.argv[1]), window=float(sys.argv[2]), cap=int(sys.argv[3]))
for _ in range(int(sys.argv[4])):
    before = time.time()
    budget.acquire()
    print(before, time.time(), flush=True)
"""


@pytest.mark.parametrize(
    ("cap", "each"),
    [(5, 8), (400, 300)],
    ids=["one request per grant", "requests granted ahead (1% of a large limit)"],
)
def test_processes_on_one_key_share_one_budget_and_no_window_exceeds_it(
    tmp_path: Path, cap: int, each: int
) -> None:
    path, window = tmp_path / "key.sqlite", 0.5
    spenders = [
        subprocess.Popen(
            [sys.executable, "-c", SPEND, str(path), str(window), str(cap), str(each)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    # Each request was counted between `before` and `after` (a busy machine may print late).
    sent = sorted(
        (float(after), float(before))
        for p in spenders
        for before, after in (line.split() for line in p.communicate(timeout=60)[0].splitlines())
    )
    assert all(p.returncode == 0 for p in spenders)
    assert len(sent) == 3 * each
    for i in range(len(sent) - cap):  # any `cap + 1` requests span at least one window
        group = sent[i : i + cap + 1]
        assert max(a for a, _ in group) - min(b for _, b in group) >= window - 1e-3


def test_a_large_limit_grants_requests_ahead_and_gives_back_the_unused(tmp_path: Path) -> None:
    budget = SharedBudget(tmp_path / "key.sqlite", window=60.0, cap=1000)

    def counted() -> int:
        with budget._transaction() as db:
            return int(db.execute("SELECT count(*) FROM sent").fetchone()[0])

    budget.acquire()
    assert counted() == 10  # one transaction, 1% of the limit
    for _ in range(9):
        budget.acquire()
    assert counted() == 10
    budget.acquire()
    assert counted() == 20
    budget.block(0.0)  # a 429 (here one that asks for no wait)
    assert counted() == 11  # the 9 granted ahead and unused are given back
    budget.acquire()
    assert counted() == 21
    time.sleep(0.7)  # the grant lasts 1% of the window: 0.6 s
    budget.acquire()
    assert counted() == 22  # 9 unused given back, 10 granted


def test_the_budget_learns_the_announced_limit_and_pauses_when_nothing_remains(
    tmp_path: Path,
) -> None:
    budget = SharedBudget(tmp_path / "key.sqlite", window=60.0)
    with budget._transaction() as db:
        assert budget.limit(db) == 180  # nothing announced yet: a calendar key's safe pace
    budget.observe(RateHeaders.parse({"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "499"}))
    with budget._transaction() as db:
        assert budget.limit(db) == 475  # an organisation key, paced at 95%
    capped = SharedBudget(tmp_path / "key.sqlite", window=60.0, cap=300)
    with capped._transaction() as db:
        assert capped.limit(db) == 300  # LUMA_REQUESTS_PER_MINUTE stays a hard cap
    budget.observe(
        RateHeaders.parse(
            {"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"}
        )
    )
    started = time.monotonic()
    waited = budget.acquire()
    assert waited >= 0.2 and time.monotonic() - started >= 0.2


def test_a_reset_sent_as_an_epoch_timestamp_is_read_as_seconds_from_now() -> None:
    now = 1_800_000_000.0
    assert RateHeaders.parse({"X-RateLimit-Reset": str(now + 30)}, now=now).reset_seconds == 30
    assert RateHeaders.parse({"X-RateLimit-Reset": "30"}, now=now).reset_seconds == 30
    assert RateHeaders.parse({"X-RateLimit-Reset": "soon"}).reset_seconds is None


def test_a_sync_paced_by_the_announced_limit_meets_no_429(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("LUMA_REQUESTS_PER_MINUTE")  # no configuration: the headers decide
    monkeypatch.setenv("LUMA_RATE_WINDOW_SECONDS", str(WINDOW))
    started = time.monotonic()
    result = materialize("luma/events", "luma/event_guests")
    elapsed = time.monotonic() - started
    assert result.success, failure_messages(result)
    requests = luma_requests(fake_api)
    assert throttled(fake_api) == 0
    assert requests == 1 + EVENTS  # the events page (read once per run) and one page per event
    # 19 requests per window once announced (95% of 20): never faster than that.
    assert elapsed >= (requests // 19 - 1) * WINDOW
    guests = materializations(result)["luma/event_guests"]
    assert guests["http_429s"] == 0 and guests["http_wait_seconds"] > 0
    assert count(duckdb_path, "luma.event_guests") == EVENTS * GUESTS


def test_the_configured_cap_holds_below_the_announced_limit(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LUMA_REQUESTS_PER_MINUTE", "10")  # per window, here
    monkeypatch.setenv("LUMA_RATE_WINDOW_SECONDS", str(WINDOW))
    started = time.monotonic()
    result = materialize("luma/events", "luma/event_guests")
    elapsed = time.monotonic() - started
    assert result.success, failure_messages(result)
    assert throttled(fake_api) == 0
    assert elapsed >= (luma_requests(fake_api) // 10 - 1) * WINDOW


def test_two_runs_at_once_on_one_key_share_its_budget_and_meet_no_429(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("LUMA_REQUESTS_PER_MINUTE")
    env = {**os.environ, "LUMA_RATE_WINDOW_SECONDS": str(WINDOW)}
    select = "luma/events,luma/event_guests"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    runs = []
    for log in logs:
        home = new_home(tmp_path, log.stem)
        with open(log, "wb") as out:
            runs.append(
                subprocess.Popen(
                    [*CLI, select],
                    env={**env, "DAGSTER_HOME": str(home)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    for run, log in zip(runs, logs, strict=True):
        assert run.wait(timeout=240) == 0, log.read_text()[-3000:]
    assert throttled(fake_api) == 0
    assert luma_requests(fake_api) == 2 * (1 + EVENTS)  # both synced everything
    assert count(duckdb_path, "luma.events") == EVENTS
    assert count(duckdb_path, "luma.event_guests") == EVENTS * GUESTS


def test_every_luma_client_of_a_key_shares_one_budget(
    project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync, parallel fetches and the change sensor build clients separately.
    default = Account("luma", "default", "LUMA_API_KEY")
    budget = LumaResource().client(default).budget
    assert budget is not None
    assert budget.path == LumaResource().client(default).budget.path  # type: ignore[union-attr]
    monkeypatch.setenv("LUMA_API_KEY_BERLIN", "another-calendar")
    berlin = Account("luma", "berlin", "LUMA_API_KEY_BERLIN")
    assert LumaResource().client(berlin).budget.path != budget.path  # type: ignore[union-attr]
    assert "another-calendar" not in str(budget.path)
