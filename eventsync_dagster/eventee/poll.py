"""Eventee's change poll, for the change sensor: what a sync reads, in its six requests.

Plain HTTP code (no Dagster): the sensor in `defs.py` fingerprints what this returns.
"""

from __future__ import annotations

from typing import Any

from eventsync_dagster.accounts import Account
from eventsync_dagster.eventee.source import content_shape, read_listing
from eventsync_dagster.eventee.tables import CONTENT_TABLES, LISTINGS
from eventsync_dagster.http import VendorClient
from eventsync_dagster.settings import Settings


def poll(client: VendorClient, account: Account, settings: Settings) -> tuple[Any, str]:
    """All of `/content` plus every listing (Eventee has no cheaper change signal)."""
    content = client.get_json("/content", content_shape)
    listings = {t.name: read_listing(client, t) for t in LISTINGS}
    sizes = {name: len(content.get(name) or []) for name in CONTENT_TABLES}
    sizes |= {name: len(rows) for name, rows in listings.items()}
    summary = ", ".join(f"{n} {name}" for name, n in sizes.items())
    return [content, *listings.values()], summary
