"""Luma as a pure dlt source: events, and the guests of every event.

Runs without Dagster (`dlt.pipeline(...).run(luma_source())` takes the key from
`[sources.luma] api_key` in `.dlt/secrets.toml` like any dlt source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.common import jsonpath
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client.auth import APIKeyAuth

from eventsync_dagster import pii
from eventsync_dagster.budget import SharedBudget, budget_path
from eventsync_dagster.http import (
    ALL,
    BoundedCursor,
    HttpSettings,
    RecordUnavailable,
    VendorClient,
    require_credential,
)
from eventsync_dagster.luma.tables import EVENTS, GUESTS
from eventsync_dagster.progress import Progress
from eventsync_dagster.rows import loadable
from eventsync_dagster.spec import DEFAULT_ACCOUNT

DEFAULT_BASE_URL = "https://public-api.luma.com"
API_KEY_VARIABLE = "LUMA_API_KEY"
PAGE_SIZE = 100
"""The largest page Luma accepts."""
GONE_OR_FOREIGN = (403, 404)
"""An event's guests answering these: the event was deleted mid-sync (404) or is an external
`calev-` event the key cannot read (403). That event is skipped, not the step."""


def luma_client(
    api_key: str | None,
    base_url: str = DEFAULT_BASE_URL,
    *,
    requests_per_minute: int | None = None,
    rate_window_seconds: float = 60.0,
    budget_dir: Path | None = None,
    http: HttpSettings | None = None,
    credential_variable: str = API_KEY_VARIABLE,
    dlt_secret_key: str = "sources.luma.api_key",
    base_url_variable: str = "LUMA_BASE_URL",
) -> VendorClient:
    """A client paced at the limit Luma announces for the key, in one budget with every other
    client of that key on the machine (`sources/budget.py`); `requests_per_minute` caps it.

    `credential_variable` and `dlt_secret_key` say where the key comes from, and
    `base_url_variable` where the URL does, for messages.
    """
    api_key = require_credential(api_key, credential_variable, dlt_secret_key)
    settings = http or HttpSettings()
    return VendorClient(
        vendor="Luma",
        credential_variable=credential_variable,
        base_url=base_url,
        auth=APIKeyAuth(name="x-luma-api-key", api_key=api_key, location="header"),
        settings=settings,
        base_url_variable=base_url_variable,
        budget=SharedBudget(
            budget_path(budget_dir, "luma", base_url, api_key, rate_window_seconds),
            window=rate_window_seconds,
            cap=requests_per_minute,
            max_wait=settings.max_retry_delay,
        ),
    )


# Compiled once: a sync makes a paginator per event, and dlt would parse string paths each time.
_NEXT_CURSOR, _HAS_MORE = jsonpath.compile_path("next_cursor"), jsonpath.compile_path("has_more")
ENTRIES = jsonpath.compile_path("entries")


def unwrap(entries: list[dict[str, Any]], wrapper: str) -> list[dict[str, Any]]:
    """The records of a page: `{api_id, event: {...}, tags}` entries as their `event` with the
    entry's `tags` beside it, and an entry without its wrapper (seen on the older routes too)
    as it is."""
    records = []
    for entry in entries:
        inner = entry.get(wrapper)
        if not isinstance(inner, dict):
            records.append(entry)
            continue
        if "tags" in entry and "tags" not in inner:
            inner["tags"] = entry["tags"]
        records.append(inner)
    return records


def _cursor(client: VendorClient, table: str, path: str) -> BoundedCursor:
    # Luma keeps sending a `next_cursor` on the last page: only `has_more` says when to stop.
    return BoundedCursor(
        table,
        path,
        client.stats,
        client.vendor,
        cursor_path=_NEXT_CURSOR,
        cursor_param="pagination_cursor",
        has_more_path=_HAS_MORE,
    )


def page_shape(body: Any) -> str | None:
    """What is wrong with a page of Luma's envelope (`{entries: [...], has_more, next_cursor}`)."""
    if not isinstance(body, dict):
        return f"{type(body).__name__} where an object belongs"
    entries = body.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return "no list of entries"
    if "has_more" not in body:
        return "no has_more"
    return None


