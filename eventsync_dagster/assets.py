"""Every dlt resource as a Dagster asset (`luma/events`, `eventee/lectures`, ...).

Luma's events and guests are two ops so that the blocking checks on `luma/events` run before any
guest is read; Eventee is one op, because one `/content` response feeds seven tables.
"""

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.destinations.sql_client import SqlClientBase

from eventsync_dagster.accounts import AccountsFileError
from eventsync_dagster.resources import EventeeResource, LumaResource, WarehouseResource
from eventsync_dagster.sources.eventee import eventee_source
from eventsync_dagster.sources.http import RequestStats, SourceError
from eventsync_dagster.sources.luma import luma_source
from eventsync_dagster.tables import ACCOUNT, Table, table
from eventsync_dagster.warehouse import Warehouse, WarehouseBusy, query, row_counts

OWNERS = ["team:data-platform"]
PREVIEW_ROWS = 5
WAREHOUSE_POOL = "eventsync_warehouse"
"""Dagster pool of every step that writes or reads the warehouse (limit it to 1 per instance)."""


class EventsyncTranslator(DagsterDltTranslator):
    """Keys, lineage and docs come from the table spec, not from dlt's naming."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        t = table(data.resource.source_name, data.resource.name)
        destination = data.destination.destination_name if data.destination else "duckdb"
        return spec.replace_attributes(
            key=t.asset_key,
            deps=[table(t.vendor, name).asset_key for name in t.upstream],
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
                "dagster/table_name": f"{t.vendor}.{t.name}",
                "dagster/column_schema": column_schema(t),
                **{
                    f"joins {column}": dg.MetadataValue.asset(
                        table(t.vendor, target.split(".")[0]).asset_key
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
                data_type,
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
            for name, data_type in t.columns.items()
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
_PLACEHOLDER = "declared-without-credentials"


def _declared_pipeline(vendor: str) -> dlt.Pipeline:
    """Declares the assets at load time only (runs build their own): keeps no state in the repo."""
    return dlt.pipeline(
        pipeline_name=f"eventsync_{vendor}",
        destination=Warehouse.from_env().destination,
        dataset_name=vendor,
        pipelines_dir=os.path.join(tempfile.gettempdir(), "eventsync_declarations"),
    )


def _root_cause(error: BaseException) -> Exception | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, SourceError | WarehouseBusy | AccountsFileError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(error: Exception) -> str | None:
    cause = _root_cause(error)
    return None if cause is None else str(cause)


def load(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    warehouse_resource: WarehouseResource,
    vendor: LumaResource | EventeeResource,
    tables: tuple[str, ...] | None = None,
) -> Iterator[dg.MaterializeResult]:
    """Load every account of the vendor, one dlt run each under the warehouse lock, and report
    rows, per-account rows and the HTTP cost per table.

    One account failing does not stop the others: their rows land and are reported, then the
    step fails naming the accounts that did not. Failures a person can fix (a key, an
    unreachable vendor, a busy warehouse) are one line; anything else keeps its traceback.
    """
    try:
        warehouse = warehouse_resource.warehouse()
        accounts = vendor.accounts()
    except Exception as error:
        if (line := _one_line(error)) is None:
            raise
        raise dg.Failure(description=line, allow_retries=False) from None
    merged: dict[dg.AssetKey, dict[str, Any]] = {}
    by_account: dict[dg.AssetKey, dict[str, int]] = {}
    stats: list[RequestStats] = []
    failures: list[str] = []
    load_ids: list[str] = []
    for account in accounts:
        try:
            client = vendor.client(account)
            stats.append(client.stats)
            source = vendor.source(client, account, context.log.info)
            if tables:
                source = source.with_resources(*tables)
            pipeline = warehouse.pipeline(vendor.vendor)
            with warehouse.lock(context.log.info):
                results = list(
                    dlt.run(
                        context=context,
                        dlt_source=source,
                        dlt_pipeline=pipeline,
                        loader_file_format=warehouse.loader_file_format,
                    )
                )
            trace = pipeline.last_trace
            if trace and trace.last_load_info:
                load_ids += trace.last_load_info.loads_ids
        except Exception as error:
            if (line := _one_line(error)) is None:
                raise
            failures.append(line if len(accounts) == 1 else f"{account.name}: {line}")
            context.log.error(failures[-1])
            continue
        for result in results:
            assert result.asset_key, "dagster-dlt names the asset of every result"
            metadata = dict(result.metadata or {})
            rows = metadata.get("rows_loaded", dg.MetadataValue.int(0))
            assert isinstance(rows, dg.IntMetadataValue), "dagster-dlt reports rows as an int"
            by_account.setdefault(result.asset_key, {})[account.name] = rows.value or 0
            merged[result.asset_key] = metadata
    if merged:
        total = RequestStats.total(stats)
        with warehouse.lock(), warehouse.pipeline(vendor.vendor).sql_client() as sql:
            counts = row_counts(sql, (key.path[-1] for key in merged))
            previews = {
                key: preview(sql, table(vendor.vendor, key.path[-1]), load_ids) for key in merged
            }
        loaded = ", ".join(f"{name} {n} rows" for name, n in counts.items())
        context.log.info(f"{vendor.vendor}: {loaded}; {total.summary()}")
        for key, metadata in merged.items():
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **metadata,
                    "rows_loaded": sum(by_account[key].values()),
                    "rows_loaded_by_account": by_account[key],
                    "dagster/row_count": counts[key.path[-1]],
                    "preview": previews[key],
                    "rejected_null_key_records": total.rejected[key.path[-1]],
                    **total.as_metadata(),
                },
            )
    if failures:
        raise dg.Failure(description="; ".join(failures), allow_retries=False)


@dlt_assets(
    dlt_source=luma_source(api_key=_PLACEHOLDER).with_resources("events"),
    dlt_pipeline=_declared_pipeline("luma"),
    name="luma_events",
    dagster_dlt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
)
def luma_events_assets(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    luma: LumaResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    yield from load(context, dlt, warehouse, luma, ("events",))


@dlt_assets(
    dlt_source=luma_source(api_key=_PLACEHOLDER).with_resources("event_guests"),
    dlt_pipeline=_declared_pipeline("luma"),
    name="luma_event_guests",
    dagster_dlt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
)
def luma_guests_assets(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    luma: LumaResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    yield from load(context, dlt, warehouse, luma, ("event_guests",))


@dlt_assets(
    dlt_source=eventee_source(api_token=_PLACEHOLDER),
    dlt_pipeline=_declared_pipeline("eventee"),
    name="eventee",
    dagster_dlt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
)
def eventee_assets(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    eventee: EventeeResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    yield from load(context, dlt, warehouse, eventee)
