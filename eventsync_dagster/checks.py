"""Asset checks for every table, built from the table spec: a new table gets them for free.

Each table has one check op with four checks: primary key unique and required fields present
(blocking: a failure stops downstream assets of the same run), schema drift and freshness
(warnings). They read the warehouse through dlt's SQL client, so they run unchanged on any dlt
SQL destination.
"""

import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dlt.destinations.sql_client import SqlClientBase

from eventsync_dagster.resources import WarehouseResource
from eventsync_dagster.tables import ACCOUNT, TABLES, Table
from eventsync_dagster.warehouse import query

SAMPLE_SIZE = 10
FRESHNESS_HOURS = 26.0
"""The daily refresh plus slack; $EVENTSYNC_FRESHNESS_HOURS overrides it."""

PK_UNIQUE, REQUIRED, DRIFT, FRESHNESS = (
    "primary_key_unique",
    "required_fields_present",
    "schema_drift",
    "freshness",
)


def _specs(t: Table) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            PK_UNIQUE,
            asset=t.asset_key,
            blocking=True,
            description=f"No two rows share ({', '.join(t.primary_key)}).",
        ),
        dg.AssetCheckSpec(
            REQUIRED,
            asset=t.asset_key,
            blocking=True,
            description=f"Never null: {', '.join(t.not_null)}.",
        ),
        dg.AssetCheckSpec(
            DRIFT,
            asset=t.asset_key,
            description="Warns when the latest load added or retyped columns.",
        ),
        dg.AssetCheckSpec(
            FRESHNESS,
            asset=t.asset_key,
            description="Warns when the table has not been loaded within the freshness window.",
        ),
    ]


class TableProbe:
    """The warehouse queries behind the checks, for one table."""

    def __init__(self, sql: SqlClientBase[Any], t: Table) -> None:
        self.sql, self.t = sql, t
        self.name = sql.make_qualified_table_name(t.name)
        self.exists = bool(
            query(
                sql,
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = %s",
                sql.dataset_name,
                t.name,
            )[0][0]
        )

    def _columns(self, names: Sequence[str]) -> str:
        return ", ".join(self.sql.escape_column_name(c) for c in names)

    def _by_account(self, rows_sql: str) -> dict[str, int]:
        """How many of these rows each account has: which calendar or event to look at."""
        account = self.sql.escape_column_name(ACCOUNT)
        counted = query(
            self.sql, f"SELECT {account}, count(*) FROM ({rows_sql}) AS r GROUP BY {account}"
        )
        return {str(name): int(n) for name, n in counted}

    def duplicate_keys(self) -> tuple[int, list[str], dict[str, int]]:
        keys = self._columns(self.t.primary_key)
        grouped = f"SELECT {keys} FROM {self.name} GROUP BY {keys} HAVING count(*) > 1"
        by_account = self._by_account(grouped)
        sample = query(self.sql, f"{grouped} ORDER BY {keys} LIMIT {SAMPLE_SIZE}")
        return sum(by_account.values()), [_key(row) for row in sample], by_account

    def nulls(self) -> tuple[dict[str, int], list[str], dict[str, int]]:
        present = {
            row[0]
            for row in query(
                self.sql,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                self.sql.dataset_name,
                self.t.name,
            )
        }
        counts = {field: -1 for field in self.t.not_null if field not in present}
        checked = [f for f in self.t.not_null if f in present]
        if checked:
            sums = ", ".join(
                f"sum(CASE WHEN {self.sql.escape_column_name(f)} IS NULL THEN 1 ELSE 0 END)"
                for f in checked
            )
            row = query(self.sql, f"SELECT {sums} FROM {self.name}")[0]
            counts |= {f: int(n or 0) for f, n in zip(checked, row, strict=True)}
        sample: list[str] = []
        by_account: dict[str, int] = {}
        if any(n > 0 for n in counts.values()):
            where = " OR ".join(f"{self.sql.escape_column_name(f)} IS NULL" for f in checked)
            keys = self._columns(self.t.primary_key)
            offending = f"SELECT {keys} FROM {self.name} WHERE {where}"
            sample = [_key(row) for row in query(self.sql, f"{offending} LIMIT {SAMPLE_SIZE}")]
            by_account = self._by_account(offending)
        return counts, sample, by_account

    def last_loaded_at(self) -> datetime | None:
        rows = query(
            self.sql,
            f"SELECT max(l.inserted_at) FROM {self.sql.make_qualified_table_name('_dlt_loads')} l "
            f"WHERE l.status = 0 AND l.load_id = (SELECT max(_dlt_load_id) FROM {self.name})",
        )
        value = rows[0][0] if rows else None
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def drift(self) -> tuple[list[str], list[str]] | None:
        """Columns added and retyped by the latest load against the one before (None: first)."""
        loads = query(
            self.sql,
            f"SELECT schema_version_hash FROM {self.sql.make_qualified_table_name('_dlt_loads')} "
            "WHERE status = 0 AND schema_name = %s ORDER BY load_id DESC LIMIT 2",
            self.t.vendor,
        )
        if len(loads) < 2:
            return None
        latest, previous = (self._schema_columns(row[0]) for row in loads)
        if not previous:  # the table's own first load
            return None
        added = sorted(set(latest) - set(previous))
        retyped = sorted(
            f"{c}: {previous[c]} -> {latest[c]}"
            for c in set(latest) & set(previous)
            if latest[c] != previous[c]
        )
        return added, retyped

    def _schema_columns(self, version_hash: str) -> dict[str, str]:
        rows = query(
            self.sql,
            f"SELECT schema FROM {self.sql.make_qualified_table_name('_dlt_version')} "
            "WHERE version_hash = %s ORDER BY inserted_at DESC LIMIT 1",
            version_hash,
        )
        if not rows:
            return {}
        schema = json.loads(rows[0][0])
        columns = schema.get("tables", {}).get(self.t.name, {}).get("columns", {})
        return {name: str(col.get("data_type")) for name, col in columns.items()}


