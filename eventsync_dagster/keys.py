"""Rows dlt can merge: each stamped with its account, none without a whole key.

A record whose key is null or empty cannot be merged (it would be no row, or one row for every
such record), so it is dropped before dlt sees it, counted in `RequestStats.rejected` and said
once per table. Both are dlt steps on the resource (`add_map`, `add_filter`), so a transformer
fed by it (guests by events) only ever sees keyed parents.
"""

from __future__ import annotations

from typing import Any

from dlt.extract.resource import DltResource

from eventsync_dagster.progress import Progress
from eventsync_dagster.spec import ACCOUNT, Table


def missing(value: Any) -> bool:
    return value is None or value == ""


def keyed(resource: DltResource, table: Table, progress: Progress) -> DltResource:
    def stamp(record: dict[str, Any]) -> dict[str, Any]:
        record[ACCOUNT] = progress.account
        return record

    def has_key(record: dict[str, Any]) -> bool:
        if not any(missing(record.get(c)) for c in table.natural_key):
            return True
        if progress.stats.reject(table.name) == 1:
            progress.log(
                f"{progress.vendor}.{table.name}: rejected a record without its key "
                f"({', '.join(table.natural_key)}); the step's rejected_null_key_records "
                "counts every one"
            )
        return False

    return resource.add_map(stamp).add_filter(has_key)
