"""Where tables land: a DuckDB file by default, any dlt destination by dlt's own config.

Plain Python (no Dagster), so the benchmark and tests use the very same pipelines.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import TLoaderFileFormat
from dlt.common.destination.reference import Destination
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.sql_client import SqlClientBase

DEFAULT_DUCKDB_PATH = "data/eventsync.duckdb"
LOCK_TIMEOUT_SECONDS = 3600.0
DUCKDB_MEMORY_LIMIT = "256MB"


class WarehouseBusy(RuntimeError):
    pass


def query(sql: SqlClientBase[Any], statement: str, *args: Any) -> list[Sequence[Any]]:
    return list(sql.execute_sql(statement, *args) or [])


def row_counts(sql: SqlClientBase[Any], tables: Iterable[str]) -> dict[str, int]:
    return {
        t: int(query(sql, f"SELECT count(*) FROM {sql.make_qualified_table_name(t)}")[0][0])
        for t in tables
    }


@dataclass(frozen=True)
class Warehouse:
    destination: str = "duckdb"
    """A dlt destination name; anything but DuckDB takes its credentials from dlt's config."""
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    lock_timeout: float = LOCK_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls) -> Warehouse:
        return cls(
            destination=os.environ.get("EVENTSYNC_DESTINATION")
            or os.environ.get("DESTINATION_TYPE")
            or "duckdb",
            duckdb_path=os.environ.get("EVENTSYNC_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH,
            lock_timeout=float(
                os.environ.get("EVENTSYNC_LOCK_TIMEOUT_SECONDS", LOCK_TIMEOUT_SECONDS)
            ),
        )

    @property
    def is_duckdb(self) -> bool:
        return self.destination == "duckdb"

    def dlt_destination(self) -> Destination[Any, Any] | str:
        if self.is_duckdb:
            path = Path(self.duckdb_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            # DuckDB takes 80% of RAM by default and a merge of all guests grew with the volume
            # (584 MB at 200k rows, 1.3 GB at 800k); capped, it spills to disk instead.
            limit = os.environ.get("EVENTSYNC_DUCKDB_MEMORY_LIMIT") or DUCKDB_MEMORY_LIMIT
            config = {"memory_limit": limit, "preserve_insertion_order": False}
            return dlt.destinations.duckdb(
                DuckDbCredentials(str(path.resolve()), global_config=config)
            )
        return self.destination

    def pipeline(self, vendor: str) -> dlt.Pipeline:
        """The vendor's pipeline: dataset (schema) named after the vendor, e.g. `luma.events`."""
        options: dict[str, Any] = {}
        if self.is_duckdb:  # dlt state beside the file, never mixed with another warehouse's
            options["pipelines_dir"] = str(
                Path(self.duckdb_path).resolve().parent / "dlt_pipelines"
            )
        return dlt.pipeline(
            pipeline_name=f"eventsync_{vendor}",
            destination=self.dlt_destination(),
            dataset_name=vendor,
            **options,
        )

    @property
    def loader_file_format(self) -> TLoaderFileFormat | None:
        """jsonl where the destination takes it (dlt's default for DuckDB is ~5x slower), else
        csv (Postgres: about a quarter faster than its default), else the destination's default.
        """
        destination = Destination.from_reference(self.dlt_destination())
        if destination is None:
            return None
        supported = destination.capabilities().supported_loader_file_formats
        return next((f for f in ("jsonl", "csv") if f in supported), None)

    @contextmanager
    def lock(self, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the DuckDB file for one process: DuckDB fails at once on a second writer.

        An OS file lock, so it holds across steps, runs, executors and Dagster instances; it is
        released when the process dies, so a killed run never leaves the warehouse locked.
        """
        if not self.is_duckdb:
            yield
            return
        path = Path(self.duckdb_path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            deadline = time.monotonic() + self.lock_timeout
            told = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusy(
                            f"{path} is still in use by another run after {self.lock_timeout:g}s"
                            " (EVENTSYNC_LOCK_TIMEOUT_SECONDS)"
                        ) from None
                    if waiting and not told:
                        waiting(f"waiting for {path.name}: another run is writing to it")
                        told = True
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
