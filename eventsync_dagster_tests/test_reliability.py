"""The fault matrix of docs/reliability.md, against the fake API's fault switches.

Real HTTP to the fake on 127.0.0.1, real DuckDB files in temp folders, real Dagster runs: the
in-process `materialize()` helper, and the `dagster` CLI where a process must die or two must
overlap. "Warehouse unchanged" compares every table of the file (dlt's bookkeeping included)
before and after, with the upstream changed in between so that a partial load could not hide.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from eventsync_dagster.eventee.source import eventee_source
from eventsync_dagster.http import HttpSettings
from eventsync_dagster.luma.source import luma_source
from eventsync_dagster.tables import TABLES
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import (
    REPO,
    check_results,
    count,
    failure_messages,
    materializations,
    materialize,
    most_at_once,
    rows,
    step_retries,
)
from eventsync_dev.fake_api import Dataset, FakeApi

DATASET: dict[str, int] = {"events": 12, "guests_per_event": 4, "participants": 6}
FAST = HttpSettings(backoff_factor=0.05)
BUDGET = 100_000
"""Luma requests per minute: every run in this process shares one budget per key, and the
client-side rate limit is not what these tests are about (test_rate_limit.py is)."""
EVENTS, GUESTS = "/v1/calendar/list-events", "/v1/event/get-guests"
PARTICIPANTS = "/public/v1/participants"
DUPLICATED = ("eventee/halls", "eventee/partners", "eventee/participants")
CLI = [
    sys.executable, "-m", "dagster", "asset", "materialize",
    "-m", "eventsync_dagster.definitions", "--select",
]  # fmt: skip
WAITING = "another run is loading into it"
"""What a step logs while the DuckDB file's lock is held by another process."""


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """The conftest fake, with this module's dataset (the baseline warehouse is built from it)."""
    with FakeApi(dataset=Dataset(**DATASET)) as api:
        yield api


def clean_sync(api: FakeApi, path: Path) -> None:
    """A clean sync of every table into a new file (plain dlt, the project's own pipelines)."""
    warehouse = Warehouse(duckdb_path=str(path))
    sources = {
        "luma": luma_source(
            api_key=api.luma_api_key,
            base_url=api.luma_base_url,
            http=FAST,
            requests_per_minute=BUDGET,
        ),
        "eventee": eventee_source(
            api_token=api.eventee_api_token, base_url=api.eventee_base_url, http=FAST
        ),
    }
    for source in sources.values():
        warehouse.sync(source)


@pytest.fixture
def project_env(project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("LUMA_REQUESTS_PER_MINUTE", str(BUDGET))
    return {**project_env, "LUMA_REQUESTS_PER_MINUTE": str(BUDGET)}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse after one clean sync of DATASET (built once, copied per test)."""
    path = tmp_path_factory.mktemp("baseline") / "eventsync.duckdb"
    with FakeApi(dataset=Dataset(**DATASET)) as api:
        clean_sync(api, path)
    return path


@pytest.fixture
def loaded(baseline: Path, duckdb_path: Path, project_env: dict[str, str]) -> Path:
    """The project's warehouse file, already holding one clean sync."""
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        if baseline.with_name(baseline.name + suffix).exists():
            shutil.copy(baseline.with_name(baseline.name + suffix), f"{duckdb_path}{suffix}")
    return duckdb_path


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the file (data, dlt's loads, versions and state, staging), rows sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": sorted(
                con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall(), key=repr
            )
            for schema, name in names
        }


