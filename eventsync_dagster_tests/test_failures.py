"""Bounded waits and classified failures, against the fake API's fault switches.

Each test is a vendor misbehaving as real ones do (docs/reliability.md, "Every wait bounded"): the
run either carries on with what it can load and says what it skipped, or fails in one line, with
step retries for what a later attempt can fix and none for what a person must.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from eventsync_dagster_tests.conftest import (
    count,
    failure_messages,
    materializations,
    materialize,
    rows,
    step_retries,
)
from eventsync_dagster_tests.test_sensors import tick
from eventsync_dev.fake_api import Dataset, FakeApi

EVENTS, GUESTS = "/v1/calendar/list-events", "/v1/event/get-guests"
PARTICIPANTS = "/public/v1/participants"
DATASET: dict[str, int] = {"events": 12, "guests_per_event": 4, "participants": 6}
DEFINITIONS = "eventsync_dagster.definitions"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with FakeApi(dataset=Dataset(**DATASET)) as api:
        yield api


def one_line(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (message,) = failure_messages(result)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def warnings_logged(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.user_message
        for entry in instance.all_logs(run_id)
        if entry.level == 30  # logging.WARNING
    ]


# -- every wait has a bound ---------------------------------------------------------------


def test_a_repeated_cursor_fails_at_once_naming_the_endpoint(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    fake_api.faults.repeat_cursor = True
    result = materialize("luma/events")
    assert one_line(result) == (
        f"Luma sent a pagination cursor it had sent before for {EVENTS}: stopped, the listing "
        "would never end"
    )
    assert fake_api.counts[EVENTS] == 2  # the first page, and the one whose cursor repeats
    assert step_retries(result) == 0  # the same server would loop again


def test_a_body_trickling_past_the_deadline_is_cut_off_in_time(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_REQUEST_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("EVENTSYNC_REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("EVENTSYNC_STEP_RETRIES", "0")
    # ~1 KB at 50 bytes a second: 20 s per answer, each byte well within the read timeout.
    fake_api.faults.trickle_bytes_per_second = 50
    fake_api.faults.slow_paths = (PARTICIPANTS,)
    started = time.monotonic()
    result = materialize("eventee/participants")
    elapsed = time.monotonic() - started
    assert one_line(result) == (
        "Eventee timed out on /participants: no whole answer within 1s in 2 attempts "
        "(EVENTSYNC_REQUEST_TIMEOUT_SECONDS)"
    )
    assert fake_api.counts[PARTICIPANTS] == 2
    assert elapsed < 15


def test_a_retry_after_beyond_the_cap_waits_the_cap_and_is_counted_once(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_RETRY_MAX_DELAY_SECONDS", "2")
    fake_api.faults.rate_limit_429, fake_api.faults.retry_after = 1, 45
    started = time.monotonic()
    result = materialize("luma/events")
    elapsed = time.monotonic() - started
    assert result.success, failure_messages(result)
    assert elapsed < 20  # not the 45 s asked for
    meta = materializations(result)["luma/events"]
    assert meta["http_429s"] == 1
    assert 2 <= meta["http_wait_seconds"] < 4  # the capped wait, once


# -- failures are classified ---------------------------------------------------------------


def test_an_outage_longer_than_the_http_retries_is_carried_by_a_step_retry(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    faults = fake_api.faults
    # Four attempts of the first try all fail; the step's first retry meets one more.
    faults.status_burst, faults.burst_status, faults.burst_paths = 5, 503, (GUESTS,)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize("luma/event_guests", instance=instance)
    assert result.success, failure_messages(result)
    assert step_retries(result) == 1
    assert fake_api.statuses[(GUESTS, 503)] == 5
    assert count(duckdb_path, "luma.event_guests") == DATASET["events"] * 4
    said = warnings_logged(instance, result.run_id)
    assert any(
        w.startswith(f"Luma answered 503 for {GUESTS} after 4 attempts; a transient failure")
        for w in said
    ), said


def test_permanent_failures_are_never_retried(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMA_API_KEY", "wrong")
    result = materialize("luma/events")
    assert one_line(result) == "LUMA_API_KEY was rejected by Luma (401)"
    assert step_retries(result) == 0
    assert fake_api.counts[EVENTS] == 1


@pytest.mark.parametrize(
    ("body", "asset", "path", "endpoint"),
    [
        (None, "luma/events", EVENTS, EVENTS),
        ("maintenance", "luma/events", EVENTS, EVENTS),
        ({}, "luma/events", EVENTS, EVENTS),
        ([], "luma/events", EVENTS, EVENTS),
        ({}, "eventee/partners", "/public/v1/partners", "/partners"),
        ({"error": "busy"}, "eventee/groups", "/public/v1/groups", "/groups"),
        ({"error": "busy"}, "eventee/registrations", "/public/v1/registrations", "/registrations"),
        ("oops", "eventee/halls", "/public/v1/content", "/content"),
    ],
)
def test_a_body_of_the_wrong_shape_is_retried_then_fails_naming_the_endpoint(
    project_env: dict[str, str],
    fake_api: FakeApi,
    duckdb_path: Path,
    body: Any,
    asset: str,
    path: str,
    endpoint: str,
) -> None:
    faults = fake_api.faults
    faults.wrong_shape, faults.wrong_shape_body, faults.wrong_shape_paths = 1, body, (path,)
    result = materialize(asset)  # one such answer: retried, and the run succeeds
    assert result.success, failure_messages(result)
    assert fake_api.counts[path] == 2

    faults.wrong_shape = 100
    result = materialize(asset)
    message = one_line(result)
    assert message.startswith("Luma" if asset.startswith("luma") else "Eventee")
    assert " sent a body of the wrong shape (" in message
    assert message.endswith(f") for {endpoint} in 4 attempts")
    assert step_retries(result) == 2  # transient: the vendor may recover


# -- one bad event does not sink the rest --------------------------------------------------


def test_guests_gone_or_foreign_for_one_event_skip_that_event_and_warn(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    deleted, external = (e["api_id"] for e in fake_api.dataset.events[:2])
    fake_api.faults.guest_status = {deleted: 404, external: 403}
    instance = dg.DagsterInstance.ephemeral()
    result = materialize("luma/event_guests", instance=instance)
    assert result.success, failure_messages(result)
    assert count(duckdb_path, "luma.event_guests") == (DATASET["events"] - 2) * 4
    assert rows(
        duckdb_path,
        f"SELECT count(*) FROM luma.event_guests WHERE event_api_id IN ('{deleted}', '{external}')",
    ) == [(0,)]
    meta = materializations(result)["luma/event_guests"]
    assert f"skipped the guests of event {deleted}: Luma answered 404" in meta["warnings"]
    assert f"skipped the guests of event {external}: Luma answered 403" in meta["warnings"]
    said = warnings_logged(instance, result.run_id)
    assert sum(deleted in w for w in said) == 1 and sum(external in w for w in said) == 1
    assert not any("rejected" in w for w in said)

    fake_api.faults.guest_status = {}  # never settled: the next run reads them
    result = materialize("luma/event_guests")
    assert count(duckdb_path, "luma.event_guests") == DATASET["events"] * 4


def test_a_403_on_the_event_list_still_names_the_key(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    fake_api.faults.status_burst, fake_api.faults.burst_status = 100, 403
    fake_api.faults.burst_paths = (EVENTS,)
    assert one_line(materialize("luma/events")) == "LUMA_API_KEY was rejected by Luma (403)"


# -- no silent truncation ------------------------------------------------------------------


def test_has_more_without_a_cursor_ends_the_listing_with_a_warning(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.faults.more_without_cursor = True
    instance = dg.DagsterInstance.ephemeral()
    result = materialize("luma/events", instance=instance)
    assert result.success, failure_messages(result)
    warning = f"Luma said {EVENTS} has more but sent no cursor: the listing ended early"
    assert materializations(result)["luma/events"]["warnings"] == f"- {warning}"
    assert warnings_logged(instance, result.run_id).count(warning) == 1
    assert count(duckdb_path, "luma.events") == DATASET["events"]  # one page of 100 holds all


# -- poison records --------------------------------------------------------------------------


def test_records_nested_too_deep_land_as_json_strings_and_later_syncs_work(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.faults.deep_nesting_every = 4
    for _ in range(2):
        result = materialize("luma/events")
        assert result.success, failure_messages(result)
    assert count(duckdb_path, "luma.events") == DATASET["events"]
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        deep = con.execute(
            "SELECT nested_deep FROM luma.events WHERE nested_deep IS NOT NULL"
        ).fetchall()
    assert len(deep) == DATASET["events"] // 4
    assert all('"leaf":true' in str(value) for (value,) in deep)


# -- sensor ticks are bounded --------------------------------------------------------------


def test_a_sensor_tick_ends_within_its_budget_and_late_accounts_go_first_next(
    project_env: dict[str, str],
    fake_api: FakeApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeApi(dataset=Dataset(**DATASET), luma_api_key="slow-key") as slow:
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(
            '[[luma]]\nname = "quick"\ncredential_variable = "LUMA_API_KEY"\n'
            f'[[luma]]\nname = "slow"\ncredential_variable = "LUMA_API_KEY_SLOW"\n'
            f'base_url = "{slow.luma_base_url}"\n'
        )
        monkeypatch.setenv("EVENTSYNC_ACCOUNTS_FILE", str(accounts))
        monkeypatch.setenv("LUMA_API_KEY_SLOW", "slow-key")
        monkeypatch.setenv("EVENTSYNC_SENSOR_TICK_SECONDS", "1")
        slow.faults.slow_seconds, slow.faults.slow_count = 4, 1  # one answer 4 s late
        started = time.monotonic()
        first = tick("luma_change_sensor")
        assert time.monotonic() - started < 3
        assert first.skip_message is not None
        assert "first poll: recorded luma[quick]'s state" in first.skip_message
        assert "luma[slow] not polled within 1s: first next tick" in first.skip_message

        second = tick("luma_change_sensor", first.cursor)
        assert second.skip_message is not None
        assert second.skip_message.startswith("first poll: recorded luma[slow]'s state")
        assert "luma[quick] unchanged" in second.skip_message


# -- bad settings ----------------------------------------------------------------------------


def test_bad_settings_fail_the_run_in_one_line_and_never_the_definitions(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = {"EVENTSYNC_DESTINATION": "duckdbx", "EVENTSYNC_LOCK_TIMEOUT_SECONDS": "1h"}
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    validated = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", DEFINITIONS],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **bad},
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    result = materialize("eventee/partners")
    message = one_line(result)
    assert all(name in message for name in bad), message
    assert step_retries(result) == 0
    assert sum(fake_api.counts.values()) == 0
