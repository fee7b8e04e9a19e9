"""The local Dagster instance's event log: Dagster's SQLite storage, keeping its connections open.

Dagster's `SqliteEventLogStorage` makes a new engine and opens, commits and closes a connection
for every write: a check result is three (its step output, then the evaluation in the run's
database and twice in the index), and a small calendar's run writes ~270 events. Closing the last
connection to a WAL database checkpoints it, with an fsync each time: ~4 ms a write on this
machine against ~0.8 ms on an open connection, the same commit and the same durability
(`synchronous` stays Dagster's FULL). So this class keeps one pooled engine per database file
for the few files in use, and is otherwise Dagster's class: same files, same schema, same
locking, readable by every other process. Instances on PostgreSQL (deploy/dagster.yaml) pool
their connections already and do not use it.

Overrides Dagster's private `_connect`, with `dagster` pinned in constraints.txt; the tests run
every Dagster process of the project (CLI, webserver, daemon) on it. Dagster also opens a new
connection to ask whether a table exists before every check result; the answer is kept.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

OPEN_DATABASES = 8
"""Database files kept open at once: the index and the runs being written or watched. A
webserver reading many runs' logs would otherwise hold a file open for each."""


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log under `<dagster_home>/history/runs`, its default
    place, with an open connection per database file in use."""

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
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
        with self._db_lock:  # as Dagster's: one connection in use at a time per process
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, the least recently used one closed beyond `OPEN_DATABASES`.

        Called under `_db_lock`, so no connection of an engine being closed is in use.
        """
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=-1,  # Dagster's schema check opens a second connection
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before every check result and tagged materialization, on a new
        connection each time; a table, once there, stays (migrations restart the processes)."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
