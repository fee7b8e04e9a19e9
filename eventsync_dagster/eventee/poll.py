"""Eventee's change poll, for the change sensor: what a sync reads, in its three requests.

Plain HTTP code (no Dagster): the sensor in `defs.py` fingerprints what this returns.
"""

from __future__ import annotations

from typing import Any

from eventsync_dagster.eventee.source import content_shape, listing_shape, records
from eventsync_dagster.eventee.tables import CONTENT_TABLES
from eventsync_dagster.http import VendorClient
from eventsync_dagster.settings import Settings


def poll(client: VendorClient, settings: Settings) -> tuple[Any, str]:
    """All of `/content` plus partners and participants (Eventee has no cheaper change signal)."""
    content = client.get_json("/content", content_shape)
    partners = records(client.get_json("/partners", listing_shape))
    participants = records(client.get_json("/participants", listing_shape))
    sizes = {name: len(content.get(name) or []) for name in CONTENT_TABLES}
    sizes |= {"partners": len(partners), "participants": len(participants)}
    summary = ", ".join(f"{n} {name}" for name, n in sizes.items())
    return [content, partners, participants], summary
