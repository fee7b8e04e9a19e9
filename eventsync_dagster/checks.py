"""Asset checks for every table, built from the table spec: a new table gets them for free.

Each table has the checks only this project can write: primary key unique (over every row) and
required fields present (in live rows: a row the vendor deleted is history), both blocking: a
failure stops downstream assets of the same run. They are declared on the step that loads the
table and run there, on the connection the load's counts use (`ingest.load`; a step of their own
per table cost a run about as much as the load of every Eventee table), or alone, without a load,
when only they are selected. They read the warehouse through dlt's SQL client, so they run
unchanged on any dlt SQL destination. Schema drift is Dagster's own
`build_column_schema_change_checks` on the `dagster/column_schema` each materialization records
(the columns as they landed, every account's included); freshness is a `FreshnessPolicy` set
once in `definitions.py`.
"""

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
from dlt.destinations.sql_client import SqlClientBase

from eventsync_dagster.asset_keys import asset_key
from eventsync_dagster.queries import existing_tables, query
from eventsync_dagster.spec import ACCOUNT, DELETED_AT, Table
from eventsync_dagster.tables import TABLES, table

SAMPLE_SIZE = 10
PK_UNIQUE, REQUIRED = "primary_key_unique", "required_fields_present"


def check_specs(t: Table) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            PK_UNIQUE,
            asset=asset_key(t),
            blocking=True,
            description=f"No two rows share ({', '.join(t.primary_key)}).",
        ),
        dg.AssetCheckSpec(
            REQUIRED,
            asset=asset_key(t),
            blocking=True,
            description=f"Never null: {', '.join(t.not_null)}.",
        ),
    ]


class TableProbe:
    """The warehouse queries behind the checks, for one table."""

    def __init__(self, sql: SqlClientBase[Any], t: Table) -> None:
        self.sql, self.t = sql, t
        self.name = sql.make_qualified_table_name(t.name)
        self.live = f"{sql.escape_column_name(DELETED_AT)} IS NULL"
        self.exists = bool(existing_tables(sql, [t.name]))

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
            row = query(self.sql, f"SELECT {sums} FROM {self.name} WHERE {self.live}")[0]
            counts |= {f: int(n or 0) for f, n in zip(checked, row, strict=True)}
        sample: list[str] = []
        by_account: dict[str, int] = {}
        if any(n > 0 for n in counts.values()):
            nulls = " OR ".join(f"{self.sql.escape_column_name(f)} IS NULL" for f in checked)
            where = f"({nulls}) AND {self.live}"
            keys = self._columns(self.t.primary_key)
            offending = f"SELECT {keys} FROM {self.name} WHERE {where}"
            sample = [_key(row) for row in query(self.sql, f"{offending} LIMIT {SAMPLE_SIZE}")]
            by_account = self._by_account(offending)
        return counts, sample, by_account


def _key(row: Sequence[Any]) -> str:
    return ", ".join("null" if v is None else str(v) for v in row)


def evaluate(
    sql: SqlClientBase[Any], keys: Iterable[dg.AssetCheckKey]
) -> list[dg.AssetCheckResult]:
    """The results of these checks, each table probed once."""
    probes: dict[dg.AssetKey, TableProbe] = {}
    results = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        if key.asset_key not in probes:
            probes[key.asset_key] = TableProbe(sql, table(*key.asset_key.path))
        results.append(_evaluate(probes[key.asset_key], key))
    return results


def _evaluate(probe: TableProbe, key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    if not probe.exists:
        return dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": "the table has not been loaded yet"},
        )
    if key.name == PK_UNIQUE:
        count, sample, by_account = probe.duplicate_keys()
        return dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=count == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"duplicate_keys": count, "sample_keys": sample, "by_account": by_account},
        )
    counts, sample, by_account = probe.nulls()
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=all(n == 0 for n in counts.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "null_counts": {f: ("column missing" if n < 0 else n) for f, n in counts.items()},
            "sample_keys": sample,
            "by_account": by_account,
        },
    )


with warnings.catch_warnings():  # beta in 1.13, and the library's way to see schema drift
    warnings.simplefilter("ignore", dg.BetaWarning)
    DRIFT_CHECKS = dg.build_column_schema_change_checks(assets=[asset_key(t) for t in TABLES])
