"""The local Dagster instance's event log: Dagster's SQLite storage, its index kept open.

Dagster's `SqliteEventLogStorage` keeps each run's events in a file of its own plus a copy of
the asset and check events in an index file, and makes a new engine and opens, commits and
closes a connection for every read and write. A check result takes five: two to its run's file
(the step output, the evaluation) and three to the index (the evaluation, the check's execution
row, and one asking whether the checks table exists); a small calendar's run ~900 in all.
Closing the last connection to a WAL database checkpoints it with an fsync: ~4 ms a write on
this machine against ~0.8 ms on an open connection, for the same commit and the same
durability (`synchronous` stays FULL).

So this class keeps one pooled connection to the index, and remembers which tables exist. The
run files keep Dagster's connection per write: the webserver streams a run's live logs by
watching its file for changes, which a checkpoint on close makes, and `wipe` deletes them.
Same files, schema and locking as Dagster's class, readable by every other process. Instances on
PostgreSQL (deploy/dagster.yaml) pool their connections already and do not use it.

Overrides Dagster's private `_connect`, with `dagster` pinned in constraints.txt; the tests run
every Dagster process of the project (CLI, webserver, daemon) on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log under `<dagster_home>/history/runs`, its default
    place, with the index's connection kept open."""

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Set before Dagster's __init__, which writes to a new index through `_connect`.
        self._index_engine: Engine | None = None
        self._tables: set[str] = set()
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data)

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        if shard != INDEX_SHARD_NAME:
            with super()._connect(shard) as conn:
                yield conn
            return
        with self._db_lock:  # as Dagster's: one connection in use at a time per process
            if self._index_engine is None:
                self._index_engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=QueuePool,
                    pool_size=1,
                    max_overflow=-1,  # Dagster's schema check opens a second connection
                    # Used by one thread at a time (the lock above), not always the same one.
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                        "check_same_thread": False,
                    },
                )
            if shard not in self._initialized_dbs:
                self._initdb(self._index_engine)
                self._initialized_dbs.add(shard)
            with self._index_engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before every check result and tagged materialization, on a new
        connection each time. Only a yes is kept: tables are added by migrations, never
        dropped. Takes no lock: Dagster asks from inside an open index connection."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def dispose(self) -> None:
        with self._db_lock:
            if self._index_engine is not None:
                self._index_engine.dispose()
                self._index_engine = None
        super().dispose()
