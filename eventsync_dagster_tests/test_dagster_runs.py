"""Real Dagster materializations of the project, in-process and through the `dagster` CLI."""

import subprocess
import sys
from pathlib import Path

from eventsync_dagster_tests.conftest import count, failure_messages, materializations, materialize
from eventsync_dev.fake_api import Dataset, FakeApi

ALL_TABLES = (
    "luma.events", "luma.event_guests", "eventee.halls", "eventee.days", "eventee.lectures",
    "eventee.speakers", "eventee.workshops", "eventee.pauses", "eventee.tracks",
    "eventee.partners", "eventee.participants",
)  # fmt: skip


def expected_counts(api: FakeApi) -> dict[str, int]:
    events = api.dataset.events
    return {
        "luma.events": len(events),
        "luma.event_guests": sum(len(api.dataset.guests(e["api_id"])) for e in events),
        **{f"eventee.{k}": len(v) for k, v in api.dataset.content.items()},
        "eventee.partners": len(api.dataset.partners),
        "eventee.participants": len(api.dataset.participants),
    }


def test_full_run_in_process_loads_every_table_with_metadata(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path
) -> None:
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


def test_demo_uses_the_fake_api_even_beside_a_real_dotenv(
    project_env: dict[str, str], tmp_path: Path
) -> None:
    """`make demo`: every table through the `dagster` CLI, from the fake API even in a checkout
    whose `.env` holds real keys and hosts."""
    (tmp_path / ".env").write_text("LUMA_API_KEY=real-key\nLUMA_BASE_URL=http://127.0.0.1:9\n")
    command = [
        sys.executable, "-m", "eventsync_dev.demo",
        "--events", "3", "--guests-per-event", "2", "--participants", "4",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr
    with FakeApi(dataset=Dataset(events=3, guests_per_event=2, participants=4)) as same_data:
        expected = expected_counts(same_data)
    printed = dict(line.split() for line in done.stdout.split("\ntable")[1].splitlines()[1:])
    assert {table: int(n) for table, n in printed.items()} == expected
