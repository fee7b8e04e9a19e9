"""Every dlt resource as a Dagster asset (`luma/events`, `eventee/lectures`, ...).

Luma's events and guests are two ops so that the blocking checks on `luma/events` run before any
guest is read; Eventee is one op, because one `/content` response feeds seven tables.
"""

import os
import tempfile
from collections.abc import Iterator

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from eventsync_dagster.resources import EventeeResource, LumaResource, WarehouseResource
from eventsync_dagster.sources.eventee import eventee_source
from eventsync_dagster.sources.http import SourceError
from eventsync_dagster.sources.luma import luma_source
from eventsync_dagster.tables import table
from eventsync_dagster.warehouse import Warehouse, WarehouseBusy, row_counts

OWNERS = ["team:data-platform"]
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
            }
        )


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


def _root_cause(error: BaseException) -> SourceError | WarehouseBusy | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, SourceError | WarehouseBusy):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def load(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    warehouse_resource: WarehouseResource,
    vendor: LumaResource | EventeeResource,
    tables: tuple[str, ...] | None = None,
) -> Iterator[dg.MaterializeResult]:
    """Run one dlt pipeline under the warehouse lock; report rows and the op's HTTP cost.

    Failures a person can fix (a key, an unreachable vendor, a busy warehouse) end the step
    with one line; anything else keeps its traceback.
    """
    try:
        client = vendor.client()
        source = vendor.source(client, context.log.info)
        if tables:
            source = source.with_resources(*tables)
        warehouse = warehouse_resource.warehouse()
        pipeline = warehouse.pipeline(source.name)
        with warehouse.lock(context.log.info):
            results = list(
                dlt.run(
                    context=context,
                    dlt_source=source,
                    dlt_pipeline=pipeline,
                    loader_file_format=warehouse.loader_file_format,
                )
            )
            with pipeline.sql_client() as sql:
                counts = row_counts(sql, (r.asset_key.path[-1] for r in results if r.asset_key))
    except Exception as error:
        cause = _root_cause(error)
        if cause is None:
            raise
        raise dg.Failure(description=str(cause), allow_retries=False) from None
    loaded = ", ".join(f"{table} {n} rows" for table, n in counts.items())
    context.log.info(f"{source.name}: {loaded}; {client.stats.summary()}")
    for result in results:
        assert result.asset_key, "dagster-dlt names the asset of every result"
        yield dg.MaterializeResult(
            asset_key=result.asset_key,
            metadata={
                "rows_loaded": 0,
                **(result.metadata or {}),
                "dagster/row_count": counts[result.asset_key.path[-1]],
                **client.stats.as_metadata(),
            },
        )


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
