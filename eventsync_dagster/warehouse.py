"""Where tables land: a DuckDB file by default, any dlt destination by dlt's own config.

Plain Python (no Dagster), so the benchmark and tests use the very same pipelines.

The run model, for runs that overlap (schedules start one run per account at one tick, a sensor
fires while a backfill runs, an analyst has the file open):

- Every pipeline works in a folder of its own, removed afterwards. dlt keeps nothing there that
  the destination does not have: state and schema are restored from the warehouse before each
  extract, so no two processes ever share local mutable state (dagster-dlt wipes a pipeline's
  folder before each run, which broke a neighbour writing into a shared one).
- Each account has its own pipeline name, so its dlt state (the settled events) is its own row
  of `_dlt_pipeline_state`, and two accounts never overwrite each other's.
- Only what needs the warehouse holds it: restoring state, loading, and the reads around them.
  Fetching never waits for another run. DuckDB takes one writer per file, so an OS file lock
  serialises those moments across processes; PostgreSQL takes a session advisory lock per
  dataset, as dlt's loads of one dataset share its staging tables.
- A DuckDB file another process holds open (a notebook's read-only connection) is waited for,
  bounded by the lock timeout, instead of failing the load; analysts query the reader copy,
  refreshed after every load, which never blocks a sync.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dlt
import duckdb
from dlt.common.destination import TLoaderFileFormat
from dlt.common.destination.reference import Destination
from dlt.common.schema import Schema
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.sql_client import SqlClientBase
from dlt.extract.source import DltSource
from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from eventsync_dagster.deletions import Vanished
from eventsync_dagster.queries import existing_tables, query
from eventsync_dagster.settings import Settings
from eventsync_dagster.settings import load as load_settings
from eventsync_dagster.spec import ACCOUNT, DELETED_AT

DEFAULT_DUCKDB_PATH = "data/eventsync.duckdb"
DEFAULT_ACCOUNT = "default"
LOCK_TIMEOUT_SECONDS = 3600.0
DUCKDB_MEMORY_LIMIT = "256MB"
READER_WAIT_SECONDS = 0.5
"""How often a load retries a DuckDB file that another process holds open."""

T = TypeVar("T")
Log = Callable[[str], None]


class WarehouseBusy(RuntimeError):
    """The warehouse stayed busy past the lock timeout: transient, a later run gets through."""

    transient = True


def row_counts(sql: SqlClientBase[Any], tables: Iterable[str]) -> dict[str, int]:
    """Live rows per table: those the vendor still lists (deletions.py)."""
    live = f"{sql.escape_column_name(DELETED_AT)} IS NULL"
    tables = list(tables)
    present = existing_tables(sql, tables)
    counts = {t: 0 for t in tables if t not in present}
    for t in (t for t in tables if t in present):
        (count,) = query(
            sql, f"SELECT count(*) FROM {sql.make_qualified_table_name(t)} WHERE {live}"
        )[0]
        counts[t] = int(count)
    return counts


def loaded_by_account(
    sql: SqlClientBase[Any], table: str, load_ids: Sequence[str]
) -> dict[str, int]:
    """Rows these loads wrote into `table`, per account, counted in the warehouse itself: what
    dlt's normalize counts is not what lands on every destination (PostgreSQL's csv path
    reported 17,609 rows for 1,000 guests)."""
    if not load_ids:
        return {}
    account = sql.escape_column_name(ACCOUNT)
    marks = ", ".join(["%s"] * len(load_ids))
    rows = query(
        sql,
        f"SELECT {account}, count(*) FROM {sql.make_qualified_table_name(table)} "
        f"WHERE _dlt_load_id IN ({marks}) GROUP BY {account}",
        *load_ids,
    )
    return {str(name): int(n) for name, n in rows}


def pipeline_name(vendor: str, account: str = DEFAULT_ACCOUNT) -> str:
    """One dlt pipeline, and so one dlt state, per account (the default keeps its old name)."""
    return f"eventsync_{vendor}" if account == DEFAULT_ACCOUNT else f"eventsync_{vendor}_{account}"


def _held_by_another_process(error: BaseException) -> bool:
    """DuckDB refused the file because another process has it open (dlt wraps the error)."""
    seen: BaseException | None = error
    while seen is not None:
        if "Could not set lock on file" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True)
class Synced:
    """What one account's load wrote."""

    load_ids: list[str]
    schema: Schema | None
    """The vendor's dlt schema after the load: each table's columns as they landed."""
    vanished: dict[str, int] = field(default_factory=dict)
    """Rows per table found gone from a complete listing (marked or deleted)."""


