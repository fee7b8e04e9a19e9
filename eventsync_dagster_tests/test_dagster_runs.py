"""Real Dagster materializations of the project, in-process and through the `dagster` CLI."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from eventsync_dagster.tables import TABLES
from eventsync_dagster_tests.conftest import count, failure_messages, materializations, materialize
from eventsync_dev.fake_api import Dataset, FakeApi
from eventsync_dev.fake_api.data import LISTS, PER_EVENT

ALL_TABLES = tuple(f"{t.vendor}.{t.name}" for t in TABLES)


def expected_counts(api: FakeApi) -> dict[str, int]:
    """What the fake serves of every table (an organisation's calendars only to its key)."""
    data = api.dataset
    events = [e["api_id"] for e in data.events]
    served = {
        "events": len(events),
        "event_guests": sum(len(data.guests(e)) for e in events),
        **{name: sum(len(data.per_event(name, e)) for e in events) for name in PER_EVENT},
        **{name: len(getattr(data, name)) for name in LISTS},
        **{name: len(rows) for name, rows in data.content.items()},
    }
    served["calendars"] *= data.organization
    return {table: served[table.split(".")[1]] for table in ALL_TABLES}


def test_full_run_in_process_loads_every_table_with_metadata(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.dataset.organization = True  # its calendars too
    result = materialize()
    assert result.success, failure_messages(result)
    expected = expected_counts(fake_api)
    assert {t: count(duckdb_path, t) for t in ALL_TABLES} == expected
    metadata = materializations(result)
    assert set(metadata) == {t.replace(".", "/") for t in ALL_TABLES}
    for table, n in expected.items():
        assert metadata[table.replace(".", "/")]["dagster/row_count"] == n
        assert metadata[table.replace(".", "/")]["rows_loaded"] == n
    preview = metadata["luma/event_guests"]["preview"]
    guests = sorted(
        (e["api_id"], g["api_id"], g["email"])
        for e in fake_api.dataset.events
        for g in fake_api.dataset.guests(e["api_id"])
    )
    assert all(f"| {event} | {guest} |" in preview for event, guest, _ in guests[:5])
    assert guests[5][1] not in preview  # five rows
    assert not any(email in preview for _, _, email in guests)  # no personal data
    # Eventee's seven content tables came from one /content request.
    assert fake_api.counts["/public/v1/content"] == 1


def test_repeated_full_runs_converge_and_never_collide(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.dataset.organization = True  # every table has rows
    expected = expected_counts(fake_api)
    for _ in range(3):
        result = materialize()
        assert result.success, failure_messages(result)
        assert {t: count(duckdb_path, t) for t in ALL_TABLES} == expected


def test_selecting_one_asset_loads_only_that_table(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    result = materialize("eventee/partners")
    assert result.success, failure_messages(result)
    assert set(materializations(result)) == {"eventee/partners"}
    assert dict(fake_api.counts) == {"/public/v1/partners": 1}
    assert count(duckdb_path, "eventee.partners") == len(fake_api.dataset.partners)


def test_rejected_key_fails_in_one_line_without_retrying_or_printing_it(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch
) -> None:
    monkeypatch.setenv("LUMA_API_KEY", "wrong-key-7f3a")
    result = materialize("luma/events")
    assert not result.success
    assert failure_messages(result) == ["LUMA_API_KEY was rejected by Luma (401)"]
    assert fake_api.counts["/v1/calendar/list-events"] == 1  # no retry of a 401
    assert "wrong-key-7f3a" not in str(list(result.all_events))


def test_missing_key_names_the_variable_before_any_request(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch
) -> None:
    monkeypatch.delenv("EVENTEE_API_TOKEN")
    result = materialize("eventee/partners")
    assert not result.success
    (message,) = failure_messages(result)
    assert message.startswith("EVENTEE_API_TOKEN is not set")
    assert sum(fake_api.counts.values()) == 0


def test_throttling_and_server_errors_are_retried_and_the_run_succeeds(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.faults.rate_limit_429 = 2
    fake_api.faults.retry_after = 1
    result = materialize("luma/events")
    assert result.success, failure_messages(result)
    assert fake_api.statuses[("/v1/calendar/list-events", 429)] == 2
    meta = materializations(result)["luma/events"]
    assert meta["http_429s"] == 2 and meta["http_wait_seconds"] >= 2

    fake_api.faults.status_burst = 3
    fake_api.faults.burst_status = 503
    result = materialize("eventee/participants")
    assert result.success, failure_messages(result)
    assert fake_api.statuses[("/public/v1/participants", 503)] == 3
    assert count(duckdb_path, "eventee.participants") == len(fake_api.dataset.participants)


def test_demo_uses_the_fake_api_prints_a_short_summary_and_logs_the_run_to_a_file(
    project_env: dict[str, str], duckdb_path: Path, tmp_path: Path
) -> None:
    """`make demo`: every table through the `dagster` CLI, from the fake API even in a checkout
    whose `.env` holds real keys and hosts. On the console, in at most 30 lines: a line per load
    step, the checks, rows per table and what to do next; Dagster's whole log in the file it
    names."""
    (tmp_path / ".env").write_text("LUMA_API_KEY=real-key\nLUMA_BASE_URL=http://127.0.0.1:9\n")
    command = [
        sys.executable, "-m", "eventsync_dev.demo",
        "--events", "3", "--guests-per-event", "2", "--participants", "4",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with FakeApi(dataset=Dataset(events=3, guests_per_event=2, participants=4)) as same_data:
        expected = expected_counts(same_data)
    rows = done.stdout.split("\ntable")[1].split("\n\n")[0]
    cells = [line.split() for line in rows.splitlines()[1:]]
    printed = {table: n for line in cells for table, n in zip(line[::2], line[1::2], strict=True)}
    assert {table: int(n) for table, n in printed.items()} == expected

    console = done.stdout.splitlines() + done.stderr.splitlines()
    assert len(console) <= 30, done.stdout + done.stderr
    assert not [line for line in console if "DEBUG" in line or "Warning" in line]
    for step, tables in (("eventee", 12), ("luma", 9)):
        assert any(line.split()[:3] == [step, str(tables), "table" + "s" * (tables > 1)]
                   for line in console), step  # fmt: skip
    checks = 3 * len(TABLES)
    assert f"  checks             {checks} of {checks} passed" in console
    assert any(line.strip().startswith("make dev") for line in console)
    here = duckdb_path.relative_to(tmp_path)  # shown from where the demo started
    assert f"duckdb -readonly {here.with_name('eventsync.read.duckdb')}" in done.stdout
    assert "cp .env.example .env" in done.stdout
    assert f"its whole log: {here.with_name('demo.log')}" in done.stdout
    log = (duckdb_path.parent / "demo.log").read_text()
    assert all(f'Finished execution of step "{step}"' in log for step in ("eventee", "luma"))
    assert " - RUN_SUCCESS - " in log and " - DEBUG - " in log


def test_every_step_says_first_where_it_loads_from_and_to_and_never_a_key(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(instance=instance)
    assert result.success, failure_messages(result)
    by_step: dict[str, list[str]] = {}
    for entry in instance.all_logs(result.run_id):
        if entry.step_key and not entry.is_dagster_event:
            by_step.setdefault(entry.step_key, []).append(entry.user_message)
    firsts = {step: messages[0] for step, messages in by_step.items() if "checks" not in step}
    eventee = [t.split(".")[1] for t in ALL_TABLES if t.startswith("eventee.")]
    source = f"default (LUMA_API_KEY) at {fake_api.luma_base_url}"
    luma_tables = sorted(t.name for t in TABLES if t.vendor == "luma")
    assert firsts == {
        "luma": (
            f"loading {', '.join(luma_tables)} into duckdb ({duckdb_path}), dataset luma, "
            f"from {source}"
        ),
        "eventee": (
            f"loading {', '.join(sorted(eventee))} into duckdb ({duckdb_path}), dataset eventee, "
            f"from default (EVENTEE_API_TOKEN) at {fake_api.eventee_base_url}"
        ),
    }
    said = [m for messages in by_step.values() for m in messages if m.startswith("loading ")]
    assert len(said) == 2  # once per step
    keys = (fake_api.luma_api_key, fake_api.eventee_api_token)
    assert not [m for m in said if any(key in m for key in keys)]
