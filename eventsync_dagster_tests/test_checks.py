"""The asset checks catch what they claim to: each one has a case where it fails."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from eventsync_dagster.fake_api import FakeApi
from eventsync_dagster.tables import TABLES
from eventsync_dagster_tests.conftest import (
    check_results,
    execute,
    failure_messages,
    materializations,
    materialize,
    run_checks,
)

CHECK_NAMES = ("primary_key_unique", "required_fields_present", "schema_drift", "freshness")


def test_clean_load_passes_every_check_in_the_same_run(project_env: dict[str, str]) -> None:
    result = materialize()
    assert result.success, failure_messages(result)
    checks = check_results(result)
    assert set(checks) == {
        f"{t.asset_key.to_user_string()}:{n}" for t in TABLES for n in CHECK_NAMES
    }
    assert [name for name, e in checks.items() if not e.passed] == []


def test_duplicate_keys_fail_the_key_check_with_sample_keys(
    project_env: dict[str, str], duckdb_path: Path
) -> None:
    assert materialize("eventee/lectures").success
    execute(duckdb_path, "INSERT INTO eventee.lectures SELECT * FROM eventee.lectures LIMIT 2")
    result = run_checks("eventee/lectures")
    check = check_results(result)["eventee/lectures:primary_key_unique"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["duplicate_keys"].value == 2
    assert len(check.metadata["sample_keys"].value) == 2
    assert check_results(result)["eventee/lectures:required_fields_present"].passed


def test_null_required_fields_fail_with_counts_per_field(
    project_env: dict[str, str], duckdb_path: Path
) -> None:
    assert materialize("luma/events", "luma/event_guests").success
    execute(
        duckdb_path,
        "ALTER TABLE luma.event_guests ALTER COLUMN event_api_id DROP NOT NULL",
        "UPDATE luma.event_guests SET event_api_id = NULL WHERE api_id IN "
        "(SELECT api_id FROM luma.event_guests ORDER BY api_id LIMIT 3)",
    )
    check = check_results(run_checks("luma/event_guests"))[
        "luma/event_guests:required_fields_present"
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["null_counts"].value == {"account": 0, "event_api_id": 3, "api_id": 0}
    assert len(check.metadata["sample_keys"].value) == 3
    samples = check.metadata["sample_keys"].value
    assert all(key.startswith("default, null, gst-") for key in samples)


def test_a_failed_blocking_check_on_events_stops_guests_in_the_same_run(
    project_env: dict[str, str], duckdb_path: Path, fake_api: FakeApi
) -> None:
    assert materialize("luma/events").success
    # A row no merge will touch: a null key that came in by hand.
    execute(
        duckdb_path,
        "ALTER TABLE luma.events ALTER COLUMN api_id DROP NOT NULL",
        "INSERT INTO luma.events (account, api_id, _dlt_load_id, _dlt_id) "
        "VALUES ('default', NULL, '1', 'x')",
    )
    fake_api.reset_counts()
    result = materialize("luma/events", "luma/event_guests")
    assert not result.success
    assert not check_results(result)["luma/events:required_fields_present"].passed
    assert set(materializations(result)) == {"luma/events"}  # guests never ran
    assert fake_api.counts["/v1/event/get-guests"] == 0


def test_new_upstream_field_warns_once_then_passes(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    assert materialize("eventee/partners").success
    fake_api.faults.extra_fields = {"loyalty_tier": "gold"}
    drift = check_results(materialize("eventee/partners"))["eventee/partners:schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["added_columns"].value == ["loyalty_tier"]
    again = check_results(materialize("eventee/partners"))["eventee/partners:schema_drift"]
    assert again.passed and again.metadata["added_columns"].value == []


def test_a_field_changing_type_is_reported_as_drift(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    fake_api.faults.extra_fields = {"score": 3}
    assert materialize("eventee/tracks").success
    fake_api.faults.extra_fields = {"score": "three"}
    drift = check_results(materialize("eventee/tracks"))["eventee/tracks:schema_drift"]
    assert not drift.passed
    assert drift.metadata["added_columns"].value == ["score__v_text"]


def test_an_old_load_makes_freshness_warn(
    project_env: dict[str, str], duckdb_path: Path, monkeypatch
) -> None:
    assert materialize("eventee/days").success
    assert check_results(run_checks("eventee/days"))["eventee/days:freshness"].passed
    execute(duckdb_path, "UPDATE eventee._dlt_loads SET inserted_at = now() - INTERVAL 30 HOUR")
    stale = check_results(run_checks("eventee/days"))["eventee/days:freshness"]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert 29.9 < stale.metadata["age_hours"].value < 30.1
    monkeypatch.setenv("EVENTSYNC_FRESHNESS_HOURS", "48")
    assert check_results(run_checks("eventee/days"))["eventee/days:freshness"].passed


def test_checks_run_alone_before_any_load(project_env: dict[str, str]) -> None:
    result = run_checks("eventee/halls")
    assert result.success
    checks = check_results(result)
    assert checks["eventee/halls:primary_key_unique"].passed
    assert not checks["eventee/halls:freshness"].passed


def test_checks_alone_through_the_cli(project_env: dict[str, str], duckdb_path: Path) -> None:
    assert materialize("eventee/partners").success
    execute(duckdb_path, "INSERT INTO eventee.partners SELECT * FROM eventee.partners LIMIT 1")
    command = [
        sys.executable, "-m", "dagster", "job", "execute",
        "-m", "eventsync_dagster.definitions", "-j", "warehouse_checks",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode != 0  # a blocking check failed
    assert "Asset check 'primary_key_unique' on 'eventee/partners' did not pass" in done.stderr
    assert "Asset check 'primary_key_unique' on 'eventee/halls' passed" in done.stderr


def test_a_sync_that_writes_no_new_rows_still_counts_as_fresh(
    project_env: dict[str, str], duckdb_path: Path
) -> None:
    # The rows are old (their load aged by hand), but this instance saw the table synced just
    # now: a sync of settled guests, say, writes nothing new and is still a sync.
    instance = dg.DagsterInstance.ephemeral()
    assert materialize("eventee/days", instance=instance).success
    execute(duckdb_path, "UPDATE eventee._dlt_loads SET inserted_at = now() - INTERVAL 30 HOUR")
    fresh = check_results(run_checks("eventee/days", instance=instance))["eventee/days:freshness"]
    assert fresh.passed
    assert 29.9 < _hours_ago(fresh.metadata["rows_last_loaded_at"].value) < 30.1
    stale = check_results(run_checks("eventee/days"))["eventee/days:freshness"]  # no record
    assert not stale.passed


def _hours_ago(iso: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds() / 3600
