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
    items: list[Any], query: Query, scope: str, faults: Faults, wrap: Callable[[Record], Any]
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
    records = faults.shape(rows, "api_id", first)
    if faults.more_without_cursor:
        more, cursor = True, None
    return 200, {"entries": [wrap(r) for r in records], "has_more": more, "next_cursor": cursor}


def list_events(data: Dataset, faults: Faults, query: Query) -> Reply:
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
    scope = f"events:{after}:{before}"
    return _page(events, query, scope, faults, _event_entry)


def _event_entry(event: Record) -> Record:
    """Luma's older routes list an event's tags beside it, not inside."""
    tag = str(event.get("name") or "").split(" ")[0]
    tags = [{"api_id": f"tag-{tag.lower()}", "name": tag}] if tag else []
    return {"api_id": event.get("api_id"), "event": event, "tags": tags}


def get_guests(data: Dataset, faults: Faults, query: Query) -> Reply:
    event_id = _param(query, "event_api_id")
    if not event_id:
        raise BadRequest("event_api_id is required")
    if status := faults.guest_status.get(event_id):
        return status, {"message": _phrase(status)}
    try:
        guests = data.guest_rows(event_id)
    except KeyError:
        return 404, {"message": "Event not found"}
    return _page(
        guests,
        query,
        f"guests:{event_id}",
        faults,
        lambda g: {"api_id": g.get("api_id"), "guest": g},
    )


def _eventee_list(records: list[Record], pk: str, faults: Faults) -> list[Record]:
    out = faults.shape(records, pk)
    if faults.duplicate_across_pages and out:
        out = [*out, out[0]]
    return out


def content(data: Dataset, faults: Faults, query: Query) -> Reply:
    return 200, {
        key: _eventee_list(data.content.get(key, []), "id", faults) for key in CONTENT_KEYS
    }


def partners(data: Dataset, faults: Faults, query: Query) -> Reply:
    rows = _eventee_list(data.partners, "id", faults)
    return 200, rows if faults.eventee_bare_lists else {"data": rows}


def participants(data: Dataset, faults: Faults, query: Query) -> Reply:
    rows = _eventee_list(data.participants, "email", faults)
    return 200, rows if faults.eventee_bare_lists else {"data": rows}


LUMA: dict[str, Callable[[Dataset, Faults, Query], Reply]] = {
    "/v1/calendar/list-events": list_events,
    "/v1/event/get-guests": get_guests,
}
EVENTEE: dict[str, Callable[[Dataset, Faults, Query], Reply]] = {
    "/public/v1/content": content,
    "/public/v1/partners": partners,
    "/public/v1/participants": participants,
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


CONTROL: dict[str, Callable[[Dataset, Faults, Query], Reply]] = {"/_control/remove": remove}
"""Changes to the fake's data over HTTP, outside both vendors' routes (no key needed)."""
