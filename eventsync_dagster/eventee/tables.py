"""Eventee's tables: one spec entry each (keys, required fields, typed and described columns)."""

from eventsync_dagster.spec import (
    BIGINT,
    DATE,
    EMAIL,
    JSON,
    PHONE,
    TEXT,
    TIMESTAMP,
    Column,
    Table,
    columns,
)

_ID = Column(BIGINT, "Eventee's id of the row.")
_EVENT_ID = Column(BIGINT, "Eventee's id of the event (one token reads one event).")
_NAME = Column(TEXT, "The name shown in the event's app.")
_TIMES = {
    "created_at": Column(TIMESTAMP, "When the row was created in Eventee (UTC)."),
    "updated_at": Column(TIMESTAMP, "When the row last changed in Eventee (UTC)."),
}
_START = Column(TIMESTAMP, "When it starts (UTC).")
_END = Column(TIMESTAMP, "When it ends (UTC).")
_SESSION = columns(
    id=_ID,
    event_id=_EVENT_ID,
    event_day_id=Column(BIGINT, "The day it is on (eventee.days.id)."),
    hall_id=Column(BIGINT, "The hall it is in (eventee.halls.id)."),
    name=_NAME,
    description=Column(TEXT, "Its description (HTML)."),
    start=_START,
    end=_END,
    speakers=Column(JSON, "Ids of its speakers (eventee.speakers.id)."),
    tracks=Column(JSON, "Its tracks (eventee.tracks)."),
    files=Column(JSON, "Files attached to it."),
    capacity=Column(BIGINT, "Places that can be booked; null: no booking."),
    available=Column(BIGINT, "Places still free to book."),
    booked=Column(BIGINT, "Places booked."),
    booking_info=Column(JSON, "Booking details, as Eventee sends them."),
    code=Column(TEXT, "The organiser's short code for it."),
    type=Column(TEXT, "`lecture` or `workshop`."),
    **_TIMES,
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
            id=_ID,
            event_id=_EVENT_ID,
            name=_NAME,
            order=Column(BIGINT, "Position in the app's list of halls."),
            stream=Column(JSON, "The hall's live stream ({type, url}), if any."),
            **_TIMES,
        ),
    ),
    Table(
        vendor="eventee",
        name="days",
        description="Days of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "date"),
        source_columns=columns(
            id=_ID,
            event_id=_EVENT_ID,
            date=Column(DATE, "The calendar date of the day."),
            content_url=Column(TEXT, "The day's programme in Eventee."),
        ),
    ),
    Table(
        vendor="eventee",
        name="lectures",
        description="Lectures (talks) of the Eventee event, with hall, day, speakers and tracks.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "start", "end", "hall_id"),
        source_columns=_SESSION,
    ),
    Table(
        vendor="eventee",
        name="speakers",
        description="Speakers of the Eventee event.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "company", "position", "country"),
        source_columns=columns(
            id=_ID,
            event_id=_EVENT_ID,
            name=Column(TEXT, "The speaker's name."),
            company=Column(TEXT, "The speaker's company."),
            position=Column(TEXT, "The speaker's job title."),
            email=Column(TEXT, "The speaker's email (hashed under EVENTSYNC_HASH_PII)."),
            phone=Column(TEXT, "The speaker's phone (hashed under EVENTSYNC_HASH_PII)."),
            bio=Column(TEXT, "The speaker's biography, as plain text."),
            bio_html=Column(TEXT, "The speaker's biography, as HTML."),
            country=Column(TEXT, "The speaker's country."),
            language=Column(TEXT, "The language the speaker speaks in."),
            web=Column(TEXT, "The speaker's website."),
            twitter=Column(TEXT, "The speaker's X (Twitter) handle or link."),
            facebook=Column(TEXT, "The speaker's Facebook link."),
            instagram=Column(TEXT, "The speaker's Instagram link."),
            linked_in=Column(TEXT, "The speaker's LinkedIn link (Eventee's `linkedIn`)."),
            order=Column(BIGINT, "Position in the app's list of speakers."),
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
        source_columns=_SESSION,
    ),
    Table(
        vendor="eventee",
        name="pauses",
        description="Pauses (breaks) in the Eventee programme.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "start", "end"),
        source_columns=columns(id=_ID, event_id=_EVENT_ID, name=_NAME, start=_START, end=_END),
    ),
    Table(
        vendor="eventee",
        name="tracks",
        description="Tracks (themes) that group the Eventee lectures and workshops.",
        endpoint="/content",
        natural_key=("id",),
        preview=("id", "name", "color"),
        source_columns=columns(
            id=_ID,
            event_id=_EVENT_ID,
            name=_NAME,
            color=Column(TEXT, "The track's colour (`#rrggbb`)."),
        ),
    ),
    Table(
        vendor="eventee",
        name="partners",
        description="Partners (sponsors, exhibitors) of the Eventee event.",
        endpoint="/partners",
        natural_key=("id",),
        preview=("id", "name", "web"),
        source_columns=columns(
            id=_ID,
            name=Column(TEXT, "The partner's name."),
            description=Column(TEXT, "What the partner does."),
            email=Column(TEXT, "The partner's contact email."),
            web=Column(TEXT, "The partner's website."),
        ),
    ),
    Table(
        vendor="eventee",
        name="participants",
        description="Participants (attendees) of the Eventee event, keyed by email.",
        endpoint="/participants",
        natural_key=("email",),
        preview=("company",),
        source_columns=columns(
            email=Column(TEXT, "The participant's email (hashed under EVENTSYNC_HASH_PII)."),
            first_name=Column(TEXT, "The participant's first name."),
            last_name=Column(TEXT, "The participant's last name."),
            company=Column(TEXT, "The participant's company."),
            phone=Column(TEXT, "The participant's phone (hashed under EVENTSYNC_HASH_PII)."),
        ),
        personal={"email": EMAIL, "phone": PHONE},
    ),
)

CONTENT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.endpoint == "/content")
"""The seven tables one `/content` response feeds."""
