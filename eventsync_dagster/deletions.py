"""Rows that vanished from a listing the sync read completely: marked `_deleted_at`, or deleted
under `EVENTSYNC_HARD_DELETE=1`.

dlt's merge deletes only records that say they are deleted (its `hard_delete` hint); the vendors
simply stop listing them. Every row a sync reads is merged again with that sync's load id, so
the rows of a complete listing (the account's whole table, or one event's guests) that no load
of this sync wrote are the ones the vendor no longer lists. A row that comes back is merged
again without the mark. Children of a vanished parent (the guests of a deleted event) vanish
with it. Runs in the load's own hold on the warehouse (`Warehouse.sync`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dlt.destinations.sql_client import SqlClientBase

from eventsync_dagster.http import ALL
from eventsync_dagster.queries import existing_tables, query
from eventsync_dagster.spec import ACCOUNT, DELETED_AT, Table

CHUNK = 500
"""Parent ids per statement."""


@dataclass(frozen=True)
class Vanished:
    """What one account's sync may mark: the tables it loaded and their complete listings."""

    tables: Sequence[Table]
    children: Sequence[Table]
    """Tables listed per row of one of `tables` (guests of events), marked with their parent."""
    account: str
    complete: dict[str, set[str]]
    hard: bool = False

    def apply(self, sql: SqlClientBase[Any], load_ids: Sequence[str]) -> dict[str, int]:
        """Mark (or delete) the rows that vanished; return how many, per table."""
        now = datetime.now(UTC)
        account = sql.escape_column_name(ACCOUNT)
        unwritten, written = [f"{account} = %s"], [self.account]
        if load_ids:
            unwritten.append(f"_dlt_load_id NOT IN ({_marks(len(load_ids))})")
            written.extend(load_ids)
        found: dict[str, int] = {}
        for table in self.tables:
            scopes = self.complete.get(table.name, set())
            if not scopes or not _exists(sql, table.name):
                continue
            if ALL in scopes or table.parent is None:
                found[table.name] = self._apply(sql, table, unwritten, written, now)
                continue
            column = sql.escape_column_name(table.parent[0])
            found[table.name] = sum(
                self._apply(
                    sql,
                    table,
                    [*unwritten, f"{column} IN ({_marks(len(chunk))})"],
                    [*written, *chunk],
                    now,
                )
                for chunk in _chunks(sorted(scopes))
            )
        for child in self.children:
            parent = next(
                (t for t in self.tables if child.parent and t.name == child.parent[1]), None
            )
            if parent and ALL in self.complete.get(parent.name, set()) and _exists(sql, child.name):
                found[child.name] = found.get(child.name, 0) + self._orphans(
                    sql, child, parent, now
                )
        return found

    def _orphans(self, sql: SqlClientBase[Any], child: Table, parent: Table, now: datetime) -> int:
        """The child rows of parents this sync found gone."""
        assert child.parent is not None
        column, account = (sql.escape_column_name(c) for c in (child.parent[0], ACCOUNT))
        parents = (
            f"SELECT {sql.escape_column_name(parent.natural_key[-1])} FROM "
            f"{sql.make_qualified_table_name(parent.name)} WHERE {account} = %s"
        )
        gone = (
            f"{column} NOT IN ({parents})"  # hard: the parent rows are deleted already
            if self.hard
            else f"{column} IN ({parents} AND {sql.escape_column_name(DELETED_AT)} IS NOT NULL)"
        )
        return self._apply(sql, child, [f"{account} = %s", gone], [self.account] * 2, now)

    def _apply(
        self,
        sql: SqlClientBase[Any],
        table: Table,
        conditions: list[str],
        args: list[Any],
        now: datetime,
    ) -> int:
        name = sql.make_qualified_table_name(table.name)
        deleted = sql.escape_column_name(DELETED_AT)
        where = " AND ".join(conditions if self.hard else [*conditions, f"{deleted} IS NULL"])
        (count,) = query(sql, f"SELECT count(*) FROM {name} WHERE {where}", *args)[0]
        if count:
            if self.hard:
                sql.execute_sql(f"DELETE FROM {name} WHERE {where}", *args)
            else:
                sql.execute_sql(f"UPDATE {name} SET {deleted} = %s WHERE {where}", now, *args)
        return int(count)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _exists(sql: SqlClientBase[Any], table: str) -> bool:
    return bool(existing_tables(sql, [table]))
