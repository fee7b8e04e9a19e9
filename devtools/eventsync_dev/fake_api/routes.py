"""Endpoint bodies of both vendors, as plain functions of (dataset, faults, query)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from .data import Dataset, Record
from .faults import Faults

Query = dict[str, list[str]]
Reply = tuple[int, Any]  # (status, JSON-able payload or a ready-made bytes body)

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
CONTENT_KEYS = ("halls", "days", "lectures", "speakers", "workshops", "pauses", "tracks")


class BadRequest(Exception):
    """A 400 with this message, as Luma answers malformed parameters."""


def _cursor(scope: str, offset: int) -> str:
    """Opaque but checkable: a foreign or made-up cursor is detected and refused."""
    sig = hashlib.blake2b(f"{scope}:{offset}".encode(), digest_size=6).hexdigest()
    return f"{sig}{offset:x}"


def _offset(scope: str, cursor: str) -> int:
    try:
        offset = int(cursor[12:], 16)
    except ValueError:
        raise BadRequest("Invalid pagination_cursor") from None
    if offset < 0 or _cursor(scope, offset) != cursor:
        raise BadRequest("Invalid pagination_cursor")
    return offset


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _limit(query: Query) -> int:
    raw = _param(query, "pagination_limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("pagination_limit must be an integer") from None
    if limit < 1:
        raise BadRequest("pagination_limit must be positive")
    return min(limit, MAX_LIMIT)


def _when(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _page(
    items: list[Any],
    query: Query,
    scope: str,
    faults: Faults,
    wrap: Callable[[Record], Any] = dict,
    pk: str = "api_id",
) -> Reply:
    """One page of Luma's cursor envelope; the last page still carries a next_cursor.

    ``items`` are records, or ready-made entry JSON strings (see Dataset.guest_rows), which
    are spliced into the body as they are unless a record-level fault needs real dicts.
    """
    limit = _limit(query)
    raw = _param(query, "pagination_cursor")
    offset = _offset(scope, raw) if raw else 0
    end = min(offset + limit, len(items))
    first = offset - 1 if faults.duplicate_across_pages and 0 < offset <= len(items) else offset
    rows = items[first:end]
    more = end < len(items)
    cursor: str | None = _cursor(scope, end)
    if faults.repeat_cursor:
        more, cursor = True, _cursor(scope, min(limit, len(items)))
    if rows and isinstance(rows[0], str):
        if not faults.shapes_records and not faults.more_without_cursor:
            entries = ",".join(rows)
            body = (
                f'{{"entries":[{entries}],"has_more":{str(more).lower()},"next_cursor":"{cursor}"}}'
            )
            return 200, body.encode()
        rows = [json.loads(row)["guest"] for row in rows]
    records = faults.shape(rows, pk, first)
    if faults.more_without_cursor:
        more, cursor = True, None
    return 200, {"entries": [wrap(r) for r in records], "has_more": more, "next_cursor": cursor}


def _events_between(data: Dataset, query: Query) -> tuple[list[Record], str]:
    events = data.events
    after, before = _param(query, "after"), _param(query, "before")
    if after or before:
        lo = _when(after, "after") if after else None
        hi = _when(before, "before") if before else None
        kept = []
        for event in events:
            start = event.get("start_at")
            if not start:
                continue
            moment = datetime.fromisoformat(start)
            if (lo is None or moment >= lo) and (hi is None or moment < hi):
                kept.append(event)
        events = kept
    return events, f"events:{after}:{before}"


def list_events(data: Dataset, faults: Faults, query: Query) -> Reply:
    events, scope = _events_between(data, query)
    return _page(events, query, scope, faults, _event_entry)


def _tags(event: Record) -> list[Record]:
    tag = str(event.get("name") or "").split(" ")[0]
    return [{"api_id": f"tag-{tag.lower()}", "name": tag}] if tag else []


def _event_entry(event: Record) -> Record:
    """Luma's older routes list an event's tags beside it, not inside."""
    return {"api_id": event.get("api_id"), "event": event, "tags": _tags(event)}


def _current(record: Record, *dropped: str) -> Record:
    """A record as Luma's current routes write it: flat, `id` and `*_id` for `api_id` and
    `*_api_id`, without the fields those routes no longer send."""
    out: Record = {}
    for key, value in record.items():
        if key in dropped:
            continue
        if key == "api_id":
            key = "id"
        elif key.endswith("_api_id"):
            key = key[: -len("_api_id")] + "_id"
        out[key] = value
    return out


def _current_event(event: Record) -> Record:
    out = _current(event, "geo_latitude", "geo_longitude")
    lat, lon = event.get("geo_latitude"), event.get("geo_longitude")
    out["coordinate"] = (
        None if lat is None or lon is None else {"latitude": float(lat), "longitude": float(lon)}
    )
    out["calendar_id"] = "cal-meetups"
    out["platform"] = "luma"
    out["tags"] = [{"id": t["api_id"], "name": t["name"]} for t in _tags(event)]
    return out


def _current_guest(guest: Record) -> Record:
    """No singular ticket, email, name or created_at; the check-in is on each ticket."""
    out = _current(guest, "event_ticket", "email", "name", "created_at", "checked_in_at")
    out["event_tickets"] = [
        {
            **_current(ticket),
            "amount_tax": 0,
            "currency": "usd",
            "is_captured": True,
            "checked_in_at": guest.get("checked_in_at"),
        }
        for ticket in guest.get("event_tickets") or []
    ]
    return out


def events_list(data: Dataset, faults: Faults, query: Query) -> Reply:
    """The current route of list-events."""
    events, scope = _events_between(data, query)
    return _page([_current_event(e) for e in events], query, scope, faults, pk="id")


Route = Callable[[Dataset, Faults, Query], Reply]


def _of_event(
    param: str,
    read: Callable[[Dataset, str], Any],
    answer: Callable[[Any, str, Faults, Query], Reply],
) -> Route:
    """A route of one event's rows: the event named by `param`, a status the faults give it, or
    404 when there is no such event; else `answer` with what `read` finds."""

    def route(data: Dataset, faults: Faults, query: Query) -> Reply:
        event_id = _require(query, param)
        if status := faults.guest_status.get(event_id):
            return status, {"message": _phrase(status)}
        try:
            rows = read(data, event_id)
        except KeyError:
            return 404, {"message": "Event not found"}
        return answer(rows, event_id, faults, query)

    return route


get_guests = _of_event(
    "event_api_id",
    Dataset.guest_rows,
    lambda guests, event_id, faults, query: _page(
        guests,
        query,
        f"guests:{event_id}",
        faults,
        lambda g: {"api_id": g.get("api_id"), "guest": g},
    ),
)
guests_list = _of_event(
    "event_id",
    lambda data, event_id: [_current_guest(g) for g in data.guests(event_id)],
    lambda guests, event_id, faults, query: _page(
        guests, query, f"guests:{event_id}", faults, pk="id"
    ),
)
"""The current route of get-guests."""


def _require(query: Query, name: str) -> str:
    value = _param(query, name)
    if not value:
        raise BadRequest(f"{name} is required")
    return value


def _one_page(entries: list[Record]) -> Reply:
    return 200, {"entries": entries, "has_more": False, "next_cursor": None}


def _listing(name: str) -> Route:
    def route(data: Dataset, faults: Faults, query: Query) -> Reply:
        return _page(getattr(data, name), query, name, faults)

    return route


def event_tags(data: Dataset, faults: Faults, query: Query) -> Reply:
    return _one_page(data.event_tags)


def calendars(data: Dataset, faults: Faults, query: Query) -> Reply:
    if not data.organization:
        return 403, {"message": "This endpoint requires an organization API key"}
    return _page(data.calendars, query, "calendars", faults, pk="id")


def _per_event(table: str, paginated: bool) -> Route:
    def answer(rows: list[Record], event_id: str, faults: Faults, query: Query) -> Reply:
        if table == "ticket_types" and _param(query, "include_hidden") != "true":
            rows = [r for r in rows if not r.get("is_hidden")]
        if paginated:
            return _page(rows, query, f"{table}:{event_id}", faults, pk="id")
        return _one_page(rows)

    return _of_event("event_id", lambda data, event_id: data.per_event(table, event_id), answer)


def _eventee_list(records: list[Record], pk: str, faults: Faults) -> list[Record]:
    out = faults.shape(records, pk)
    if faults.duplicate_across_pages and out:
        out = [*out, out[0]]
    return out


def content(data: Dataset, faults: Faults, query: Query) -> Reply:
    return 200, {
        key: _eventee_list(data.content.get(key, []), "id", faults) for key in CONTENT_KEYS
    }


def _eventee(name: str) -> Route:
    """A listing under `data` (the seed), or bare (the real API), where one registration comes
    as a bare object."""

    def route(data: Dataset, faults: Faults, query: Query) -> Reply:
        rows = _eventee_list(
            getattr(data, name), "email" if name == "participants" else "id", faults
        )
        if not faults.eventee_bare_lists:
            return 200, {"data": rows}
        return 200, rows[0] if name == "registrations" and len(rows) == 1 else rows

    return route


LUMA: dict[str, Route] = {
    "/v1/calendar/list-events": list_events,
    "/v1/event/get-guests": get_guests,
    "/v1/calendar/list-people": _listing("people"),
    "/v1/calendar/list-person-tags": _listing("person_tags"),
    "/v1/calendars/events/list": events_list,
    "/v1/events/guests/list": guests_list,
    "/v1/calendars/event-tags/list": event_tags,
    "/v1/events/ticket-types/list": _per_event("ticket_types", paginated=False),
    "/v1/events/coupons/list": _per_event("event_coupons", paginated=True),
    "/v1/events/blasts/list": _per_event("event_blasts", paginated=False),
    "/v1/organizations/calendars/list": calendars,
}
EVENTEE: dict[str, Route] = {
    "/public/v1/content": content,
    **{
        f"/public/v1/{name}": _eventee(name)
        for name in ("partners", "participants", "groups", "reviews", "registrations")
    },
}


def remove(data: Dataset, faults: Faults, query: Query) -> Reply:
    """`POST /_control/remove?table=…&key=…[&event_api_id=…]`: the vendor deletes a row between
    syncs (a fake running on its own is changed through this, as tests change it in process)."""
    table, key = _param(query, "table"), _param(query, "key")
    if not table or not key:
        raise BadRequest("table and key are required")
    try:
        return 200, {"removed": data.remove(table, key, _param(query, "event_api_id"))}
    except KeyError:
        return 404, {"message": f"no {table} row {key}"}


CONTROL: dict[str, Route] = {"/_control/remove": remove}
"""Changes to the fake's data over HTTP, outside both vendors' routes (no key needed)."""