def _key(row: Sequence[Any]) -> str:
    return ", ".join("null" if v is None else str(v) for v in row)


def _evaluate(
    probe: TableProbe, check: str, now: datetime, synced_at: datetime | None
) -> dg.AssetCheckResult:
    t = probe.t
    if not probe.exists:
        return dg.AssetCheckResult(
            check_name=check,
            passed=check != FRESHNESS,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": "the table has not been loaded yet"},
        )
    if check == PK_UNIQUE:
        count, sample, by_account = probe.duplicate_keys()
        return dg.AssetCheckResult(
            check_name=check,
            passed=count == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"duplicate_keys": count, "sample_keys": sample, "by_account": by_account},
        )
    if check == REQUIRED:
        counts, sample, by_account = probe.nulls()
        return dg.AssetCheckResult(
            check_name=check,
            passed=all(n == 0 for n in counts.values()),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "null_counts": {f: ("column missing" if n < 0 else n) for f, n in counts.items()},
                "sample_keys": sample,
                "by_account": by_account,
            },
        )
    if check == DRIFT:
        drift = probe.drift()
        added, retyped = drift or ([], [])
        return dg.AssetCheckResult(
            check_name=check,
            passed=not (added or retyped),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "added_columns": added,
                "changed_columns": retyped,
                "compared": "first load" if drift is None else "latest load vs the one before",
            },
        )
    # The newest of: the last load that wrote rows, and the last sync Dagster recorded (a sync
    # may write nothing new: guests of long-past events are kept, not read again).
    window = timedelta(hours=float(os.environ.get("EVENTSYNC_FRESHNESS_HOURS", FRESHNESS_HOURS)))
    rows_loaded_at = probe.last_loaded_at()
    loaded_at = max((d for d in (rows_loaded_at, synced_at) if d), default=None)
    age = None if loaded_at is None else now - loaded_at
    return dg.AssetCheckResult(
        check_name=check,
        passed=age is not None and age <= window,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "last_loaded_at": loaded_at.isoformat() if loaded_at else "never",
            "rows_last_loaded_at": rows_loaded_at.isoformat() if rows_loaded_at else "never",
            "last_synced_at": synced_at.isoformat() if synced_at else "never (this instance)",
            "age_hours": round(age.total_seconds() / 3600, 2) if age else -1,
            "window_hours": window.total_seconds() / 3600,
            "table": f"{t.vendor}.{t.name}",
        },
    )


def table_checks(t: Table) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"{t.vendor}_{t.name}_checks",
        specs=_specs(t),
        can_subset=True,
        description=f"Data checks of {t.vendor}.{t.name}, from the table spec.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        wh = warehouse.warehouse()
        now = datetime.now(UTC)
        synced = context.instance.get_latest_materialization_event(t.asset_key)
        synced_at = datetime.fromtimestamp(synced.timestamp, UTC) if synced else None
        with wh.sql(t.vendor, context.log.info) as sql:
            probe = TableProbe(sql, t)
            results = [
                _evaluate(probe, check, now, synced_at)
                for check in (PK_UNIQUE, REQUIRED, DRIFT, FRESHNESS)
                if check in selected
            ]
        yield from results

    return _checks


CHECKS: list[dg.AssetChecksDefinition] = [table_checks(t) for t in TABLES]
