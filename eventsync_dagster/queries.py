"""Statements on whichever destination dlt's SQL client is connected to, shared by the load, the
deletions and the checks (plain dlt: no Dagster)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dlt.destinations.sql_client import SqlClientBase


def query(sql: SqlClientBase[Any], statement: str, *args: Any) -> list[Sequence[Any]]:
    return list(sql.execute_sql(statement, *args) or [])


def existing_tables(sql: SqlClientBase[Any], names: Iterable[str]) -> set[str]:
    """Which of these tables the dataset has: dlt creates a table with its first row, so a table
    whose listing was empty so far (a calendar key's `calendars`) has none yet."""
    wanted = list(names)
    if not wanted:
        return set()
    marks = ", ".join(["%s"] * len(wanted))
    found = query(
        sql,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND "
        f"table_name IN ({marks})",
        sql.dataset_name,
        *wanted,
    )
    return {str(name) for (name,) in found}
