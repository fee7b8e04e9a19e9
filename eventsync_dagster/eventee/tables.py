"""Eventee's tables: one spec entry each (keys, required fields, typed columns)."""

from eventsync_dagster.spec import BIGINT, EMAIL, JSON, PHONE, TEXT, TIMESTAMP, Table, columns

_EVENTEE_CONTENT_TIMES = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP}
_EVENTEE_SESSION = columns(
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
        vendor="eventee",
        name="halls",
        description="Halls (rooms and stages) of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "order"),
        source_columns=columns(
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
        source_columns=columns(id=BIGINT, event_id=BIGINT, date=TEXT, content_url=TEXT),
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
        source_columns=columns(
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
        personal={"email": EMAIL, "phone": PHONE},
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
        source_columns=columns(
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
        source_columns=columns(id=BIGINT, event_id=BIGINT, name=TEXT, color=TEXT),
    ),
    Table(
        vendor="eventee",
        name="partners",
        description="Partners (sponsors, exhibitors) of the Eventee event.",
        endpoint="/partners",
        natural_key=("id",),
        preview=("id", "name", "web"),
        source_columns=columns(id=BIGINT, name=TEXT, description=TEXT, email=TEXT, web=TEXT),
    ),
    Table(
        vendor="eventee",
        name="participants",
        description="Participants (attendees) of the Eventee event, keyed by email.",
        endpoint="/participants",
        natural_key=("email",),
        preview=("company",),
        source_columns=columns(email=TEXT, first_name=TEXT, last_name=TEXT, company=TEXT),
        personal={"email": EMAIL, "phone": PHONE},
    ),
)

CONTENT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.endpoint == "/content")
"""The seven tables one `/content` response feeds."""
