"""The one table spec: every synced table's key, required fields and typed columns.

Sources take their dlt hints from here, the asset checks read keys and required fields from here,
the Dagster translator takes keys, descriptions and lineage from here, and the README's table list
is generated from here (`python -m eventsync_dagster.tables`). A new table added here gets all of
that for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

import dagster as dg
from dlt.common.schema.typing import TColumnSchema, TDataType

# dlt data types. Nested objects and lists are kept as JSON columns rather than child tables: the
# vendors' nested shapes vary (a registration answer is a string, a bool, a list or null), and one
# JSON column per field keeps the table list stable while the vendors evolve.
TEXT, BIGINT, TIMESTAMP, JSON = "text", "bigint", "timestamp", "json"
ACCOUNT = "account"
"""The column naming the account (calendar or event) a row came from: see accounts.py."""
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class Table:
    vendor: str
    """Dagster group, dlt source name and warehouse dataset (schema)."""
    name: str
    """dlt resource name and warehouse table name."""
    description: str
    endpoint: str
    natural_key: tuple[str, ...]
    """The vendor's key; the warehouse key adds `account` (one deployment, several accounts)."""
    source_columns: Mapping[str, str]
    """Typed columns from the seeds; the vendors send more, which dlt adds as it sees them."""
    required: tuple[str, ...] = ()
    """Fields the seeds mark as never null, besides the primary key."""
    references: Mapping[str, str] = field(default_factory=dict)
    """Columns that point at another table of the vendor (`"table.column"`), within an account."""
    preview: tuple[str, ...] = ()
    """Columns shown in the materialization's preview of new rows: never personal data."""

    @property
    def upstream(self) -> tuple[str, ...]:
        """Tables this one is read through and joins to (lineage in Dagster)."""
        return tuple(dict.fromkeys(target.split(".")[0] for target in self.references.values()))

    @property
    def primary_key(self) -> tuple[str, ...]:
        return (ACCOUNT, *self.natural_key)

    @property
    def columns(self) -> Mapping[str, str]:
        return {ACCOUNT: TEXT, **self.source_columns}

    @property
    def not_null(self) -> tuple[str, ...]:
        return self.primary_key + tuple(f for f in self.required if f not in self.primary_key)

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.vendor, self.name])

    def dlt_columns(self) -> dict[str, TColumnSchema]:
        """Column hints for dlt: types, and nullability of the key and required fields."""
        return {
            name: {"data_type": cast(TDataType, data_type), "nullable": name not in self.not_null}
            for name, data_type in self.columns.items()
        }


def _columns(**types: str) -> Mapping[str, str]:
    return MappingProxyType(types)


_EVENTEE_CONTENT_TIMES = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP}
_EVENTEE_SESSION = _columns(
    id=BIGINT,
    event_id=BIGINT,
    event_day_id=BIGINT,
    hall_id=BIGINT,
    name=TEXT,
    description=TEXT,
    start=TIMESTAMP,
    end=TIMESTAMP,
    speakers=JSON,
    tracks=JSON,
    files=JSON,
    booking_info=JSON,
    capacity=BIGINT,
    **_EVENTEE_CONTENT_TIMES,
)

