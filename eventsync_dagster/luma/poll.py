"""Luma's cheap change poll, for the change sensor: one page of the events that still change.

Plain dlt/HTTP code (no Dagster): the sensor in `defs.py` fingerprints what this returns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dlt.sources.helpers.rest_client.paginators import SinglePagePaginator

from eventsync_dagster.http import VendorClient
from eventsync_dagster.luma.source import ENTRIES, PAGE_SIZE, page_shape, unwrap
from eventsync_dagster.luma.tables import EVENTS
from eventsync_dagster.settings import Settings


def poll(client: VendorClient, settings: Settings) -> tuple[Any, str]:
    """Upcoming events and those of the guest refresh window (`EVENTSYNC_GUEST_REFRESH_DAYS`):
    a new, changed or removed event shows there.

    Luma lists events by start, oldest first, so a calendar's plain first page never shows a new
    event once it has more than a page of them. The window starts at a UTC midnight, so it moves
    once a day (an event leaving it is a change, refreshed once). Luma has no `updated_at`, so the
    fingerprint covers every field of those events.
    """
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    after = (today - timedelta(days=settings.guest_refresh_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = unwrap(
        next(
            client.pages(
                EVENTS.endpoint,
                params={"after": after, "pagination_limit": PAGE_SIZE},
                paginator=SinglePagePaginator(),
                data_selector=ENTRIES,
                expect=page_shape,
            ),
            [],
        ),
        "event",
    )
    return page, f"{len(page)} events starting after {after[:10]}"
