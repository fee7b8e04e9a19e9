"""The dlt step every resource gets before dlt sees a record: rows it can merge and load.

- Each record is stamped with its account, the first column of every key, and its place in the
  run's reading order, by which dlt's merge keeps the copy read last of a key repeated in one
  run (`dedup_sort`; without it the copy kept is arbitrary).
- A record whose key is null or empty cannot be merged (it would be no row, or one row for every
  such record), so it is dropped, counted in `RequestStats.rejected` and said once per table.
- A value nested deeper than the loaders go (orjson stops at 254 levels, and one such record
  would fail every later sync) is stored as a JSON string instead.

One dlt step on the resource, so a transformer fed by it (guests by events) only ever sees keyed
parents. It takes a whole page at once rather than a record at a time (`add_map`, `add_filter`):
dlt calls those once per record, which cost a large sync twice as much (bench/README.md).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from dlt.extract.items_transform import ItemTransform
from dlt.extract.resource import DltResource

from eventsync_dagster.progress import Progress
from eventsync_dagster.spec import ACCOUNT, READ_ORDER, Table

MAX_DEPTH = 64
"""Nesting kept as it is; deeper values become a JSON string."""
CONTAINERS = (dict, list)


def missing(value: Any) -> bool:
    return value is None or value == ""


def nests_deeper(value: dict[str, Any] | list[Any], levels: int = MAX_DEPTH - 1) -> bool:
    """Whether a container holds containers more than `levels` deep (recursion ends at
    `MAX_DEPTH`, far below Python's limit)."""
    for child in value.values() if isinstance(value, dict) else value:
        if type(child) in CONTAINERS and (levels == 0 or nests_deeper(child, levels - 1)):
            return True
    return False


class _Loadable(ItemTransform[Any, Any]):
    """Stamps, drops and flattens the records of a page as the module says."""

    def __init__(self, table: Table, progress: Progress) -> None:
        super().__init__(lambda item: item)  # `__call__` below takes whole pages
        self.table, self.progress = table, progress
        self.name = f"{progress.vendor}.{table.name}"
        self.read_order = itertools.count()
        self.flattened: set[str] = set()

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, dict):
            return item if self._keep(item) else None
        if not isinstance(item, list) or not item:
            return item
        kept = [record for record in item if self._keep(record)]
        return kept or None

    def _keep(self, record: dict[str, Any]) -> bool:
        key = self.table.natural_key
        if any(missing(record.get(c)) for c in key):
            return self._reject(
                f"{self.name}: rejected a record without its key ({', '.join(key)})"
            )
        for column, value in record.items():
            if type(value) in CONTAINERS and nests_deeper(value):
                try:
                    record[column] = json.dumps(value, separators=(",", ":"))
                except RecursionError:  # deeper than Python serialises: no safe form to keep
                    shown = ", ".join(str(record.get(c)) for c in key)
                    return self._reject(
                        f"{self.name}: rejected record ({shown}): {column} nests too deep"
                    )
                if column not in self.flattened:  # said once per column
                    self.flattened.add(column)
                    self.progress.log(
                        f"{self.name}: stored {column} as a JSON string where it nests deeper "
                        f"than {MAX_DEPTH} levels"
                    )
        record[ACCOUNT] = self.progress.account
        record[READ_ORDER] = next(self.read_order)
        return True

    def _reject(self, message: str) -> bool:
        if self.progress.stats.reject(self.table.name) == 1:
            self.progress.log(f"{message}; the step's rejected_null_key_records counts every one")
        return False


def loadable(resource: DltResource, table: Table, progress: Progress) -> DltResource:
    return resource.add_step(_Loadable(table, progress))