TABLES: tuple[Table, ...] = (
    Table(
        vendor="luma",
        name="events",
        description="Events of the Luma calendar (one row per event).",
        endpoint="/v1/calendar/list-events",
        natural_key=("api_id",),
        preview=("api_id", "name", "start_at", "end_at", "visibility"),
        source_columns=_columns(
            api_id=TEXT,
            name=TEXT,
            description=TEXT,
            description_md=TEXT,
            cover_url=TEXT,
            created_at=TIMESTAMP,
            start_at=TIMESTAMP,
            end_at=TIMESTAMP,
            duration_interval=TEXT,
            event_type=TEXT,
            geo_address_json=JSON,
            geo_latitude=TEXT,
            geo_longitude=TEXT,
            meeting_url=TEXT,
            zoom_meeting_url=TEXT,
            timezone=TEXT,
            url=TEXT,
            user_api_id=TEXT,
            visibility=TEXT,
        ),
    ),
    Table(
        vendor="luma",
        name="event_guests",
        description=(
            "Guests (registrations) of each Luma event, read per event; `event_api_id` joins to "
            "luma.events. A guest `api_id` is per registration, `user_api_id` is the person."
        ),
        endpoint="/v1/event/get-guests",
        natural_key=("event_api_id", "api_id"),
        preview=("event_api_id", "api_id", "approval_status", "registered_at"),
        source_columns=_columns(
            event_api_id=TEXT,
            api_id=TEXT,
            approval_status=TEXT,
            check_in_qr_code=TEXT,
            created_at=TIMESTAMP,
            custom_source=TEXT,
            email=TEXT,
            eth_address=TEXT,
            event_ticket=JSON,
            event_tickets=JSON,
            invited_at=TIMESTAMP,
            name=TEXT,
            phone_number=TEXT,
            registered_at=TIMESTAMP,
            registration_answers=JSON,
            user_api_id=TEXT,
            user_email=TEXT,
            user_name=TEXT,
        ),
        references={"event_api_id": "events.api_id"},
    ),
    Table(
        vendor="eventee",
        name="halls",
        description="Halls (rooms and stages) of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "order"),
        source_columns=_columns(
            id=BIGINT,
            event_id=BIGINT,
            name=TEXT,
            order=BIGINT,
            stream=JSON,
            **_EVENTEE_CONTENT_TIMES,
        ),
    ),
    Table(
        vendor="eventee",
        name="days",
        description="Days of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "date"),
        source_columns=_columns(id=BIGINT, event_id=BIGINT, date=TEXT, content_url=TEXT),
    ),
    Table(
        vendor="eventee",
        name="lectures",
        description="Lectures (talks) of the Eventee event, with hall, day, speakers and tracks.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "start", "end", "hall_id"),
        source_columns=_EVENTEE_SESSION,
    ),
    Table(
        vendor="eventee",
        name="speakers",
        description="Speakers of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "company", "position", "country"),
        source_columns=_columns(
            id=BIGINT,
            event_id=BIGINT,
            name=TEXT,
            company=TEXT,
            position=TEXT,
            email=TEXT,
            phone=TEXT,
            bio=TEXT,
            country=TEXT,
            order=BIGINT,
        ),
    ),
    Table(
        vendor="eventee",
        name="workshops",
        description="Workshops of the Eventee event (bookable sessions with a capacity).",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "start", "end", "capacity"),
        source_columns=_EVENTEE_SESSION,
    ),
    Table(
        vendor="eventee",
        name="pauses",
        description="Pauses (breaks) in the Eventee programme.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "start", "end"),
        source_columns=_columns(
            id=BIGINT, event_id=BIGINT, name=TEXT, start=TIMESTAMP, end=TIMESTAMP
        ),
    ),
    Table(
        vendor="eventee",
        name="tracks",
        description="Tracks (themes) that group the Eventee lectures and workshops.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "color"),
        source_columns=_columns(id=BIGINT, event_id=BIGINT, name=TEXT, color=TEXT),
    ),
    Table(
        vendor="eventee",
        name="partners",
        description="Partners (sponsors, exhibitors) of the Eventee event.",
        endpoint="/partners",
        natural_key=("id",),
        preview=("id", "name", "web"),
        source_columns=_columns(id=BIGINT, name=TEXT, description=TEXT, email=TEXT, web=TEXT),
    ),
    Table(
        vendor="eventee",
        name="participants",
        description="Participants (attendees) of the Eventee event, keyed by email.",
        endpoint="/participants",
        natural_key=("email",),
        preview=("company",),
        source_columns=_columns(email=TEXT, first_name=TEXT, last_name=TEXT, company=TEXT),
    ),
)

VENDORS: tuple[str, ...] = ("luma", "eventee")
EVENTEE_CONTENT_TABLES: tuple[str, ...] = tuple(
    t.name for t in TABLES if t.vendor == "eventee" and t.endpoint == "/content"
)


def table(vendor: str, name: str) -> Table:
    return _BY_NAME[(vendor, name)]


def vendor_tables(vendor: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.vendor == vendor)


_BY_NAME = {(t.vendor, t.name): t for t in TABLES}


def markdown_table() -> str:
    """The README's table list, so the docs cannot drift from the spec."""
    lines = [
        "| table | endpoint | primary key | required (never null) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{t.vendor}.{t.name}` | `{t.endpoint}` | {', '.join(f'`{c}`' for c in t.primary_key)} "
        f"| {', '.join(f'`{c}`' for c in t.not_null)} |"
        for t in TABLES
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
