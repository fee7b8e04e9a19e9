"""The Dagster side of a vendor's dlt load, shared by every vendor's `@dlt_assets`: asset keys,
lineage and docs from the table spec, and the step that loads every account, reports it and
checks what it loaded.
"""

import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import dlt
from dagster_dlt import DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.constants import META_KEY_PIPELINE, META_KEY_SOURCE, META_KEY_TRANSLATOR
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.common.schema import Schema
from dlt.destinations.sql_client import SqlClientBase
from dlt.extract.source import DltSource

from eventsync_dagster.accounts import Account, AccountsFileError
from eventsync_dagster.asset_keys import asset_key
from eventsync_dagster.checks import check_specs, evaluate
from eventsync_dagster.deletions import Vanished
from eventsync_dagster.http import RequestStats, SourceError, VendorClient
from eventsync_dagster.queries import existing_tables, query
from eventsync_dagster.resources import VendorResource, WarehouseResource
from eventsync_dagster.settings import SettingsError, load_lenient
from eventsync_dagster.settings import load as load_settings
from eventsync_dagster.spec import ACCOUNT, Table
from eventsync_dagster.tables import table, vendor_tables
from eventsync_dagster.warehouse import (
    Synced,
    Warehouse,
    WarehouseBusy,
    loaded_by_account,
    row_counts,
)

OWNERS = ["team:data-platform"]
PREVIEW_ROWS = 5


class EventsyncTranslator(DagsterDltTranslator):
    """Keys, lineage and docs come from the table spec, not from dlt's naming."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        t = table(data.resource.source_name, data.resource.name)
        destination = data.destination.destination_name if data.destination else "duckdb"
        return spec.replace_attributes(
            key=asset_key(t),
            deps=[asset_key(table(t.vendor, name)) for name in t.upstream],
            group_name=t.vendor,
            description=t.description,
            kinds={"dlt", destination},
            owners=OWNERS,
            tags={"vendor": t.vendor},
        ).merge_attributes(
            metadata={
                "primary_key": ", ".join(t.primary_key),
                "required_fields": ", ".join(t.not_null),
                "endpoint": t.endpoint,
                "dataset": data.pipeline.dataset_name if data.pipeline else t.vendor,
                "dagster/table_name": f"{t.vendor}.{t.name}",
                "dagster/column_schema": column_schema(t),
                **{
                    f"joins {column}": dg.MetadataValue.asset(
                        asset_key(table(t.vendor, target.split(".")[0]))
                    )
                    for column, target in t.references.items()
                },
            }
        )


def column_schema(t: Table) -> dg.TableSchema:
    """The spec's typed columns, with keys and references, shown before the first load."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                column.data_type,
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=name not in t.not_null,
                    other=[
                        *(["primary key"] if name in t.primary_key else []),
                        *(
                            [f"references {t.vendor}.{t.references[name]}"]
                            if name in t.references
                            else []
                        ),
                    ],
                ),
            )
            for name, column in t.columns.items()
        ]
    )


def preview(sql: SqlClientBase[Any], t: Table, load_ids: list[str]) -> dg.MetadataValue:
    """A few rows this step loaded, in the spec's preview columns (never personal data)."""
    columns = [ACCOUNT, *t.preview]
    if not load_ids:
        return dg.MetadataValue.md("_no rows loaded_")
    placeholders = ", ".join(["%s"] * len(load_ids))
    selected, key = ([sql.escape_column_name(c) for c in cs] for cs in (columns, t.primary_key))
    rows = query(
        sql,
        f"SELECT {', '.join(selected)} FROM {sql.make_qualified_table_name(t.name)} "
        f"WHERE _dlt_load_id IN ({placeholders}) ORDER BY {', '.join(key)} LIMIT {PREVIEW_ROWS}",
        *load_ids,
    )
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join("" if v is None else str(v)[:60] for v in row) + " |" for row in rows),
    ]
    return dg.MetadataValue.md("\n".join(lines))


TRANSLATOR = EventsyncTranslator()
PLACEHOLDER = "declared-without-credentials"
"""The key the sources are declared with when Dagster loads the definitions (runs use real ones)."""
_DECLARATIONS = tempfile.TemporaryDirectory(prefix="eventsync-declarations-")
"""This process's own folder for the declaring pipelines (removed when it exits)."""