def list_events(client: VendorClient, page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
    """Pages of events, unwrapped from their entries."""
    paginator = _cursor(client, EVENTS.name, EVENTS.endpoint)
    for page in client.pages(
        EVENTS.endpoint,
        params={"pagination_limit": page_size},
        paginator=paginator,
        data_selector=ENTRIES,
        expect=page_shape,
    ):
        yield unwrap(page, "event")
    if not paginator.truncated:
        client.stats.read_completely(EVENTS.name, ALL)


def ended_before(event: dict[str, Any], cutoff: datetime) -> bool:
    end = event.get("end_at") or event.get("start_at")
    if not end:
        return False
    return datetime.fromisoformat(str(end).replace("Z", "+00:00")) < cutoff


@dlt.source(name="luma", max_table_nesting=0)
def luma_source(
    api_key: str | None = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    page_size: int = PAGE_SIZE,
    guest_refresh_days: int = 30,
    full_refresh: bool = False,
    requests_per_minute: int | None = None,
    rate_window_seconds: float = 60.0,
    http: HttpSettings | None = None,
    client: VendorClient | None = None,
    log: Callable[[str], None] | None = None,
    hash_pii: bool = False,
    pii_salt: str | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> tuple[DltResource, DltResource]:
    """Events and their guests.

    Luma has no updated-since filter, so every sync reads all events. Guests are read per event;
    those of events that ended more than `guest_refresh_days` ago are read once more after the
    window closes and then kept as they are (`full_refresh=True` reads them all again).
    Every row carries `account`, the calendar's name in the accounts file.
    `hash_pii` stores guests' emails and phone numbers as salted SHA-256 (`pii.py`).
    """
    salt = pii.require_salt(pii_salt) if hash_pii else None
    client = client or luma_client(
        api_key,
        base_url,
        requests_per_minute=requests_per_minute,
        rate_window_seconds=rate_window_seconds,
        http=http,
    )
    progress = Progress("luma", client.stats, log, account=account)

    @dlt.resource(
        name=EVENTS.name,
        primary_key=list(EVENTS.primary_key),
        write_disposition="merge",
        columns=EVENTS.dlt_columns(),
    )
    def events() -> Iterator[list[dict[str, Any]]]:
        listed: set[str] = set()
        for page in list_events(client, page_size):
            progress.add(events_read=len(page))
            listed.update(str(event.get("api_id")) for event in page)
            yield page
        if ALL in client.stats.complete.get(EVENTS.name, set()):
            # An event gone from a complete listing has its guests marked with it: should it
            # come back, they are read again rather than kept as settled (and marked).
            settled = dlt.current.resource_state(GUESTS.name).get("settled_events", {})
            for event_id in set(settled.get(account, {})) - listed:
                del settled[account][event_id]

    @dlt.transformer(
        name=GUESTS.name,
        data_from=events,
        primary_key=list(GUESTS.primary_key),
        write_disposition="merge",
        columns=GUESTS.dlt_columns(),
    )
    def event_guests(event_page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        # Events whose guests were read after the refresh window had closed: they cannot change.
        # Per account: two calendars may list one event.
        state = dlt.current.resource_state().setdefault("settled_events", {})
        settled: dict[str, str] = state.setdefault(account, {})
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=guest_refresh_days)
        for event in event_page:
            event_id = event["api_id"]
            if event_id in settled and not full_refresh:
                progress.add(events_skipped=1)
                continue
            paginator = _cursor(client, GUESTS.name, f"{GUESTS.endpoint}?event_api_id={event_id}")
            try:
                for page in client.pages(
                    GUESTS.endpoint,
                    params={"event_api_id": event_id, "pagination_limit": page_size},
                    paginator=paginator,
                    data_selector=ENTRIES,
                    expect=page_shape,
                    record_statuses=GONE_OR_FOREIGN,
                ):
                    page = unwrap(page, "guest")
                    for guest in page:
                        guest["event_api_id"] = event_id
                    progress.add(guests_read=len(page))
                    yield page
            except RecordUnavailable as gone:
                why = "deleted since it was listed" if gone.status == 404 else "not this key's"
                client.stats.warn(
                    GUESTS.name,
                    f"skipped the guests of event {event_id}: Luma answered {gone.status} "
                    f"({why}); its other guests were not read",
                )
                progress.add(events_skipped_unavailable=1)
                continue
            progress.add(events_done=1)
            if paginator.truncated:
                continue
            client.stats.read_completely(GUESTS.name, event_id)
            if ended_before(event, cutoff):
                settled[event_id] = now.isoformat()

    loadable(events, EVENTS, progress)
    loadable(event_guests, GUESTS, progress)
    if salt:
        pii.protect(event_guests, GUESTS, salt)
    return events, event_guests
