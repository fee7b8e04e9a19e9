"""The local instance's event log (instance_storage.py): Dagster's SQLite files, the index written
through a connection kept open, read by Dagster's own class, watched live as the webserver does."""

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from eventsync_dagster.instance_storage import PooledSqliteEventLogStorage
from eventsync_dagster_tests.conftest import materialize


@pytest.fixture
def sqlite_connects() -> Iterator[list[str]]:
    """The file of every SQLite connection any engine in this process opens during the test."""
    opened: list[str] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        opened.append(dbapi_connection.execute("PRAGMA database_list").fetchone()[2])

    event.listen(Engine, "connect", on_connect)
    yield opened
    event.remove(Engine, "connect", on_connect)


def log_entry(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
    )


def test_a_run_keeps_its_index_connection_and_dagsters_own_class_reads_every_event(
    project_env: dict[str, str], sqlite_connects: list[str]
) -> None:
    runs_dir = Path(project_env["DAGSTER_HOME"]) / "history" / "runs"
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = materialize(instance=instance)
        assert result.success
        index_connects = sqlite_connects.count(str(runs_dir / "index.db"))
        run_connects = sqlite_connects.count(str(runs_dir / f"{result.run_id}.db"))
        written = instance.all_logs(result.run_id)
        checks = [e for e in written if e.dagster_event_type == "ASSET_CHECK_EVALUATION"]
        assert len(written) > 200 and len(checks) > 60

        # Dagster's own class, on the same files, while this instance's connection is open.
        dagsters = SqliteEventLogStorage(str(runs_dir))
        assert [e.dagster_event_type for e in dagsters.get_logs_for_run(result.run_id)] == [
            e.dagster_event_type for e in written
        ]
        check = checks[-1].get_dagster_event().asset_check_evaluation_data.asset_check_key
        [execution] = dagsters.get_asset_check_execution_history(check, limit=1)
        assert execution.run_id == result.run_id and execution.status.value == "SUCCEEDED"

    # Dagster's class opens the index two or three times per asset or check event (~645 here);
    # the run's file keeps Dagster's connection per write.
    assert index_connects <= 20, index_connects  # 7 here, creating the index included
    assert run_connects >= len(written)


def test_a_watcher_in_another_storage_sees_each_event_of_a_run_live(tmp_path: Path) -> None:
    """The webserver streams a run's logs by watching the run's file, which only a checkpoint
    modifies: the one each write's closing connection makes (a run file kept open stopped it)."""
    writer = PooledSqliteEventLogStorage(str(tmp_path))
    watcher = PooledSqliteEventLogStorage(str(tmp_path))
    seen: list[str] = []
    all_seen = threading.Event()

    def on_event(entry: dg.EventLogEntry, cursor: str) -> None:
        seen.append(entry.user_message)
        if len(seen) == 5:
            all_seen.set()

    try:
        writer.store_event(log_entry("run-1", "m0"))
        watcher.watch("run-1", None, on_event)  # watching once it returns (inotify)
        for i in range(1, 5):
            writer.store_event(log_entry("run-1", f"m{i}"))
        assert all_seen.wait(10), seen
        assert seen == ["m0", "m1", "m2", "m3", "m4"]
    finally:
        watcher.dispose()
        writer.dispose()


def test_after_a_wipe_new_events_land_where_every_reader_finds_them(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(log_entry("run-1", "before"))
    storage.wipe()
    storage.store_event(log_entry("run-1", "after"))
    dagsters = SqliteEventLogStorage(str(tmp_path / "history" / "runs"))
    for reader in (storage, dagsters):
        assert [e.user_message for e in reader.get_logs_for_run("run-1")] == ["after"]
    storage.dispose()


def test_a_table_found_missing_is_looked_for_again(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    assert not storage.has_table("added_by_a_migration")
    with storage.index_connection() as conn:
        conn.execute(sa.text("CREATE TABLE added_by_a_migration (id INTEGER)"))
    assert storage.has_table("added_by_a_migration")
    storage.dispose()


def test_the_index_stays_open_between_writes_until_dispose(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    index = str(tmp_path / "history" / "runs" / "index.db")
    with storage.index_connection() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert index in open_files()
    storage.dispose()
    assert index not in open_files()


def open_files() -> set[str]:
    """The files this process holds open."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed since listed
            continue
    return paths
