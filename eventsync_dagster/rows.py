"""The dlt steps every resource gets before dlt sees a record: rows it can merge and load.

- Each record is stamped with its account, the first column of every key, and its place in the
  run's reading order, by which dlt's merge keeps the copy read last of a key repeated in one
  run (`dedup_sort`; without it the copy kept is arbitrary).
- A record whose key is null or empty cannot be merged (it would be no row, or one row for every
  such record), so it is dropped, counted in `RequestStats.rejected` and said once per table.
- A value nested deeper than the loaders go (orjson stops at 254 levels, and one such record
  would fail every later sync) is stored as a JSON string instead.

All are dlt steps on the resource (`add_map`, `add_filter`), so a transformer fed by it (guests
by events) only ever sees keyed parents.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from dlt.extract.resource import DltResource

from eventsync_dagster.progress import Progress
from eventsync_dagster.spec import ACCOUNT, READ_ORDER, Table

MAX_DEPTH = 64
"""Nesting kept as it is; deeper values become a JSON string."""


def missing(value: Any) -> bool:
    return value is None or value == ""


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests deeper than `limit` (iterative: a deep value cannot overflow it)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def loadable(resource: DltResource, table: Table, progress: Progress) -> DltResource:
    name = f"{progress.vendor}.{table.name}"
    flattened: set[str] = set()

    read_order = itertools.count()

    def stamp(record: dict[str, Any]) -> dict[str, Any]:
        record[ACCOUNT] = progress.account
        record[READ_ORDER] = next(read_order)
        return record

    def keep(record: dict[str, Any]) -> bool:
        """A record with its whole key, its too-deep values made JSON strings; else dropped."""
        if any(missing(record.get(c)) for c in table.natural_key):
            return _reject(
                f"{name}: rejected a record without its key ({', '.join(table.natural_key)})"
            )
        for column, value in record.items():
            if isinstance(value, dict | list) and too_deep(value):
                try:
                    record[column] = json.dumps(value, separators=(",", ":"))
                except RecursionError:  # deeper than Python serialises: no safe form to keep
                    key = ", ".join(str(record.get(c)) for c in table.natural_key)
                    return _reject(f"{name}: rejected record ({key}): {column} nests too deep")
                if column not in flattened:  # said once per column
                    flattened.add(column)
                    progress.log(
                        f"{name}: stored {column} as a JSON string where it nests deeper than "
                        f"{MAX_DEPTH} levels"
                    )
        return True

    def _reject(message: str) -> bool:
        if progress.stats.reject(table.name) == 1:
            progress.log(f"{message}; the step's rejected_null_key_records counts every one")
        return False

    return resource.add_map(stamp).add_filter(keep)