def declared_pipeline(vendor: str) -> dlt.Pipeline:
    """Declares the assets at load time only: runs build their own (warehouse.py)."""
    return dlt.pipeline(
        pipeline_name=f"eventsync_{vendor}",
        # Lenient: a bad `EVENTSYNC_DESTINATION` falls back, and fails runs with one line.
        destination=load_lenient()[0].destination,
        dataset_name=vendor,
        pipelines_dir=_DECLARATIONS.name,
    )


def vendor_assets(
    dlt_source: DltSource, vendor: str, name: str
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dlt_assets` (one asset per resource, subsettable, specs from the translator) without the
    dlt source, pipeline and translator it puts in every asset's metadata for
    `DagsterDltResource.run`: `load` does not use them, and the UI shows them as
    "(unserializable)". Each table's checks are declared here, as `load` runs them."""
    specs = build_dlt_asset_specs(dlt_source, declared_pipeline(vendor), TRANSLATOR)
    dlt_objects = (META_KEY_SOURCE, META_KEY_PIPELINE, META_KEY_TRANSLATOR)
    return dg.multi_asset(
        name=name,
        can_subset=True,
        check_specs=[c for s in specs for c in check_specs(table(*s.key.path))],
        specs=[
            spec.replace_attributes(
                metadata={k: v for k, v in spec.metadata.items() if k not in dlt_objects}
            )
            for spec in specs
        ],
    )


def _root_cause(error: BaseException) -> Exception | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, SourceError | WarehouseBusy | AccountsFileError | SettingsError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _fail(context: dg.AssetExecutionContext, line: str, transient: bool) -> NoReturn:
    """Retry the step after a transient failure, a bounded number of times; else fail in one
    line without any retry.

    A `RetryRequested` rather than a `RetryPolicy`: `@dlt_assets` takes no retry policy, and a
    step raising it retries in every job, "Materialize all" included, while a permanent failure
    (`allow_retries=False`) is never retried by any policy.
    """
    settings, _ = load_lenient()
    if transient and context.retry_number < settings.step_retries:
        delay = settings.step_retry_delay_seconds * 2**context.retry_number
        context.log.warning(
            f"{line}; a transient failure: the step runs again in {delay:g}s "
            f"(retry {context.retry_number + 1} of {settings.step_retries})"
        )
        raise dg.RetryRequested(max_retries=settings.step_retries, seconds_to_wait=delay)
    raise dg.Failure(description=line, allow_retries=False)


def _describe(t: Table, column: str) -> str:
    if column in t.columns:
        return t.columns[column].description
    if column.startswith("_dlt_"):
        return "Written by dlt: the load that wrote the row, or the row's own id."
    return "Not in the spec: the vendor started sending it (see the schema-change check)."


def landed_columns(t: Table, schemas: list[Schema | None]) -> dg.TableSchema:
    """The table's columns as dlt landed them from every account (each account's pipeline has
    its own copy of the schema): what `build_column_schema_change_checks` compares. Declared
    columns keep the spec's description; a column the vendor added says so."""
    columns: dict[str, Any] = {}
    for schema in schemas:
        if schema and t.name in schema.tables:
            for name, column in schema.get_table_columns(t.name).items():
                columns.setdefault(name, column)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                str(column.get("data_type") or "text"),
                description=_describe(t, name),
                constraints=dg.TableColumnConstraints(nullable=column.get("nullable") is not False),
            )
            for name, column in columns.items()
        ]
    )


def destination_line(
    warehouse: Warehouse,
    vendor: VendorResource,
    accounts: tuple[Account, ...],
    tables: tuple[str, ...],
) -> str:
    """Where this step reads and writes, said once at its start: a run sent to the wrong host or
    file shows it in its first line. Base URLs lose any user info and query (never a key)."""
    target = (
        f"{warehouse.destination} ({warehouse.path})"
        if warehouse.is_duckdb
        else warehouse.destination
    )
    sources = ", ".join(
        f"{a.name} ({a.credential_variable}) at {_without_secrets(vendor.base_url(a))}"
        for a in accounts
    )
    names = ", ".join(sorted(tables))
    return f"loading {names} into {target}, dataset {vendor.vendor}, from {sources}"


def _without_secrets(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit(
        parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host, query="")
    )


def phases(specs: list[Table]) -> list[list[Table]]:
    """The selected tables in the order a step loads them: tables read per parent row (guests
    per event) after the others, so that no child is read before its parents' blocking checks
    have passed (Luma's source keeps the events it listed for them, `luma/source.py`)."""
    ordered = ([t for t in specs if not t.parent], [t for t in specs if t.parent])
    return [phase for phase in ordered if phase]


def checked_in(rounds: list[list[Table]], check: dg.AssetCheckKey) -> int:
    """The round after which a check runs: its table's, or, for a table not loaded, the last
    round if the table is read per parent row (its check can then stop nothing) else the first.
    """
    t = table(*check.asset_key.path)
    for number, phase in enumerate(rounds):
        if t in phase:
            return number
    return len(rounds) - 1 if t.parent else 0


def load(
    context: dg.AssetExecutionContext,
    warehouse_resource: WarehouseResource,
    vendor: VendorResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Load every account of the vendor at once, report rows, per-account rows and the HTTP
    cost per table, and run the selected checks (`checks.py`). With only checks selected,
    nothing is loaded. Tables read per parent row load in a second round (`phases`), a dlt run
    per account and round; each round's checks run once it has landed, and a failed one stops
    the next round.

    Accounts are read in parallel threads (each its own key and budget); the warehouse is held
    only while each loads (warehouse.py). One account failing does not stop the others: their
    rows land and are reported, through both rounds, then the step fails naming the accounts
    that did not. A transient failure retries the whole step, both rounds. Failures a person can
    fix (a key, an unreachable vendor, a busy warehouse) are one line; anything else keeps its
    traceback.
    """
    checks = context.selected_asset_check_keys
    try:
        warehouse = warehouse_resource.warehouse()
        if not context.selected_asset_keys:
            with warehouse.sql(vendor.vendor, context.log.info) as sql:
                yield from evaluate(sql, checks)
            return
        accounts = vendor.accounts()
        hard_delete = load_settings().hard_delete
    except Exception as error:
        if (cause := _root_cause(error)) is None:
            raise
        _fail(context, str(cause), getattr(cause, "transient", False))
    selected = tuple(key.path[-1] for key in context.selected_asset_keys)
    context.log.info(destination_line(warehouse, vendor, accounts, selected))

    arrow_pages = warehouse.loads_arrow  # asks the destination's capabilities: once per step
    sources: dict[str, tuple[VendorClient, DltSource]] = {}
    rounds = phases([table(vendor.vendor, name) for name in selected])

    def sync(specs: list[Table], account: Account) -> tuple[Synced, RequestStats]:
        # One client and source per account for the whole step: the second round reads the
        # listing of parents the first one read.
        if account.name not in sources:
            client = vendor.client(account)
            source = vendor.source(client, account, context.log.info, arrow_pages=arrow_pages)
            sources[account.name] = client, source
        client, source = sources[account.name]
        before = RequestStats.total([client.stats])
        children = [t for t in vendor_tables(vendor.vendor) if t.parent and t not in specs]
        # Read when the load is done, so it holds what the source found complete.
        vanished = Vanished(specs, children, account.name, client.stats.complete, hard_delete)
        names = (t.name for t in specs)
        synced = warehouse.sync(
            source.with_resources(*names), account.name, context.log.info, vanished
        )
        return synced, client.stats.since(before)

    failures: list[str] = []
    transient = True
    remaining = accounts
    try:
        for number, specs in enumerate(rounds):
            done, failed, transient_only = _each_account(
                vendor.vendor, remaining, partial(sync, specs), context, named=len(accounts) > 1
            )
            failures += failed
            transient &= transient_only
            remaining = tuple(a for a in remaining if a.name in done)
            if not remaining:
                break
            round_checks = [k for k in checks if checked_in(rounds, k) == number]
            passed = True
            for result in _report(context, warehouse, vendor.vendor, specs, done, round_checks):
                passed &= not isinstance(result, dg.AssetCheckResult) or result.passed
                yield result
            if not passed and number < len(rounds) - 1:
                unread = ", ".join(t.name for phase in rounds[number + 1 :] for t in phase)
                failures.append(f"{vendor.vendor}: a check failed, so {unread} were not read")
                transient = False
                break
    except Exception as error:  # reported with the accounts that failed before it
        if (cause := _root_cause(error)) is None:
            raise
        failures.append(str(cause))
        transient &= getattr(cause, "transient", False)
    if failures:
        _fail(context, "; ".join(failures), transient)


def _each_account(
    vendor: str,
    accounts: tuple[Account, ...],
    sync: Callable[[Account], tuple[Synced, RequestStats]],
    context: dg.AssetExecutionContext,
    named: bool,
) -> tuple[dict[str, tuple[Synced, RequestStats]], list[str], bool]:
    """`sync` for every account in parallel: what each loaded, the failures in one line each
    (`named`: prefixed with the account), and whether all of them were transient."""
    with ThreadPoolExecutor(len(accounts), thread_name_prefix=f"{vendor}-account") as pool:
        futures = {account: pool.submit(sync, account) for account in accounts}
        done: dict[str, tuple[Synced, RequestStats]] = {}
        failures: list[str] = []
        transient = True
        for account, future in futures.items():
            try:
                done[account.name] = future.result()
            except Exception as error:
                if (cause := _root_cause(error)) is None:
                    raise
                transient &= getattr(cause, "transient", False)
                failures.append(f"{account.name}: {cause}" if named else str(cause))
                context.log.error(failures[-1])
    return done, failures, transient


def _report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    vendor: str,
    specs: list[Table],
    done: dict[str, tuple[Synced, RequestStats]],
    checks: list[dg.AssetCheckKey],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """What the accounts loaded into these tables, from the warehouse, then the checks."""
    children = [t for t in vendor_tables(vendor) if t.parent and t not in specs]
    total = RequestStats.total([stats for _, stats in done.values()])
    load_ids = [load_id for synced, _ in done.values() for load_id in synced.load_ids]
    with warehouse.sql(vendor, context.log.info) as sql:
        counts = row_counts(sql, (t.name for t in specs))
        # dlt creates a table with its first row: one that never had any has no table yet.
        tables = existing_tables(sql, counts)
        loaded = {
            t.name: loaded_by_account(sql, t.name, load_ids) for t in specs if t.name in tables
        }
        previews = {t.name: preview(sql, t, load_ids if t.name in tables else []) for t in specs}
        unchecked: Exception | None = None
        try:
            checked = evaluate(sql, checks)
        except Exception as error:  # raised once what landed is reported
            checked, unchecked = [], error
        warehouse.refresh_reader_copy(context.log.info)
    live = ", ".join(f"{name} {n} rows" for name, n in counts.items())
    context.log.info(f"{vendor}: {live}; {total.summary()}")
    for warning in (w for t in specs for w in total.warnings.get(t.name, [])):
        context.log.warning(warning)
    schemas = [synced.schema for synced, _ in done.values()]

    def vanished(name: str) -> int:
        return sum(synced.vanished.get(name, 0) for synced, _ in done.values())

    for t in specs:
        by_account = {name: loaded.get(t.name, {}).get(name, 0) for name in done}
        yield dg.MaterializeResult(
            asset_key=asset_key(t),
            metadata={
                "rows_loaded": sum(by_account.values()),
                "rows_loaded_by_account": by_account,
                "rows_vanished": vanished(t.name),
                **{
                    f"{child.name}_vanished_with_their_parent": vanished(child.name)
                    for child in children
                    if child.parent and child.parent[1] == t.name
                },
                "dagster/row_count": counts[t.name],
                "dagster/column_schema": landed_columns(t, schemas),
                "dagster/table_name": f"{t.vendor}.{t.name}",
                "preview": previews[t.name],
                "rejected_null_key_records": total.rejected[t.name],
                "warnings": dg.MetadataValue.md(
                    "\n".join(f"- {w}" for w in total.warnings.get(t.name, [])) or "none"
                ),
                **total.as_metadata(),
            },
        )
    if unchecked is not None:
        raise unchecked
    yield from checked