def contents(path: Path, tables: set[str]) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    """The tables as data: every column but dlt's per-load ids, order-independent."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for t in (t for t in TABLES if f"{t.vendor}.{t.name}" in tables):
            cursor = con.execute(
                f'SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM "{t.vendor}"."{t.name}"'
            )
            columns = [d[0] for d in cursor.description]
            records = (tuple(sorted(zip(columns, row, strict=True))) for row in cursor.fetchall())
            out[f"{t.vendor}.{t.name}"] = sorted(records, key=repr)
    return out


def expected_counts(api: FakeApi) -> dict[str, int]:
    data = api.dataset
    return {
        "luma.events": len(data.events),
        "luma.event_guests": sum(len(data.guests(e["api_id"])) for e in data.events),
        **{f"eventee.{name}": len(records) for name, records in data.content.items()},
        "eventee.partners": len(data.partners),
        "eventee.participants": len(data.participants),
    }


def change_upstream(api: FakeApi) -> str:
    """Change what a good run would load (a guest of the latest event, an event, a participant);
    returns the changed guest's id."""
    data = api.dataset
    latest = data.events[-1]["api_id"]  # upcoming: its guests are read on every run
    guest = data.guests(latest)[0]
    guest["name"] = "Changed Upstream"
    data.update_event(latest, name="Changed upstream")
    data.participants[0]["company"] = "Changed upstream"
    return str(guest["api_id"])


def one_line(messages: list[str]) -> str:
    (message,) = messages
    assert "\n" not in message and "Traceback" not in message, message
    return message


def start_cli(env: dict[str, str], log: Path, select: str = "*") -> subprocess.Popen[bytes]:
    """`dagster asset materialize --select ...` in its own process group (to kill it whole)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*CLI, select], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for(
    condition: Callable[[], bool],
    what: str,
    runs: dict[Path, subprocess.Popen[bytes]],
    timeout: float = 120,
) -> None:
    """Poll until `condition`; fail at once, with its log, if one of the runs ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        for log, run in runs.items():
            assert run.poll() is None, f"{log.name} ended early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def new_home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    shutil.copy(REPO / "instance" / "dagster.yaml", home / "dagster.yaml")
    return home


# -- transient faults: retried, the run succeeds --------------------------------------------