@dataclass(frozen=True)
class Warehouse:
    destination: str = "duckdb"
    """A dlt destination name; anything but DuckDB takes its credentials from dlt's config."""
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    lock_timeout: float = LOCK_TIMEOUT_SECONDS
    reader_copy: bool = True
    """Refresh `<file>.read.duckdb` after every load, for analysts (DuckDB only)."""

    memory_limit: str = DUCKDB_MEMORY_LIMIT

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(
            destination=settings.destination,
            duckdb_path=str(settings.duckdb_path),
            lock_timeout=settings.lock_timeout_seconds,
            reader_copy=settings.reader_copy,
            memory_limit=settings.duckdb_memory_limit,
        )

    @classmethod
    def from_env(cls) -> Warehouse:
        """From the environment's settings, validated (a bad value raises `SettingsError`)."""
        return cls.from_settings(load_settings())

    @property
    def is_duckdb(self) -> bool:
        return self.destination == "duckdb"

    @property
    def path(self) -> Path:
        return Path(self.duckdb_path).resolve()

    @property
    def reader_path(self) -> Path:
        """The copy analysts open: `eventsync.duckdb` -> `eventsync.read.duckdb`."""
        return self.path.with_name(f"{self.path.stem}.read{self.path.suffix}")

    @property
    def _duckdb_config(self) -> dict[str, Any]:
        # DuckDB takes 80% of RAM by default and a merge of all guests grew with the volume
        # (584 MB at 200k rows, 1.3 GB at 800k); capped, it spills to disk instead.
        return {"memory_limit": self.memory_limit, "preserve_insertion_order": False}

    def dlt_destination(self) -> Destination[Any, Any] | str:
        if self.is_duckdb:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            credentials = DuckDbCredentials(str(self.path), global_config=self._duckdb_config)
            return dlt.destinations.duckdb(credentials)
        return self.destination

    @contextmanager
    def pipeline(self, vendor: str, account: str = DEFAULT_ACCOUNT) -> Iterator[dlt.Pipeline]:
        """The account's pipeline in a working folder of its own, removed afterwards.

        The dataset (schema) is named after the vendor, e.g. `luma.events`, for every account.
        """
        with tempfile.TemporaryDirectory(prefix="eventsync-dlt-") as folder:
            yield dlt.pipeline(
                pipeline_name=pipeline_name(vendor, account),
                destination=self.dlt_destination(),
                dataset_name=vendor,
                pipelines_dir=folder,
            )

    def sync(
        self,
        source: DltSource,
        account: str = DEFAULT_ACCOUNT,
        log: Log | None = None,
        vanished: Vanished | None = None,
    ) -> Synced:
        """One account's dlt run in the run model above: what dlt's `pipeline.run` does, with
        the warehouse held only to restore state and to load, never while fetching.

        dagster-dlt's `run` is one `pipeline.run` call, which would hold the lock over every
        request of a sync; hence the steps one by one here. `vanished` marks, in the same hold,
        what the source's complete listings no longer hold (deletions.py).
        """
        with self.pipeline(source.name, account) as pipeline:
            self.write(pipeline, lambda to: pipeline.sync_destination(destination=to), log)
            pipeline.extract(source, loader_file_format=self.loader_file_format)
            pipeline.normalize()
            load_ids: list[str] = []

            def load(to: Destination[Any, Any] | None) -> dict[str, int]:
                # Retried while a reader holds the file: a load already done loads nothing more.
                info = pipeline.load(destination=to)
                info.raise_on_failed_jobs()
                load_ids.extend(info.loads_ids)
                if vanished is None:
                    return {}
                with pipeline.sql_client() as sql:
                    return vanished.apply(sql, load_ids)

            gone = self.write(pipeline, load, log)
            return Synced(
                load_ids=load_ids,
                schema=pipeline.default_schema if pipeline.default_schema_name else None,
                vanished=gone,
            )

    @property
    def loader_file_format(self) -> TLoaderFileFormat | None:
        """DuckDB: parquet (the sources' Arrow tables go to the load as they are; dlt's default
        is ~5x slower). Elsewhere jsonl where the destination takes it, else csv (Postgres:
        about a quarter faster than its default), else the destination's default.
        """
        if self.is_duckdb:
            return "parquet"
        destination = Destination.from_reference(self.dlt_destination())
        if destination is None:
            return None
        supported = destination.capabilities().supported_loader_file_formats
        return next((f for f in ("jsonl", "csv") if f in supported), None)

    @property
    def loads_arrow(self) -> bool:
        """Whether the sources hand dlt Arrow tables (`arrow.py`): where dlt writes the load
        files from Arrow as they are (parquet, csv; DuckDB and Postgres are tested). A jsonl
        destination would get the JSON columns as text, so it gets records."""
        return self.loader_file_format in ("parquet", "csv")

    @contextmanager
    def hold(self, pipeline: dlt.Pipeline | None = None, log: Log | None = None) -> Iterator[None]:
        """Hold the warehouse against other writers for a short moment (a load, a state read).

        DuckDB: an OS file lock on `<file>.lock` (held across steps, runs and Dagster instances,
        released when the process dies, so a killed run never leaves it locked). PostgreSQL: a
        session advisory lock on the pipeline's dataset, released with its connection. Other
        destinations: nothing here (keep one run per vendor at a time with the run queue, see
        dagster.yaml).
        """
        deadline = time.monotonic() + self.lock_timeout
        if self.is_duckdb:
            with self._file_lock(deadline, log):
                yield
        elif pipeline is not None and pipeline.destination.destination_type.endswith("postgres"):
            with self._advisory_lock(pipeline, deadline, log):
                yield
        else:
            yield

    @contextmanager
    def _file_lock(self, deadline: float, log: Log | None) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        try:
            lock.acquire(timeout=0)
        except FileLockTimeout:
            if log:
                log(f"waiting for {self.path.name}: another run is loading into it")
            try:
                lock.acquire(timeout=max(0.0, deadline - time.monotonic()), poll_interval=0.2)
            except FileLockTimeout:
                raise self._busy("another run is still loading into it") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _advisory_lock(
        self, pipeline: dlt.Pipeline, deadline: float, log: Log | None
    ) -> Iterator[None]:
        digest = hashlib.sha256(f"eventsync:{pipeline.dataset_name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        with pipeline.sql_client() as sql:
            told = False
            while not query(sql, "SELECT pg_try_advisory_lock(%s)", key)[0][0]:
                if time.monotonic() > deadline:
                    raise self._busy(f"another run is still loading into {pipeline.dataset_name}")
                if log and not told:
                    log(f"waiting: another run is loading into the {pipeline.dataset_name} dataset")
                    told = True
                time.sleep(0.2)
            try:
                yield
            finally:
                query(sql, "SELECT pg_advisory_unlock(%s)", key)

    def _busy(self, why: str) -> WarehouseBusy:
        where = self.path if self.is_duckdb else self.destination
        return WarehouseBusy(
            f"{where}: {why} after {self.lock_timeout:g}s (EVENTSYNC_LOCK_TIMEOUT_SECONDS)"
        )

    def _despite_readers(self, work: Callable[[], T], log: Log | None) -> T:
        """`work`, tried again while another process has the DuckDB file open.

        DuckDB refuses every writer while any other process holds the file, even read-only (a
        notebook, a BI tool); waiting for it, bounded by the lock timeout, beats failing the run.
        """
        deadline = time.monotonic() + self.lock_timeout
        told = False
        while True:
            try:
                return work()
            except Exception as error:
                if not (self.is_duckdb and _held_by_another_process(error)):
                    raise
                if time.monotonic() > deadline:
                    raise self._busy("another process keeps the file open") from None
                if log and not told:
                    log(
                        f"waiting for {self.path}: another process has it open (a notebook, a BI "
                        "tool?) and DuckDB lets no one write while it does. Close that connection, "
                        f"or query {self.reader_path.name} instead, which every load refreshes"
                    )
                    told = True
                time.sleep(READER_WAIT_SECONDS)

    def write(
        self,
        pipeline: dlt.Pipeline,
        work: Callable[[Destination[Any, Any] | None], T],
        log: Log | None = None,
    ) -> T:
        """`work` (a dlt load, a state restore) holding the warehouse, waiting out readers; it
        gets the destination to use (None: the pipeline's own)."""
        with self.hold(pipeline, log):
            return self._despite_readers(lambda: self._on_one_connection(work), log)

    def _on_one_connection(self, work: Callable[[Destination[Any, Any] | None], T]) -> T:
        """DuckDB: `work` on one connection to the file, closed when it is done. dlt's pool
        opens and closes the file around every load job, and each close checkpoints it: a
        twentieth of a small sync (bench/README.md). dlt keeps the destination it was given on
        the pipeline, its connection closed once `work` returns: the pipeline is done with then
        (`sync`), and `sql` opens its own."""
        if not self.is_duckdb:
            return work(None)
        with duckdb.connect(str(self.path), config=self._duckdb_config) as connection:
            return work(dlt.destinations.duckdb(DuckDbCredentials(connection)))

    @contextmanager
    def sql(self, vendor: str, log: Log | None = None) -> Iterator[SqlClientBase[Any]]:
        """dlt's SQL client on the vendor's dataset, for reads between loads."""
        with self.pipeline(vendor) as pipeline, self.hold(log=log):  # no write: no advisory lock
            client = self._despite_readers(lambda: _opened(pipeline.sql_client()), log)
            try:
                yield client
            finally:
                client.close_connection()

    def refresh_reader_copy(self, log: Log | None = None) -> None:
        """Copy the file for analysts, once its writes are checkpointed (the caller holds it).

        Written beside and renamed over the old copy, so a reader holding the old one open keeps
        reading it and the next connection sees the new one.
        """
        if not (self.is_duckdb and self.reader_copy and self.path.exists()):
            return

        def checkpoint() -> None:
            with duckdb.connect(str(self.path)) as con:
                con.execute("CHECKPOINT")

        self._despite_readers(checkpoint, log)
        partial = self.reader_path.with_name(self.reader_path.name + ".partial")
        shutil.copyfile(self.path, partial)
        os.replace(partial, self.reader_path)


def _opened(client: SqlClientBase[Any]) -> SqlClientBase[Any]:
    client.open_connection()
    return client
