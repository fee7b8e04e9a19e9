"""Luma as a pure dlt source: the calendar's events, contacts, tags and calendars, and per event
its guests, ticket types, coupons and blasts, on either generation of Luma's routes (`routes.py`).

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
from dlt.sources.helpers.rest_client.paginators import BasePaginator, SinglePagePaginator

from eventsync_dagster import pii
from eventsync_dagster.arrow import as_arrow
from eventsync_dagster.budget import SharedBudget, budget_path
from eventsync_dagster.http import (
    ALL,
    BoundedCursor,
    HttpSettings,
    RecordUnavailable,
    VendorClient,
    require_credential,
)
from eventsync_dagster.luma.routes import GENERATIONS, LEGACY, Route, moment, route
from eventsync_dagster.luma.tables import (
    CALENDARS,
    EVENT_BLASTS,
    EVENT_TAGS,
    EVENTS,
    GUESTS,
    PER_EVENT,
    TABLES,
    TICKET_TYPES,
)
from eventsync_dagster.progress import Progress
from eventsync_dagster.rows import loadable
from eventsync_dagster.spec import DEFAULT_ACCOUNT, Table

DEFAULT_BASE_URL = "https://public-api.luma.com"
API_KEY_VARIABLE = "LUMA_API_KEY"
PAGE_SIZE = 100
"""The largest page Luma accepts."""
GONE_OR_FOREIGN = (403, 404)
"""An event's guests (or ticket types, …) answering these: the event was deleted mid-sync (404)
or is an external `calev-` event the key cannot read (403). That event is skipped, not the step."""
NOT_AN_ORGANISATION = (403,)
"""The organisation route refusing a key (a bad key gets 401, which fails like anywhere else):
a calendar key. Its calendars are skipped with one line, not the step."""
WRAPPERS = {EVENTS.name: "event", GUESTS.name: "guest"}
"""Tables whose older route wraps each record in its entry (`{api_id, event: {...}}`)."""
ONE_PAGE = {EVENT_TAGS.name, TICKET_TYPES.name, EVENT_BLASTS.name}
"""Routes Luma answers in one page (no cursor)."""
EXTRA_PARAMS: dict[str, dict[str, Any]] = {TICKET_TYPES.name: {"include_hidden": "true"}}
BATCH_ROWS = 10_000
"""Rows of several events handed to dlt at once: each item costs dlt a schema pass."""


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


def unwrap(entries: list[dict[str, Any]], wrapper: str | None) -> list[dict[str, Any]]:
    """The records of a page: `{api_id, event: {...}, tags}` entries as their `event` with the
    entry's `tags` beside it, and an entry without its wrapper (seen on the older routes too)
    as it is."""
    if wrapper is None:
        return entries
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


def one_page_shape(body: Any) -> str | None:
    """A route Luma answers in one page: its entries are all there is."""
    problem = page_shape(body)
    return None if problem == "no has_more" else problem


def read(
    client: VendorClient,
    table: Table,
    generation: str,
    *,
    scope: str = ALL,
    params: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    record_statuses: tuple[int, ...] = (),
) -> Iterator[list[dict[str, Any]]]:
    """Pages of a table's records in the warehouse's shape; the listing (`scope`: the account's
    table, or one event's rows) is noted as read completely when it ended as Luma said."""
    way: Route = route(table, generation)
    one_page = table.name in ONE_PAGE
    label = way.path if scope == ALL else f"{way.path}?{way.event_param}={scope}"
    paginator: BasePaginator = (
        SinglePagePaginator() if one_page else _cursor(client, table.name, label)
    )
    query = {**EXTRA_PARAMS.get(table.name, {}), **(params or {})}
    if scope != ALL:
        query[way.event_param] = scope
    if not one_page:
        query["pagination_limit"] = page_size
    for page in client.pages(
        way.path,
        params=query,
        paginator=paginator,
        data_selector=ENTRIES,
        expect=one_page_shape if one_page else page_shape,
        record_statuses=record_statuses,
    ):
        yield way.shaped(unwrap(page, WRAPPERS.get(table.name)))
    if not getattr(paginator, "truncated", False):
        client.stats.read_completely(table.name, scope)


PER_EVENT_READS = ("api_id", "start_at", "end_at")
"""What the per-event tables read of an event (`rows`, `ended_before`)."""


def ended_before(event: dict[str, Any], cutoff: datetime) -> bool:
    end = event.get("end_at") or event.get("start_at")
    if not end:
        return False
    return moment(str(end)) < cutoff


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
    api_version: str = LEGACY,
    arrow_pages: bool = False,
) -> list[DltResource]:
    """The calendar's tables, and per event its guests, ticket types, coupons and blasts.

    Luma has no updated-since filter, so every sync reads all events, once per source: a later
    extract of the same source that loads only per-event tables (once the events' checks have
    passed) takes the listing from memory. The per-event tables are read per event; those of
    events that ended more than `guest_refresh_days` ago are read once more after the window
    closes and then kept as they are (`full_refresh=True` reads them all again). `api_version`
    picks the generation of Luma's routes (`routes.py`). Every row carries `account`, the
    calendar's name in the accounts file. `hash_pii` stores emails and phone numbers as salted
    SHA-256 (`pii.py`). `arrow_pages` hands dlt Arrow tables (`arrow.py`), for destinations that
    load them as they are.
    """
    if api_version not in GENERATIONS:
        raise ValueError(f"api_version must be {' or '.join(GENERATIONS)}, not {api_version!r}")
    salt = pii.require_salt(pii_salt) if hash_pii else None
    client = client or luma_client(
        api_key,
        base_url,
        requests_per_minute=requests_per_minute,
        rate_window_seconds=rate_window_seconds,
        http=http,
    )
    progress = Progress("luma", client.stats, log, account=account)

    # The events as the per-event reads need them, once this source has listed them.
    events_listed: list[list[dict[str, Any]]] | None = None

    @dlt.resource(**EVENTS.dlt_resource_hints())
    def events() -> Iterator[list[dict[str, Any]]]:
        nonlocal events_listed
        if events_listed is not None and not dlt.current.resource().selected:
            # Listed by this source already, and only feeding the per-event tables (the second
            # round): their fields are kept. A selected `events` is read again, as it loads.
            yield from events_listed
            return
        listed: set[str] = set()
        kept: list[list[dict[str, Any]]] = []
        for page in read(client, EVENTS, api_version, page_size=page_size):
            progress.add(events_read=len(page))
            listed.update(str(event.get("api_id")) for event in page)
            kept.append([{f: e.get(f) for f in PER_EVENT_READS} for e in page if e.get("api_id")])
            yield page
        events_listed = kept
        if ALL in client.stats.complete.get(EVENTS.name, set()):
            # An event gone from a complete listing has its rows marked with it: should it come
            # back, they are read again rather than kept as settled (and marked).
            for table in PER_EVENT:
                settled = dlt.current.resource_state(table.name).get("settled_events", {})
                for event_id in set(settled.get(account, {})) - listed:
                    del settled[account][event_id]

    def listing(table: Table) -> DltResource:
        def rows() -> Iterator[list[dict[str, Any]]]:
            statuses = NOT_AN_ORGANISATION if table is CALENDARS else ()
            try:
                for page in read(
                    client, table, api_version, page_size=page_size, record_statuses=statuses
                ):
                    progress.add(**{f"{table.name}_read": len(page)})
                    yield page
            except RecordUnavailable as refused:
                progress.log(
                    f"luma.calendars skipped for account {account}: Luma answered "
                    f"{refused.status}, so its key is a calendar key (organisation keys only)"
                )

        return dlt.resource(rows, **table.dlt_resource_hints())

    def per_event(table: Table) -> DltResource:
        noun = table.name.removeprefix("event_").replace("_", " ")  # guests, ticket types, …

        def rows(event_page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
            # Events whose rows were read after the refresh window had closed cannot change.
            # Per account: two calendars may list one event.
            state = dlt.current.resource_state().setdefault("settled_events", {})
            settled: dict[str, str] = state.setdefault(account, {})
            now = datetime.now(UTC)
            cutoff = now - timedelta(days=guest_refresh_days)
            batch: list[dict[str, Any]] = []  # many events' rows: dlt's cost is per item
            for event in event_page:
                event_id = event["api_id"]
                if event_id in settled and not full_refresh:
                    progress.add(**{f"events_skipped_for_{noun}": 1})
                    continue
                try:
                    for page in read(
                        client,
                        table,
                        api_version,
                        scope=event_id,
                        page_size=page_size,
                        record_statuses=GONE_OR_FOREIGN,
                    ):
                        for row in page:
                            row["event_api_id"] = event_id
                        progress.add(**{f"{noun}_read": len(page)})
                        batch.extend(page)
                        if len(batch) >= BATCH_ROWS:
                            yield batch
                            batch = []
                except RecordUnavailable as gone:
                    why = "deleted since it was listed" if gone.status == 404 else "not this key's"
                    client.stats.warn(
                        table.name,
                        f"skipped the {noun} of event {event_id}: Luma answered "
                        f"{gone.status} ({why}); its other {noun} were not read",
                    )
                    progress.add(**{f"events_unavailable_for_{noun}": 1})
                    continue
                if table is GUESTS:  # the progress line's "events done"
                    progress.add(events_done=1)
                if event_id in client.stats.complete.get(table.name, set()) and ended_before(
                    event, cutoff
                ):
                    settled[event_id] = now.isoformat()
            if batch:
                yield batch

        return dlt.transformer(rows, data_from=events, **table.dlt_resource_hints())

    made: dict[str, DltResource] = {EVENTS.name: events}
    made |= {t.name: listing(t) for t in TABLES if t is not EVENTS and not t.parent}
    made |= {t.name: per_event(t) for t in PER_EVENT}
    resources = [loadable(made[t.name], t, progress) for t in TABLES]
    if salt:
        resources = [pii.protect(r, t, salt) for r, t in zip(resources, TABLES, strict=True)]
    if arrow_pages:  # not the events: they feed the per-event transformers, which read records
        resources = [
            r if t is EVENTS else as_arrow(r, t) for r, t in zip(resources, TABLES, strict=True)
        ]
    return resources
