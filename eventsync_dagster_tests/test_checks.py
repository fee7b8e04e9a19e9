"""The asset checks catch what they claim to: each one has a case where it fails."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from eventsync_dagster.definitions import defs
from eventsync_dagster.tables import TABLES
from eventsync_dagster_tests.conftest import (
    check_results,
    execute,
    failure_messages,
    materializations,
    materialize,
    run_checks,
)
from eventsync_dev.fake_api import FakeApi

DRIFT = "column_schema_change"
"""Dagster's own schema-drift check (`build_column_schema_change_checks`)."""
CHECK_NAMES = ("primary_key_unique", "required_fields_present", DRIFT)


def test_clean_load_passes_every_check_in_the_same_run(project_env: dict[str, str]) -> None:
    result = materialize()
    assert result.success, failure_messages(result)
    checks = check_results(result)
    assert set(checks) == {f"{f'{t.vendor}/{t.name}'}:{n}" for t in TABLES for n in CHECK_NAMES}
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
    # A row no sync will touch (an account no longer synced, so never marked deleted either):
    # a null key that came in by hand.
    execute(
        duckdb_path,
        "ALTER TABLE luma.events ALTER COLUMN api_id DROP NOT NULL",
        "INSERT INTO luma.events (account, api_id, _dlt_load_id, _dlt_id) "
        "VALUES ('retired', NULL, '1', 'x')",
    )
    fake_api.reset_counts()
    result = materialize("luma/events", "luma/event_guests")
    assert not result.success
    assert not check_results(result)["luma/events:required_fields_present"].passed
    assert set(materializations(result)) == {"luma/events"}  # guests never ran
    assert fake_api.counts["/v1/event/get-guests"] == 0
    assert failure_messages(result) == ["luma: a check failed, so event_guests were not read"]


def test_a_check_of_a_per_event_table_not_loaded_runs_after_the_guests_round(
    project_env: dict[str, str], duckdb_path: Path, fake_api: FakeApi
) -> None:
    """A per-event table's check selected without its table runs with the per-event round: it
    cannot stop the guests, as no check of theirs could stop the events."""
    assert materialize("luma/events", "luma/ticket_types").success
    execute(duckdb_path, "INSERT INTO luma.ticket_types SELECT * FROM luma.ticket_types LIMIT 1")
    selected = [dg.AssetKey.from_user_string(k) for k in ("luma/events", "luma/event_guests")]
    checks = {
        k
        for k in defs.resolve_asset_graph().asset_check_keys
        if k.asset_key in (*selected, dg.AssetKey(["luma", "ticket_types"]))
    }
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(selected), asset_check_selection=checks
    )
    fake_api.reset_counts()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not check_results(result)["luma/ticket_types:primary_key_unique"].passed
    assert set(materializations(result)) == {"luma/events", "luma/event_guests"}
    assert fake_api.counts["/v1/event/get-guests"] == len(fake_api.dataset.events)


def test_new_upstream_field_warns_once_then_passes(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    instance = dg.DagsterInstance.ephemeral()  # the check compares this asset's last two loads
    assert materialize("eventee/partners", instance=instance).success
    fake_api.faults.extra_fields = {"loyalty_tier": "gold"}
    result = materialize("eventee/partners", instance=instance)
    drift = check_results(result)[f"eventee/partners:{DRIFT}"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert "Added columns: loyalty_tier" in (drift.description or "")
    again = check_results(materialize("eventee/partners", instance=instance))
    assert again[f"eventee/partners:{DRIFT}"].passed


def test_a_field_changing_type_is_reported_as_drift(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    fake_api.faults.extra_fields = {"score": 3}
    assert materialize("eventee/tracks", instance=instance).success
    fake_api.faults.extra_fields = {"score": "three"}
    drift = check_results(materialize("eventee/tracks", instance=instance))
    assert not drift[f"eventee/tracks:{DRIFT}"].passed
    assert "score__v_text" in (drift[f"eventee/tracks:{DRIFT}"].description or "")


def test_every_table_is_expected_fresh_within_the_configured_window(
    project_env: dict[str, str],
) -> None:
    # Dagster's own freshness (evaluated by the daemon, shown in the UI), set once at the root.
    code = (
        "from eventsync_dagster.definitions import defs; "
        "print({str(s.freshness_policy.fail_window.to_timedelta()) "
        "for s in defs.resolve_all_asset_specs()})"
    )
    for hours, expected in (("26", "{'1 day, 2:00:00'}"), ("48", "{'2 days, 0:00:00'}")):
        env = {**os.environ, "EVENTSYNC_FRESHNESS_HOURS": hours}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == expected


def test_checks_run_alone_before_any_load(project_env: dict[str, str]) -> None:
    result = run_checks("eventee/halls")
    assert result.success
    checks = check_results(result)
    assert checks["eventee/halls:primary_key_unique"].passed
    assert checks["eventee/halls:primary_key_unique"].metadata["reason"].value == (
        "the table has not been loaded yet"
    )


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
