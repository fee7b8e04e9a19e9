"""The same end-to-end load and checks on every tested destination: DuckDB and PostgreSQL."""

from eventsync_dagster_tests.conftest import (
    check_results,
    failure_messages,
    materialize,
    run_checks,
    warehouse_sql,
)
from eventsync_dagster_tests.test_dagster_runs import ALL_TABLES, expected_counts
from eventsync_dev.fake_api import FakeApi


def test_full_load_and_checks(
    destination: str, project_env: dict[str, str], fake_api: FakeApi
) -> None:
    fake_api.dataset.organization = True  # every table has rows, its calendars too
    result = materialize()
    assert result.success, failure_messages(result)
    counts = {
        table: warehouse_sql(
            table.split(".")[0], f"SELECT count(*) FROM {{dataset}}.{table.split('.')[1]}"
        )[0][0]
        for table in ALL_TABLES
    }
    assert counts == expected_counts(fake_api)
    failed = [name for name, check in check_results(result).items() if not check.passed]
    assert failed == []
    # A second run merges: the same counts, still one row per key.
    assert materialize().success
    again = warehouse_sql("luma", "SELECT count(*), count(DISTINCT api_id) FROM {dataset}.events")
    assert tuple(again[0]) == (len(fake_api.dataset.events),) * 2


def test_duplicate_key_check_fails_on_the_destination(
    destination: str, project_env: dict[str, str]
) -> None:
    assert materialize("eventee/tracks").success
    warehouse_sql(
        "eventee", "UPDATE {dataset}.tracks SET id = (SELECT min(id) FROM {dataset}.tracks)"
    )
    check = check_results(run_checks("eventee/tracks"))["eventee/tracks:primary_key_unique"]
    assert not check.passed
    assert check.metadata["duplicate_keys"].value == 1
