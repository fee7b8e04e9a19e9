"""The local instance's event log (instance_storage.py): Dagster's SQLite files, written through
connections kept open, read by Dagster's own storage class as they are."""

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from eventsync_dagster.instance_storage import OPEN_DATABASES, PooledSqliteEventLogStorage
from eventsync_dagster_tests.conftest import materialize


@pytest.fixture
def sqlite_connects() -> Iterator[list[str]]:
    """Every SQLite connection any engine in this process opens while the test runs."""
    opened: list[str] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        opened.append(dbapi_connection.execute("PRAGMA database_list").fetchone()[2])

    event.listen(Engine, "connect", on_connect)
    yield opened
    event.remove(Engine, "connect", on_connect)


def test_a_run_writes_its_events_through_a_few_connections_and_dagsters_class_reads_them(
    project_env: dict[str, str], sqlite_connects: list[str]
) -> None:
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = materialize(instance=instance)
        assert result.success
        written = instance.all_logs(result.run_id)
        checks = [e for e in written if e.dagster_event_type == "ASSET_CHECK_EVALUATION"]
        assert len(written) > 200 and len(checks) > 60

        # Dagster's own class, in the same files, while this instance's connections are open.
        runs_dir = Path(project_env["DAGSTER_HOME"]) / "history" / "runs"
        dagsters = SqliteEventLogStorage(str(runs_dir))
        assert [e.dagster_event_type for e in dagsters.get_logs_for_run(result.run_id)] == [
            e.dagster_event_type for e in written
        ]
        check = checks[-1].get_dagster_event().asset_check_evaluation_data.asset_check_key
        [execution] = dagsters.get_asset_check_execution_history(check, limit=1)
        assert execution.run_id == result.run_id and execution.status.value == "SUCCEEDED"

    event_log_connects = [p for p in sqlite_connects if os.path.dirname(p) == str(runs_dir)]
    # Dagster's class opens one (or two) per write: here a handful per database file.
    assert len(event_log_connects) < len(written) / 10, len(event_log_connects)


def test_at_most_eight_databases_stay_open_and_every_event_is_kept(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    run_ids = [f"run-{i}" for i in range(OPEN_DATABASES + 4)]
    for run_id in run_ids:
        storage.store_event(
            dg.EventLogEntry(
                error_info=None,
                level=logging.INFO,
                user_message=f"hello from {run_id}",
                run_id=run_id,
                timestamp=time.time(),
            )
        )

    runs_dir = str(tmp_path / "history" / "runs")
    assert len(open_files(runs_dir, ".db")) == OPEN_DATABASES
    for run_id in run_ids:  # the ones closed are opened again
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == [
            f"hello from {run_id}"
        ]
    storage.dispose()
    assert open_files(runs_dir, ".db") == set()


def open_files(folder: str, suffix: str) -> set[str]:
    """The files under `folder` ending in `suffix` this process holds open."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since listed
            continue
        if path.startswith(folder) and path.endswith(suffix):
            paths.add(path)
    return paths
