"""Luma's two generations of routes, and the one shape the warehouse keeps whichever fed it.

Luma serves its older routes (`/v1/calendar/list-events`, `/v1/event/get-guests`, the seeds') and
its current ones (`/v1/calendars/events/list`, `/v1/events/guests/list`) side by side; which one a
sync calls is `LUMA_API_VERSION` (or an account's `api_version`). A table documented on one
generation only is read there whichever is chosen. Records of a current route are renamed to the
older shape (`from_current`), so a table's columns and their meaning do not depend on the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from eventsync_dagster.spec import Table

Generation = Literal["legacy", "current"]
LEGACY: Generation = "legacy"
CURRENT: Generation = "current"
GENERATIONS: tuple[str, ...] = (LEGACY, CURRENT)
EVENT_PARAM: dict[str, str] = {LEGACY: "event_api_id", CURRENT: "event_id"}
"""The query parameter naming the event of a per-event route."""


@dataclass(frozen=True)
class Route:
    path: str
    generation: str

    @property
    def event_param(self) -> str:
        return EVENT_PARAM[self.generation]

    def shaped(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records in the warehouse's (older routes') shape."""
        return [from_current(r) for r in records] if self.generation == CURRENT else records


def route(table: Table, generation: str) -> Route:
    """The table's route on `generation`, or on the only generation it is documented on."""
    if generation in table.routes:
        return Route(table.routes[generation], generation)
    ((only, path),) = table.routes.items()
    return Route(path, only)


OLDER_NAMES = {
    "id": "api_id",
    "user_id": "user_api_id",
    "calendar_id": "calendar_api_id",
    "event_id": "event_api_id",
    "event_ticket_type_id": "event_ticket_type_api_id",
}
"""The current routes' id fields and their older names; any other field keeps its name."""


def _older_names(record: dict[str, Any]) -> dict[str, Any]:
    for current, older in OLDER_NAMES.items():
        if current in record and older not in record:
            record[older] = record.pop(current)
    return record


def moment(value: str) -> datetime:
    """A Luma timestamp (ISO 8601, `Z` for UTC) as a datetime, to compare instants, not text."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def from_current(record: dict[str, Any]) -> dict[str, Any]:
    """A current route's record as the older route's: ids renamed (`OLDER_NAMES`, also inside
    tags and tickets), `coordinate` as `geo_latitude`/`geo_longitude`, and a guest's check-in
    and ticket taken from its tickets (the current routes keep them per ticket only)."""
    _older_names(record)
    for name in ("tags", "event_tickets"):
        if isinstance(record.get(name), list):
            record[name] = [_older_names(v) if isinstance(v, dict) else v for v in record[name]]
    coordinate = record.pop("coordinate", None)
    if isinstance(coordinate, dict):
        record.setdefault("geo_latitude", coordinate.get("latitude"))
        record.setdefault("geo_longitude", coordinate.get("longitude"))
    tickets = [t for t in record.get("event_tickets") or [] if isinstance(t, dict)]
    if tickets:
        record.setdefault("event_ticket", tickets[0])
        check_ins = [str(t["checked_in_at"]) for t in tickets if t.get("checked_in_at")]
        if record.get("checked_in_at") is None and check_ins:
            record["checked_in_at"] = min(check_ins, key=moment)  # the first ticket in
    return record
