"""Luma's cheap change poll, for the change sensor: one page of the events that still change, and
the first page of the contacts, contact tags and event tags.

Plain dlt/HTTP code (no Dagster): the sensor in `defs.py` fingerprints what this returns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from eventsync_dagster.accounts import Account
from eventsync_dagster.http import VendorClient
from eventsync_dagster.luma.source import read
from eventsync_dagster.luma.tables import EVENT_TAGS, EVENTS, PEOPLE, PERSON_TAGS
from eventsync_dagster.settings import Settings


def poll(client: VendorClient, account: Account, settings: Settings) -> tuple[Any, str]:
    """Upcoming events and those of the guest refresh window (`EVENTSYNC_GUEST_REFRESH_DAYS`),
    and the first page of contacts, contact tags and event tags: a new, changed or removed event
    or tag shows there, a contact when it is on that first page (Luma does not document their
    order; the daily schedule sees the rest). A per-event table (ticket types, coupons, blasts)
    changing alone is seen by the daily schedule, not here: polling it costs a request per event.

    Luma lists events by start, oldest first, so a calendar's plain first page never shows a new
    event once it has more than a page of them. The window starts at a UTC midnight, so it moves
    once a day (an event leaving it is a change, refreshed once). Luma has no `updated_at`, so the
    fingerprint covers every field of those rows.
    """
    generation = account.api_version or settings.luma_api_version
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    after = (today - timedelta(days=settings.guest_refresh_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pages = {
        table.name: next(islice(read(client, table, generation, params=params), 1), [])
        for table, params in (
            (EVENTS, {"after": after}),
            (PEOPLE, {}),
            (PERSON_TAGS, {}),
            (EVENT_TAGS, {}),
        )
    }
    summary = f"{len(pages[EVENTS.name])} events starting after {after[:10]}, " + ", ".join(
        f"{len(rows)} {name.replace('_', ' ')}"
        for name, rows in pages.items()
        if name != EVENTS.name
    )
    return pages, summary
