"""Several Luma calendars and Eventee events in one deployment, each with its own key."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from eventsync_dagster.accounts import AccountsFileError, load_accounts
from eventsync_dagster.automation import ACCOUNT_TAG
from eventsync_dagster.definitions import defs
from eventsync_dagster_tests.conftest import (
    check_results,
    count,
    execute,
    failure_messages,
    materializations,
    materialize,
    rows,
    run_checks,
)
from eventsync_dev.fake_api import Dataset, FakeApi

ACCOUNTS = """
[[luma]]
name = "default"

[[luma]]
name = "berlin"
credential_variable = "LUMA_API_KEY_BERLIN"
base_url = "{berlin_luma}"

[[eventee]]
name = "default"

[[eventee]]
name = "summit"
credential_variable = "EVENTEE_API_TOKEN_SUMMIT"
base_url = "{summit_eventee}"
"""


@pytest.fixture
def second_api() -> Iterator[FakeApi]:
    """Another calendar and event with the same ids as the first (same seed), other keys."""
    dataset = Dataset(events=12, guests_per_event=4, participants=6)
    with FakeApi(
        dataset=dataset, luma_api_key="berlin-key", eventee_api_token="summit-token"
    ) as api:
        yield api


@pytest.fixture
def two_accounts(
    project_env: dict[str, str],
    second_api: FakeApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(
        ACCOUNTS.format(
            berlin_luma=second_api.luma_base_url, summit_eventee=second_api.eventee_base_url
        )
    )
    monkeypatch.setenv("EVENTSYNC_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("LUMA_API_KEY_BERLIN", "berlin-key")
    monkeypatch.setenv("EVENTEE_API_TOKEN_SUMMIT", "summit-token")
    return path


def test_accounts_file_names_variables_not_keys(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('[[luma]]\nname = "berlin"\ncredential_variable = "LUMA_API_KEY_BERLIN"\n')
    (berlin,) = load_accounts("luma", path)
    assert (berlin.name, berlin.credential_variable) == ("berlin", "LUMA_API_KEY_BERLIN")
    assert berlin.dlt_secret_key == "sources.luma.berlin.api_key"
    (default,) = load_accounts("eventee", path)  # none listed: the default account
    assert (default.name, default.credential_variable) == ("default", "EVENTEE_API_TOKEN")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[luma]]\nname = "Berlin!"\ncredential_variable = "K"\n', "lowercase letters"),
        ('[[luma]]\nname = "berlin"\n', "needs credential_variable"),
        ('[[luma]]\nname = "berlin"\ncredential_variable = "K"\napi_key = "x"\n', "unknown keys"),
        ('[[luma]]\nname = "a"\ncredential_variable = "K"\n' * 2, "names repeat"),
        ("[[luma]\n", "not valid TOML"),
    ],
)
def test_a_wrong_accounts_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(AccountsFileError, match=message):
        load_accounts("luma", path)


def test_each_account_lands_in_the_same_tables_with_keys_unique_across_accounts(
    two_accounts: Path, fake_api: FakeApi, second_api: FakeApi, duckdb_path: Path
) -> None:
    result = materialize()
    assert result.success, failure_messages(result)
    events = len(fake_api.dataset.events)
    assert rows(duckdb_path, "SELECT account, count(*) FROM luma.events GROUP BY 1 ORDER BY 1") == [
        ("berlin", events),
        ("default", events),
    ]
    # Same ids in both accounts (same seed): still two rows each, told apart by `account`.
    assert count(duckdb_path, "luma.event_guests") == 2 * 12 * 4
    assert count(duckdb_path, "eventee.participants") == 2 * 6
    assert rows(duckdb_path, "SELECT count(DISTINCT email) FROM eventee.participants")[0][0] == 6
    assert [k for k, c in check_results(result).items() if not c.passed] == []
    guests = materializations(result)["luma/event_guests"]
    assert guests["rows_loaded_by_account"] == {"default": 48, "berlin": 48}
    assert second_api.counts["/v1/event/get-guests"] == 12


def test_one_account_failing_does_not_stop_the_others(
    two_accounts: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMA_API_KEY_BERLIN", "revoked")
    result = materialize("luma/events", "luma/event_guests")
    assert not result.success
    assert failure_messages(result) == ["berlin: LUMA_API_KEY_BERLIN was rejected by Luma (401)"]
    # Berlin fails in the events' round; the default calendar goes on to its guests' round.
    for name in ("events", "event_guests"):
        assert rows(duckdb_path, f"SELECT DISTINCT account FROM luma.{name}") == [("default",)]
    loaded = materializations(result)
    assert loaded["luma/events"]["rows_loaded_by_account"] == {"default": 12}
    assert loaded["luma/event_guests"]["rows_loaded_by_account"] == {"default": 48}


def test_accounts_failing_in_different_rounds_are_each_named(
    two_accounts: Path, fake_api: FakeApi, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Berlin fails on its events; the default calendar only once it reads its guests.
    monkeypatch.setenv("LUMA_API_KEY_BERLIN", "revoked")
    fake_api.faults.status_burst, fake_api.faults.burst_status = 1, 401
    fake_api.faults.burst_paths = ("/v1/event/get-guests",)
    result = materialize("luma/events", "luma/event_guests")
    assert failure_messages(result) == [
        "berlin: LUMA_API_KEY_BERLIN was rejected by Luma (401); "
        "default: LUMA_API_KEY was rejected by Luma (401)"
    ]
    assert set(materializations(result)) == {"luma/events"}
    assert rows(duckdb_path, "SELECT DISTINCT account FROM luma.events") == [("default",)]


def test_a_run_for_one_account_reads_only_that_account(
    two_accounts: Path, fake_api: FakeApi, second_api: FakeApi, duckdb_path: Path
) -> None:
    job = defs.resolve_job_def("eventee_sync")
    result = job.execute_in_process(
        run_config={"resources": {"eventee": {"config": {"account": "summit"}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert sum(fake_api.counts.values()) == 0
    assert second_api.counts["/public/v1/content"] == 1
    assert rows(duckdb_path, "SELECT DISTINCT account FROM eventee.halls") == [("summit",)]


def test_schedules_and_sensors_launch_one_run_per_account(
    two_accounts: Path, second_api: FakeApi
) -> None:
    schedule = defs.resolve_schedule_def("luma_daily")
    tick_time = datetime(2026, 11, 23, 6, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick_time) as context:
        requests = schedule.evaluate_tick(context).run_requests or []
    assert [r.run_config["resources"]["luma"]["config"]["account"] for r in requests] == [
        "default",
        "berlin",
    ]
    sensor = defs.resolve_sensor_def("luma_change_sensor")
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(
            cursor=cursor, instance=instance, resources=defs.resources, definitions=defs
        ) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)
    assert not first.run_requests and "luma[berlin]" in (first.skip_message or "")
    second_api.dataset.add_event()
    changed = tick(first.cursor)
    (request,) = changed.run_requests
    assert request.run_config == {"resources": {"luma": {"config": {"account": "berlin"}}}}
    assert request.tags[ACCOUNT_TAG] == "luma/berlin"
    assert not tick(changed.cursor).run_requests


def test_checks_say_which_account_holds_the_bad_rows(two_accounts: Path, duckdb_path: Path) -> None:
    assert materialize("eventee/partners").success
    execute(
        duckdb_path,
        "INSERT INTO eventee.partners SELECT * FROM eventee.partners "
        "WHERE account = 'summit' LIMIT 2",
    )
    check = check_results(run_checks("eventee/partners"))["eventee/partners:primary_key_unique"]
    assert not check.passed
    assert check.metadata["by_account"].value == {"summit": 2}
    assert all(key.startswith("summit, ") for key in check.metadata["sample_keys"].value)


def test_a_column_new_in_any_one_account_is_reported_as_drift(
    two_accounts: Path, second_api: FakeApi
) -> None:
    # Accounts load at once, so none is "the last one": the materialization records the columns
    # as they landed from every account, and Dagster's check compares it with the previous one.
    instance = dg.DagsterInstance.ephemeral()
    assert materialize("luma/events", instance=instance).success
    second_api.faults.extra_fields = {"venue_capacity": 120}  # only berlin's calendar
    drift = check_results(materialize("luma/events", instance=instance))
    assert not drift["luma/events:column_schema_change"].passed
    assert "venue_capacity" in (drift["luma/events:column_schema_change"].description or "")
