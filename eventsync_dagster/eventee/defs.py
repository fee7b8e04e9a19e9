"""Eventee in Dagster: the resource carrying the events' tokens, the assets, the sync job, the
daily schedule and the change sensor. The dlt code they run is `source.py` (no Dagster)."""

from collections.abc import Callable, Iterator
from typing import ClassVar

import dagster as dg
from dlt.extract.source import DltSource

from eventsync_dagster.accounts import Account
from eventsync_dagster.automation import change_sensor, daily_schedule, sync_job
from eventsync_dagster.eventee import poll
from eventsync_dagster.eventee.source import DEFAULT_BASE_URL, eventee_client, eventee_source
from eventsync_dagster.http import HttpSettings, VendorClient
from eventsync_dagster.ingest import PLACEHOLDER, load, vendor_assets
from eventsync_dagster.resources import (
    VendorResource,
    WarehouseResource,
    http_settings,
    pii_arguments,
)
from eventsync_dagster.settings import load as load_settings


class EventeeResource(VendorResource):
    """Eventee events (one token is one event)."""

    vendor: ClassVar[str] = "eventee"
    base_url_variable: ClassVar[str] = "EVENTEE_BASE_URL"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL

    def client(self, account: Account, http: HttpSettings | None = None) -> VendorClient:
        return eventee_client(
            self.credential(account),
            self.base_url(account),
            http=http or http_settings(),
            credential_variable=account.credential_variable,
            dlt_secret_key=account.dlt_secret_key,
            base_url_variable=self.base_url_origin(account),
        )

    def source(
        self,
        client: VendorClient,
        account: Account,
        log: Callable[[str], None] | None = None,
        arrow_pages: bool = False,
    ) -> DltSource:
        return eventee_source(
            client=client,
            log=log,
            account=account.name,
            arrow_pages=arrow_pages,
            **pii_arguments(load_settings()),
        )


# One op: one `/content` response feeds seven tables.
@vendor_assets(eventee_source(api_token=PLACEHOLDER), "eventee", "eventee")
def eventee_assets(
    context: dg.AssetExecutionContext, eventee: EventeeResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    yield from load(context, warehouse, eventee)


JOB = sync_job("eventee")
defs = dg.Definitions(
    assets=[eventee_assets],
    jobs=[JOB],
    schedules=[daily_schedule("eventee", JOB)],
    sensors=[
        change_sensor(
            "eventee",
            JOB,
            poll.poll,
            "Refreshes every Eventee table when programme, partners or participants change.",
        )
    ],
    resources={"eventee": EventeeResource()},
)