def test_429_waits_as_retry_after_says_then_the_run_succeeds(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.faults.rate_limit_429 = 1
    fake_api.faults.retry_after = 2  # the backoff alone would retry after 0.05 s
    started = time.monotonic()
    result = materialize("luma/events")
    elapsed = time.monotonic() - started
    assert result.success, failure_messages(result)
    assert fake_api.statuses[(EVENTS, 429)] == 1
    assert fake_api.statuses[(EVENTS, 200)] == 1
    assert 2 <= elapsed < 30  # as told: not the minute of Luma's block, nor the backoff
    meta = materializations(result)["luma/events"]
    assert meta["http_429s"] == 1 and meta["http_wait_seconds"] >= 2
    assert count(duckdb_path, "luma.events") == DATASET["events"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_bursts_of_three_are_retried_and_the_run_succeeds(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, status: int
) -> None:
    faults = fake_api.faults
    faults.status_burst, faults.burst_status, faults.burst_paths = 3, status, (GUESTS,)
    result = materialize("luma/event_guests")
    assert result.success, failure_messages(result)
    assert fake_api.statuses[(GUESTS, status)] == 3  # mid-run: the events were read already
    assert count(duckdb_path, "luma.event_guests") == expected_counts(fake_api)["luma.event_guests"]


# -- failures: one line, warehouse unchanged, the next run converges ------------------------


def test_more_failures_than_retries_fail_in_one_line_and_change_nothing(
    project_env: dict[str, str], fake_api: FakeApi, loaded: Path
) -> None:
    guest = change_upstream(fake_api)
    before = snapshot(loaded)
    faults = fake_api.faults
    faults.status_burst, faults.burst_status, faults.burst_paths = 100, 502, (GUESTS,)
    result = materialize("luma/event_guests")
    assert not result.success
    assert one_line(failure_messages(result)) == (
        "Luma answered 502 for /v1/event/get-guests after 4 attempts"
    )
    # EVENTSYNC_REQUEST_MAX_ATTEMPTS' default, in each of the step and its two retries
    assert fake_api.statuses[(GUESTS, 502)] == 4 * 3
    assert step_retries(result) == 2
    assert snapshot(loaded) == before

    faults.status_burst = 0
    result = materialize("luma/event_guests")
    assert result.success, failure_messages(result)
    assert rows(loaded, f"SELECT name FROM luma.event_guests WHERE api_id = '{guest}'") == [
        ("Changed Upstream",)
    ]
    assert count(loaded, "luma.event_guests") == expected_counts(fake_api)["luma.event_guests"]


def test_server_gone_mid_run_fails_changes_nothing_and_the_next_run_converges(
    project_env: dict[str, str], fake_api: FakeApi, loaded: Path
) -> None:
    guest = change_upstream(fake_api)
    before = snapshot(loaded)
    # The events page and two guest pages are answered, then every connection is dropped.
    fake_api.faults.drop_connection_after = fake_api.ok_total + 3
    result = materialize("luma/event_guests")
    assert not result.success
    assert one_line(failure_messages(result)) == (
        # the retries find the vendor gone from the start
        f"Luma at 127.0.0.1:{fake_api.port} could not be reached for /v1/calendar/list-events in "
        "4 attempts (ConnectionError); check LUMA_BASE_URL"
    )
    assert fake_api.statuses[(GUESTS, 200)] == 2
    assert step_retries(result) == 2
    assert snapshot(loaded) == before

    fake_api.faults.drop_connection_after = -1
    result = materialize("luma/event_guests")
    assert result.success, failure_messages(result)
    assert rows(loaded, f"SELECT name FROM luma.event_guests WHERE api_id = '{guest}'") == [
        ("Changed Upstream",)
    ]


def test_connection_dropped_between_pages_loads_nothing_then_converges(tmp_path: Path) -> None:
    """The same through the plain dlt source, with pages of 5 events: gone after page one."""
    path = tmp_path / "w.duckdb"
    with FakeApi(dataset=Dataset(events=12, guests_per_event=1)) as api:

        def sync() -> None:
            source = luma_source(
                api_key=api.luma_api_key,
                base_url=api.luma_base_url,
                http=FAST,
                page_size=5,
                requests_per_minute=BUDGET,
            )
            Warehouse(duckdb_path=str(path)).sync(source.with_resources("events"))

        api.faults.drop_connection_after = 1
        with pytest.raises(PipelineStepFailed) as failed:
            sync()
        assert "could not be reached for /v1/calendar/list-events in 4 attempts" in str(
            failed.value
        )
        assert api.statuses[(EVENTS, 200)] == 1
        with duckdb.connect(str(path), read_only=True) as con:
            assert not con.execute(
                "SELECT * FROM information_schema.tables WHERE table_name = 'events'"
            ).fetchall()
        api.faults.drop_connection_after = -1
        sync()
    assert count(path, "luma.events") == 12


def test_slow_answers_are_retried_then_fail_with_a_clear_timeout(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_REQUEST_TIMEOUT_SECONDS", "0.3")
    faults = fake_api.faults
    faults.slow_seconds, faults.slow_paths, faults.slow_count = 1.0, (PARTICIPANTS,), 1
    result = materialize("eventee/participants")
    assert result.success, failure_messages(result)  # one slow answer: retried
    assert fake_api.counts[PARTICIPANTS] == 2

    faults.slow_count = -1  # every answer slow
    result = materialize("eventee/participants")
    assert not result.success
    assert one_line(failure_messages(result)) == (
        "Eventee timed out on /participants: no whole answer within 0.3s in 4 attempts "
        "(EVENTSYNC_REQUEST_TIMEOUT_SECONDS)"
    )
    assert fake_api.counts[PARTICIPANTS] == 2 + 4 * 3


@pytest.mark.parametrize(
    ("fault", "asset", "vendor", "endpoint"),
    [
        ("truncate_json", "luma/events", "Luma", "/v1/calendar/list-events"),
        ("non_json", "eventee/participants", "Eventee", "/participants"),
    ],
)
def test_truncated_or_non_json_body_fails_naming_the_endpoint_and_changes_nothing(
    project_env: dict[str, str],
    fake_api: FakeApi,
    loaded: Path,
    fault: str,
    asset: str,
    vendor: str,
    endpoint: str,
) -> None:
    change_upstream(fake_api)
    before = snapshot(loaded)
    setattr(fake_api.faults, fault, 100)
    result = materialize(asset)
    assert not result.success
    message = one_line(failure_messages(result))
    assert message.startswith(
        f"{vendor} sent a body that is not JSON (truncated or an error page: "
    )
    assert message.endswith(f") for {endpoint} in 4 attempts")
    assert step_retries(result) == 2
    assert snapshot(loaded) == before


@pytest.mark.parametrize(
    ("variable", "asset", "vendor", "endpoint", "status"),
    [
        ("LUMA_API_KEY", "luma/events", "Luma", EVENTS, 401),
        ("LUMA_API_KEY", "luma/events", "Luma", EVENTS, 403),
        ("EVENTEE_API_TOKEN", "eventee/partners", "Eventee", "/public/v1/partners", 401),
        ("EVENTEE_API_TOKEN", "eventee/partners", "Eventee", "/public/v1/partners", 403),
    ],
)
def test_rejected_credentials_are_not_retried_name_the_variable_and_hide_the_key(
    project_env: dict[str, str],
    fake_api: FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    variable: str,
    asset: str,
    vendor: str,
    endpoint: str,
    status: int,
) -> None:
    if status == 401:  # a wrong key
        key = f"WRONG-{variable}-7f3a9c"
        monkeypatch.setenv(variable, key)
    else:  # the right key, refused (a suspended key, a missing scope)
        key = project_env[variable]
        fake_api.faults.status_burst, fake_api.faults.burst_status = 100, 403
    result = materialize(asset)
    assert not result.success
    assert one_line(failure_messages(result)) == f"{variable} was rejected by {vendor} ({status})"
    assert fake_api.counts[endpoint] == 1  # no retry
    output = capfd.readouterr()
    assert key not in str(list(result.all_events)) + output.out + output.err


@pytest.mark.parametrize(
    ("variable", "asset"),
    [("LUMA_API_KEY", "luma/events"), ("EVENTEE_API_TOKEN", "eventee/partners")],
)
def test_a_missing_variable_is_named_before_any_request(
    project_env: dict[str, str],
    fake_api: FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    asset: str,
) -> None:
    monkeypatch.delenv(variable)
    result = materialize(asset)
    assert not result.success
    assert one_line(failure_messages(result)).startswith(f"{variable} is not set: export it")
    assert sum(fake_api.counts.values()) == 0


# -- bad records ----------------------------------------------------------------------------


def test_records_duplicated_across_pages_leave_one_row_per_key(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    fake_api.faults.duplicate_across_pages = True  # Eventee lists repeat their first record
    result = materialize(*DUPLICATED)
    assert result.success, failure_messages(result)
    expected = expected_counts(fake_api)
    metadata = materializations(result)
    for key in DUPLICATED:
        table = key.replace("/", ".")
        assert count(duckdb_path, table) == expected[table], table
        assert metadata[key]["rows_loaded"] == expected[table], table  # counted as landed
    checks = check_results(result)
    assert all(checks[f"{key}:primary_key_unique"].passed for key in DUPLICATED)

    # Luma, through the plain source with pages of 3: each page repeats the previous one's last.
    path = tmp_path / "pages.duckdb"
    source = luma_source(
        api_key=fake_api.luma_api_key,
        base_url=fake_api.luma_base_url,
        http=FAST,
        page_size=3,
        requests_per_minute=BUDGET,
    )
    Warehouse(duckdb_path=str(path)).sync(source)
    assert count(path, "luma.events") == expected["luma.events"]
    assert count(path, "luma.event_guests") == expected["luma.event_guests"]
    assert rows(path, "SELECT count(DISTINCT (event_api_id, api_id)) FROM luma.event_guests") == [
        (expected["luma.event_guests"],)
    ]


def test_records_with_a_null_key_are_rejected_visibly_and_never_land(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.faults.null_required_every = 3  # every third event, guest and participant
    instance = dg.DagsterInstance.ephemeral()
    result = materialize("luma/event_guests", "eventee/participants", instance=instance)
    assert result.success, failure_messages(result)
    # 12 events, 4 dropped (so their guests are never asked for); 3 of each 4 guests kept.
    assert count(duckdb_path, "luma.event_guests") == 8 * 3
    assert count(duckdb_path, "eventee.participants") == 4
    assert rows(
        duckdb_path,
        "SELECT count(*) FROM luma.event_guests WHERE api_id IS NULL OR event_api_id IS NULL",
    ) == [(0,)]
    assert rows(duckdb_path, "SELECT count(*) FROM eventee.participants WHERE email IS NULL") == [
        (0,)
    ]
    metadata = materializations(result)
    assert metadata["luma/event_guests"]["rejected_null_key_records"] == 8
    assert metadata["eventee/participants"]["rejected_null_key_records"] == 2
    checks = check_results(result)
    assert checks["luma/event_guests:required_fields_present"].passed
    assert checks["eventee/participants:required_fields_present"].passed
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    for table, key in (
        ("luma.event_guests", "event_api_id, api_id"),
        ("eventee.participants", "email"),
    ):
        said = f"{table}: rejected a record without its key ({key})"
        assert sum(said in line for line in logged) == 1, logged
    assert any("8 event_guests without a key" in line for line in logged), logged


def test_new_fields_and_a_changed_type_load_and_the_drift_check_reports_them(
    project_env: dict[str, str], fake_api: FakeApi, loaded: Path
) -> None:
    keys = ("luma/events", "eventee/participants")
    instance = dg.DagsterInstance.ephemeral()  # the drift check compares the last two loads
    assert materialize(*keys, instance=instance).success
    fake_api.faults.extra_fields = {"loyalty_tier": 3}
    result = materialize(*keys, instance=instance)
    assert result.success, failure_messages(result)
    checks = check_results(result)
    for key in keys:
        drift = checks[f"{key}:column_schema_change"]
        assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
        assert "Added columns: loyalty_tier" in (drift.description or "")
    assert rows(loaded, "SELECT DISTINCT loyalty_tier FROM luma.events") == [(3,)]

    fake_api.faults.extra_fields = {"loyalty_tier": "gold"}  # the field changes type
    result = materialize(*keys, instance=instance)
    assert result.success, failure_messages(result)
    checks = check_results(result)
    for key in keys:
        drift = checks[f"{key}:column_schema_change"]
        assert "Added columns: loyalty_tier__v_text" in (drift.description or "")
        assert checks[f"{key}:primary_key_unique"].passed
    assert rows(loaded, "SELECT DISTINCT loyalty_tier__v_text FROM eventee.participants") == [
        ("gold",)
    ]


# -- processes: killed, concurrent ----------------------------------------------------------


def test_sigkill_mid_run_then_the_next_run_completes_and_equals_a_clean_run(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    # Participants and Luma's events are loaded and checked; guests are being read when it dies.
    fake_api.faults.slow_seconds, fake_api.faults.slow_paths = 0.5, (GUESTS,)
    selection = "eventee/participants,luma/events,luma/event_guests"
    log = tmp_path / "killed.log"
    killed = start_cli(os.environ.copy(), log, selection)
    try:
        wait_for(lambda: fake_api.counts[GUESTS] >= 3, "guests being read", {log: killed})
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    fake_api.faults.slow_seconds = 0
    change_upstream(fake_api)  # the next run must fetch, not just finish what the dead one left

    instance = dg.DagsterInstance.get()  # the same instance (DAGSTER_HOME) as the killed run
    (dead,) = instance.get_run_records()
    assert dead.dagster_run.status == dg.DagsterRunStatus.STARTED  # nobody saw it die

    # The same selection again; the OS lock died with the process, so nothing waits.
    result = materialize(*selection.split(","), instance=instance)
    assert result.success, failure_messages(result)

    clean = tmp_path / "clean" / "eventsync.duckdb"
    clean_sync(fake_api, clean)
    tables = {key.replace("/", ".") for key in selection.split(",")}
    assert contents(duckdb_path, tables) == contents(clean, tables)
    expected = {t: n for t, n in expected_counts(fake_api).items() if t in tables}
    assert {t: count(duckdb_path, t) for t in tables} == expected


SELECTED = "eventee/partners,eventee/participants,luma/events,luma/event_guests"
SELECTED_TABLES = {key.replace("/", ".") for key in SELECTED.split(",")}


def test_two_runs_at_once_on_one_file_fetch_together_and_both_land_intact(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    # Two Dagster instances, so nothing in Dagster keeps the runs apart: they share one DuckDB
    # file and one pipeline name per vendor, and dagster-dlt wipes a pipeline's folder before
    # each run (a shared one broke the other run's extract).
    env_a = {**os.environ, "DAGSTER_HOME": str(new_home(tmp_path, "home_a"))}
    env_b = {**os.environ, "DAGSTER_HOME": str(new_home(tmp_path, "home_b"))}
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    # No answer until two requests are waiting at once: only runs that fetch at the same time
    # get past it in time (one that waited for the other's load would sit out the 60 s).
    fake_api.faults.meet_at_once = 2
    run_a = start_cli(env_a, log_a, SELECTED)
    run_b = start_cli(env_b, log_b, SELECTED)
    try:
        assert run_a.wait(timeout=180) == 0, log_a.read_text()[-3000:]
        assert run_b.wait(timeout=180) == 0, log_b.read_text()[-3000:]
    finally:
        for run in (run_a, run_b):
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
    # Fetching never waits for the other run's load: the server answered both at once.
    assert most_at_once(fake_api) >= 2
    assert "RUN_SUCCESS" in log_a.read_text() and "RUN_SUCCESS" in log_b.read_text()
    expected = {t: n for t, n in expected_counts(fake_api).items() if t in SELECTED_TABLES}
    assert {t: count(duckdb_path, t) for t in expected} == expected
    assert fake_api.counts[PARTICIPANTS] == 2  # both runs synced, neither was refused
    with duckdb.connect(str(duckdb_path)) as con:  # opens read-write, replays any WAL
        con.execute("CHECKPOINT")
        for t in (t for t in TABLES if f"{t.vendor}.{t.name}" in SELECTED_TABLES):
            keys = ", ".join(t.primary_key)
            duplicates = (
                f"SELECT {keys} FROM {t.vendor}.{t.name} GROUP BY {keys} HAVING count(*) > 1"
            )
            assert con.execute(duplicates).fetchall() == [], t.name


HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


def test_a_warehouse_busy_past_the_lock_timeout_is_refused_clearly(
    project_env: dict[str, str],
    fake_api: FakeApi,
    duckdb_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTSYNC_LOCK_TIMEOUT_SECONDS", "0.5")
    path = duckdb_path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, f"{path}.lock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout and holder.stdout.readline().strip() == "locked"
        result = materialize("eventee/partners")
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    assert one_line(failure_messages(result)) == (
        f"{path}: another run is still loading into it after 0.5s (EVENTSYNC_LOCK_TIMEOUT_SECONDS)"
    )
    assert sum(fake_api.counts.values()) == 0


# -- the report -----------------------------------------------------------------------------


def test_the_reliability_doc_names_every_test_and_only_real_ones() -> None:
    """docs/reliability.md stays true: every test it names exists (in the module it names, else
    in a reliability module), and every test of the reliability modules is named."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    here = Path(__file__).parent

    @functools.cache
    def tests_in(module: str) -> frozenset[str]:
        return frozenset(re.findall(r"^def (test_\w+)", (here / module).read_text(), re.MULTILINE))

    def defined(*modules: str) -> set[str]:
        return set().union(*(tests_in(m) for m in modules))

    reliability = (
        "test_reliability.py",
        "test_security.py",
        "test_run_model.py",
        "test_rate_limit.py",
        "test_failures.py",
    )
    named = re.findall(r"`(?:([a-z_]+)::)?(test_\w+)(?:\[[^\]]*\])?`", doc)
    missing = [
        f"{module}::{name}" if module else name
        for module, name in named
        if name not in defined(*([f"test_{module}.py"] if module else reliability))
    ]
    assert missing == []
    assert defined(*reliability) - {name for _, name in named} == set()
