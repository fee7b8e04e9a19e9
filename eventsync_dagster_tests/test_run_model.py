"""Runs that overlap: private dlt folders, per-account state, parallel accounts, readers of the
DuckDB file, and per-account runs at one moment on PostgreSQL (warehouse.py's run model)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventsync_dagster.automation import account_run_config
from eventsync_dagster.luma.source import ended_before
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import (
    count,
    failure_messages,
    materialize,
    most_at_once,
    warehouse_sql,
)
from eventsync_dagster_tests.test_reliability import CLI, new_home, start_cli, wait_for
from eventsync_dev.fake_api import Dataset, FakeApi

CALENDARS = ("default", "berlin", "paris")
EVENTS, GUESTS = 12, 4
LUMA = "luma/events,luma/event_guests"


@pytest.fixture
def calendars(project_env: dict[str, str], tmp_path: Path, monkeypatch) -> Iterator[list[FakeApi]]:
    """Three Luma calendars, each its own fake server and key, in one accounts file."""
    apis = [
        FakeApi(dataset=Dataset(events=EVENTS, guests_per_event=GUESTS), luma_api_key=f"{n}-key")
        for n in CALENDARS
    ]
    entries = []
    for name, api in zip(CALENDARS, apis, strict=True):
        api.start()
        variable = f"LUMA_KEY_{name.upper()}"
        monkeypatch.setenv(variable, api.luma_api_key)
        entries.append(
            f'[[luma]]\nname = "{name}"\ncredential_variable = "{variable}"\n'
            f'base_url = "{api.luma_base_url}"\n'
        )
    path = tmp_path / "accounts.toml"
    path.write_text("\n".join(entries))
    monkeypatch.setenv("EVENTSYNC_ACCOUNTS_FILE", str(path))
    try:
        yield apis
    finally:
        for api in apis:
            api.stop()


def test_every_pipeline_works_in_a_folder_of_its_own_removed_afterwards(tmp_path: Path) -> None:
    warehouse = Warehouse(duckdb_path=str(tmp_path / "w.duckdb"))
    with warehouse.pipeline("luma") as one, warehouse.pipeline("luma") as other:
        folders = Path(one.pipelines_dir), Path(other.pipelines_dir)
        assert folders[0] != folders[1] and all(f.is_dir() for f in folders)
        assert one.pipeline_name == other.pipeline_name == "eventsync_luma"
    assert not any(f.exists() for f in folders)
    with warehouse.pipeline("luma", "berlin") as berlin:
        assert berlin.pipeline_name == "eventsync_luma_berlin"  # its own dlt state


def test_the_accounts_of_one_run_are_read_at_the_same_time(
    calendars: list[FakeApi], duckdb_path: Path
) -> None:
    for api in calendars:
        api.faults.slow_seconds = 0.05  # a round trip worth overlapping
    result = materialize("luma/events", "luma/event_guests")
    assert result.success, failure_messages(result)
    # One account's requests go one after another; only accounts read in parallel overlap.
    assert most_at_once(*calendars) >= 2
    assert count(duckdb_path, "luma.events") == EVENTS * len(CALENDARS)
    assert count(duckdb_path, "luma.event_guests") == EVENTS * GUESTS * len(CALENDARS)


def launch_per_account_runs(tmp_path: Path, vendor: str, accounts: tuple[str, ...]) -> None:
    """What a schedule tick does: one run per account, all at once (here: one process each)."""
    runs = []
    for name in accounts:
        log = tmp_path / f"{name}.log"
        config = json.dumps(account_run_config(vendor, name))
        env = {**os.environ, "DAGSTER_HOME": str(new_home(tmp_path, f"home_{name}"))}
        with open(log, "wb") as out:
            runs.append(
                (
                    subprocess.Popen(
                        [*CLI, LUMA, "--config-json", config],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
    for run, log in runs:
        assert run.wait(timeout=240) == 0, log.read_text()[-3000:]


def test_each_account_keeps_its_own_state_when_their_runs_overlap(
    calendars: list[FakeApi], duckdb_path: Path, tmp_path: Path
) -> None:
    launch_per_account_runs(tmp_path, "luma", CALENDARS)
    states = warehouse_sql(
        "luma", "SELECT DISTINCT pipeline_name FROM {dataset}._dlt_pipeline_state ORDER BY 1"
    )
    assert [row[0] for row in states] == [
        "eventsync_luma",
        "eventsync_luma_berlin",
        "eventsync_luma_paris",
    ]
    cutoff = datetime.now(UTC) - timedelta(days=30)  # the guest refresh window
    settled = {
        api.luma_api_key: sum(ended_before(e, cutoff) for e in api.dataset.events)
        for api in calendars
    }
    assert 0 < min(settled.values()) < EVENTS
    for api in calendars:
        api.reset_counts()
    result = materialize("luma/events", "luma/event_guests")  # every account in one run
    assert result.success, failure_messages(result)
    for api in calendars:  # no account lost the events the others settled at the same time
        guests_read = api.counts["/v1/event/get-guests"]
        assert guests_read == EVENTS - settled[api.luma_api_key], api.luma_api_key
    assert count(duckdb_path, "luma.event_guests") == EVENTS * GUESTS * len(CALENDARS)


READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_open(path: Path, seconds: float) -> subprocess.Popen[str]:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
    return reader


WAITING_FOR_READER = "another process has it open"


def cli_run(tmp_path: Path, select: str) -> tuple[int, str]:
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        done = subprocess.run([*CLI, select], stdout=out, stderr=subprocess.STDOUT, timeout=240)
    return done.returncode, log.read_text()


def test_a_reader_holding_the_file_makes_a_sync_wait_then_land(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    assert materialize("eventee/participants").success  # the file exists, as an analyst finds it
    reader = hold_open(duckdb_path, 120)
    log = tmp_path / "run.log"
    run = start_cli(os.environ.copy(), log, "eventee/participants,eventee/partners")
    try:
        wait_for(lambda: WAITING_FOR_READER in log.read_text(), "the sync to wait", {log: run})
    finally:
        reader.kill()  # the analyst closes the notebook
        reader.wait()
    assert run.wait(timeout=120) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert text.count(WAITING_FOR_READER) == 1  # said once, with what to do
    assert "query eventsync.read.duckdb instead" in text
    assert count(duckdb_path, "eventee.partners") == len(fake_api.dataset.partners)


def test_analysts_query_the_reader_copy_while_syncs_run(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    assert materialize("eventee/participants").success
    copy = duckdb_path.with_name("eventsync.read.duckdb")
    reader = hold_open(copy, 60)  # open through the whole sync: it must never be in the way
    try:
        returncode, log = cli_run(tmp_path, LUMA)
    finally:
        reader.kill()
        reader.wait()
    assert returncode == 0, log[-3000:]
    assert WAITING_FOR_READER not in log
    assert count(copy, "luma.events") == EVENTS  # a new connection sees the new load


def test_the_reader_copy_gets_the_first_rounds_rows_before_the_second_round_ends(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, monkeypatch
) -> None:
    """Each round refreshes the copy: at Luma's limit the per-event round takes most of a run,
    and the events are in analysts' hands meanwhile, even if that round then fails."""
    monkeypatch.setenv("EVENTSYNC_STEP_RETRIES", "0")
    monkeypatch.setenv("EVENTSYNC_REQUEST_MAX_ATTEMPTS", "2")
    faults = fake_api.faults
    faults.status_burst, faults.burst_status = 1000, 503
    faults.burst_paths = ("/v1/event/get-guests",)
    result = materialize(*LUMA.split(","))
    assert not result.success
    assert "503" in failure_messages(result)[0]
    copy = duckdb_path.with_name("eventsync.read.duckdb")
    assert count(copy, "luma.events") == EVENTS
    faults.status_burst = 0
    assert materialize(*LUMA.split(",")).success
    assert count(copy, "luma.event_guests") == EVENTS * GUESTS


def test_per_account_runs_at_one_moment_land_exactly_on_postgres(
    calendars: list[FakeApi], tmp_path: Path, postgres_database: str, monkeypatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_database)
    launch_per_account_runs(tmp_path, "luma", CALENDARS)
    counted = warehouse_sql(
        "luma", "SELECT account, count(*) FROM {dataset}.event_guests GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(row) for row in counted] == [(n, EVENTS * GUESTS) for n in sorted(CALENDARS)]
    events = warehouse_sql("luma", "SELECT count(*) FROM {dataset}.events")
    assert events[0][0] == EVENTS * len(CALENDARS)
