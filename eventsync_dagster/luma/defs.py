"""Luma in Dagster: the resource carrying the calendars' keys, the assets, the sync job, the daily
schedule and the change sensor. The dlt code they run is `source.py` (no Dagster)."""

from collections.abc import Callable, Iterator
from typing import ClassVar

import dagster as dg
from dlt.extract.source import DltSource
from pydantic import Field

from eventsync_dagster.accounts import Account
from eventsync_dagster.automation import change_sensor, daily_schedule, sync_job
from eventsync_dagster.http import HttpSettings, VendorClient
from eventsync_dagster.ingest import PLACEHOLDER, load, vendor_assets
from eventsync_dagster.luma import poll
from eventsync_dagster.luma.source import DEFAULT_BASE_URL, luma_client, luma_source
from eventsync_dagster.resources import (
    VendorResource,
    WarehouseResource,
    http_settings,
    pii_arguments,
)
from eventsync_dagster.settings import load as load_settings


class LumaResource(VendorResource):
    """Luma calendars: their keys and how hard to use them."""

    vendor: ClassVar[str] = "luma"
    base_url_variable: ClassVar[str] = "LUMA_BASE_URL"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    requests_per_minute: int | None = Field(
        default=None,
        description="A cap on requests per minute per key; defaults to $LUMA_REQUESTS_PER_MINUTE, "
        "else none: the key is paced at the limit Luma announces (200 for a calendar key, 500 "
        "for an organisation key).",
    )
    guest_refresh_days: int | None = Field(
        default=None,
        description="Guests of events that ended longer ago are read once more, then kept; "
        "defaults to $EVENTSYNC_GUEST_REFRESH_DAYS, then 30.",
    )
    full_refresh: bool = Field(
        default=False,
        description="Read the guests of every event again ($EVENTSYNC_FULL_REFRESH=1).",
    )

    def client(self, account: Account, http: HttpSettings | None = None) -> VendorClient:
        settings = load_settings()
        return luma_client(
            self.credential(account),
            self.base_url(account),
            requests_per_minute=self.requests_per_minute or settings.luma_requests_per_minute,
            rate_window_seconds=settings.luma_rate_window_seconds,
            budget_dir=settings.budget_dir,
            http=http or http_settings(settings),
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
        settings = load_settings()
        return luma_source(
            client=client,
            guest_refresh_days=(
                settings.guest_refresh_days
                if self.guest_refresh_days is None
                else self.guest_refresh_days
            ),
            full_refresh=self.full_refresh or settings.full_refresh,
            log=log,
            account=account.name,
            api_version=account.api_version or settings.luma_api_version,
            arrow_pages=arrow_pages,
            **pii_arguments(settings),
        )


# One op: the per-event tables are read in its second round, after the blocking checks of the
# calendar-wide tables, from the same listing of the events (`ingest.phases`).
@vendor_assets(luma_source(api_key=PLACEHOLDER), "luma", "luma")
def luma_assets(
    context: dg.AssetExecutionContext, luma: LumaResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    yield from load(context, warehouse, luma)


JOB = sync_job("luma")
defs = dg.Definitions(
    assets=[luma_assets],
    jobs=[JOB],
    schedules=[daily_schedule("luma", JOB)],
    sensors=[
        change_sensor(
            "luma",
            JOB,
            poll.poll,
            "Refreshes every Luma table when the calendar's events, contacts or tags change.",
        )
    ],
    resources={"luma": LumaResource()},
)
