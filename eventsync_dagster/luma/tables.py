"""Luma's tables: one spec entry each (keys, required fields, typed and described columns)."""

from eventsync_dagster.spec import (
    BIGINT,
    BOOL,
    DOUBLE,
    EMAIL,
    JSON,
    PHONE,
    TEXT,
    TIMESTAMP,
    Column,
    Table,
    columns,
)

EVENTS = Table(
    vendor="luma",
    name="events",
    description="Events of the Luma calendar (one row per event).",
    endpoint="/v1/calendar/list-events",
    routes={"legacy": "/v1/calendar/list-events", "current": "/v1/calendars/events/list"},
    cost=("10", "10"),
    natural_key=("api_id",),
    preview=("api_id", "name", "start_at", "end_at", "visibility"),
    source_columns=columns(
        api_id=Column(TEXT, "Luma's id of the event (`evt-…`)."),
        name=Column(TEXT, "The event's title."),
        description=Column(TEXT, "The event's description, as plain text."),
        description_md=Column(TEXT, "The event's description, as Markdown."),
        cover_url=Column(TEXT, "The cover image."),
        created_at=Column(TIMESTAMP, "When the event was created (UTC)."),
        start_at=Column(TIMESTAMP, "When the event starts (UTC)."),
        end_at=Column(TIMESTAMP, "When the event ends (UTC)."),
        duration_interval=Column(TEXT, "The length of the event, as an ISO 8601 duration."),
        event_type=Column(TEXT, "`independent`, or the kind of series the event belongs to."),
        geo_address_json=Column(
            JSON, "Where the event takes place: city, country, full_address, place_id, …."
        ),
        geo_latitude=Column(DOUBLE, "Latitude of the venue (degrees); null online."),
        geo_longitude=Column(DOUBLE, "Longitude of the venue (degrees); null online."),
        meeting_url=Column(TEXT, "The link to join an online event."),
        zoom_meeting_url=Column(TEXT, "The Zoom link, when Luma created the meeting."),
        timezone=Column(TEXT, "The IANA time zone the event is shown in."),
        url=Column(TEXT, "The event's public page."),
        user_api_id=Column(TEXT, "The host who created the event."),
        visibility=Column(TEXT, "`public`, `members-only` or `private`."),
        tags=Column(JSON, "The calendar's tags on the event ([{api_id, name}])."),
        calendar_api_id=Column(TEXT, "The calendar the event belongs to (current routes only)."),
        platform=Column(TEXT, "`luma`, or `external` for a listed outside event (current routes)."),
    ),
)
GUESTS = Table(
    vendor="luma",
    name="event_guests",
    description=(
        "Guests (registrations) of each Luma event, read per event; `event_api_id` joins to "
        "luma.events. A guest `api_id` is per registration, `user_api_id` is the person."
    ),
    endpoint="/v1/event/get-guests",
    routes={"legacy": "/v1/event/get-guests", "current": "/v1/events/guests/list"},
    cost=("1,000+", "W+"),
    natural_key=("event_api_id", "api_id"),
    preview=("event_api_id", "api_id", "approval_status", "registered_at", "checked_in_at"),
    source_columns=columns(
        event_api_id=Column(TEXT, "The event the guest registered for (luma.events.api_id)."),
        api_id=Column(TEXT, "Luma's id of this registration (`gst-…`)."),
        approval_status=Column(
            TEXT, "`approved`, `pending_approval`, `declined`, `invited` or `waitlist`."
        ),
        checked_in_at=Column(
            TIMESTAMP, "When the guest was checked in at the door (UTC); null: not checked in."
        ),
        check_in_qr_code=Column(TEXT, "The link the guest's check-in QR code encodes."),
        created_at=Column(TIMESTAMP, "When the registration was created (UTC)."),
        custom_source=Column(TEXT, "The tracking source of the registration link, if any."),
        email=Column(TEXT, "The guest's email (hashed under EVENTSYNC_HASH_PII)."),
        eth_address=Column(TEXT, "The guest's Ethereum address, if given."),
        event_ticket=Column(
            JSON, "The guest's ticket: amount and amount_discount (cents), name, type id."
        ),
        event_tickets=Column(JSON, "Every ticket of the registration, as `event_ticket`."),
        invited_at=Column(TIMESTAMP, "When the guest was invited (UTC), if they were."),
        joined_at=Column(TIMESTAMP, "When the guest joined the online event (UTC)."),
        name=Column(TEXT, "The guest's name as registered."),
        phone_number=Column(TEXT, "The guest's phone number (hashed under EVENTSYNC_HASH_PII)."),
        registered_at=Column(TIMESTAMP, "When the guest registered (UTC)."),
        registration_answers=Column(
            JSON, "Answers to the registration form: [{label, answer, question_id, …}]."
        ),
        user_api_id=Column(TEXT, "Luma's id of the person, the same across events (`usr-…`)."),
        user_email=Column(TEXT, "The person's account email (hashed under EVENTSYNC_HASH_PII)."),
        user_name=Column(TEXT, "The person's name on their Luma profile."),
        user_first_name=Column(TEXT, "The person's first name on their Luma profile."),
        user_last_name=Column(TEXT, "The person's last name on their Luma profile."),
    ),
    references={"event_api_id": "events.api_id"},
    personal={"email": EMAIL, "user_email": EMAIL, "phone_number": PHONE},
)

_EVENT = Column(TEXT, "The event (luma.events.api_id).")
_VALID = {
    "valid_start_at": Column(TIMESTAMP, "From when it can be used (UTC); null: from the start."),
    "valid_end_at": Column(TIMESTAMP, "Until when it can be used (UTC); null: no end."),
}
_TAG = columns(
    api_id=Column(TEXT, "Luma's id of the tag."),
    name=Column(TEXT, "The tag's name."),
    color=Column(TEXT, "The tag's colour."),
)
PEOPLE = Table(
    vendor="luma",
    name="people",
    description=(
        "The calendar's contacts: everyone who subscribed or attended, with their attendance "
        "and spend over all its events (who the regulars are)."
    ),
    endpoint="/v1/calendar/list-people",
    routes={"legacy": "/v1/calendar/list-people"},
    cost=("1 per 100 contacts", "1 per 100 contacts"),
    natural_key=("api_id",),
    preview=("api_id", "created_at", "event_approved_count", "event_checked_in_count"),
    source_columns=columns(
        api_id=Column(TEXT, "Luma's id of the contact."),
        email=Column(TEXT, "The contact's email (hashed under EVENTSYNC_HASH_PII)."),
        name=Column(TEXT, "The contact's name."),
        created_at=Column(TIMESTAMP, "When the person joined the calendar (UTC)."),
        event_approved_count=Column(BIGINT, "Events of the calendar they were approved for."),
        event_checked_in_count=Column(BIGINT, "Events of the calendar they were checked in at."),
        revenue_usd_cents=Column(BIGINT, "What they paid over all events, in US cents."),
        tags=Column(JSON, "The calendar's tags on the person ([{api_id, name}])."),
    ),
    personal={"email": EMAIL},
)
PERSON_TAGS = Table(
    vendor="luma",
    name="person_tags",
    description="Tags the calendar puts on its contacts (luma.people.tags).",
    endpoint="/v1/calendar/list-person-tags",
    routes={"legacy": "/v1/calendar/list-person-tags"},
    cost=("1 per 100 tags", "1 per 100 tags"),
    natural_key=("api_id",),
    preview=("api_id", "name", "color"),
    source_columns=_TAG,
)
EVENT_TAGS = Table(
    vendor="luma",
    name="event_tags",
    description="Tags the calendar puts on its events (luma.events.tags).",
    endpoint="/v1/calendars/event-tags/list",
    routes={"current": "/v1/calendars/event-tags/list"},
    natural_key=("api_id",),
    preview=("api_id", "name", "color"),
    source_columns=_TAG,
)
CALENDARS = Table(
    vendor="luma",
    name="calendars",
    description=(
        "The organisation's calendars; read with an organisation key only (a calendar key's "
        "sync skips it with one log line)."
    ),
    endpoint="/v1/organizations/calendars/list",
    routes={"current": "/v1/organizations/calendars/list"},
    cost=("1 (organisation keys)", "1 (organisation keys)"),
    natural_key=("api_id",),
    preview=("api_id", "name"),
    source_columns=columns(
        api_id=Column(TEXT, "Luma's id of the calendar (`cal-…`)."),
        name=Column(TEXT, "The calendar's name."),
        slug=Column(TEXT, "The calendar's address on lu.ma."),
        created_at=Column(TIMESTAMP, "When the calendar was created (UTC)."),
    ),
)
TICKET_TYPES = Table(
    vendor="luma",
    name="ticket_types",
    description=(
        "Ticket types of each event, hidden ones included, read per event like its guests; "
        "guests' tickets join on event_ticket_type_api_id."
    ),
    endpoint="/v1/events/ticket-types/list",
    routes={"current": "/v1/events/ticket-types/list"},
    cost=("1,000", "W"),
    natural_key=("event_api_id", "api_id"),
    preview=("event_api_id", "api_id", "name", "type", "cents", "currency"),
    source_columns=columns(
        event_api_id=_EVENT,
        api_id=Column(TEXT, "Luma's id of the ticket type (`ett-…`)."),
        name=Column(TEXT, "The ticket type's name."),
        type=Column(TEXT, "`free` or `paid`."),
        cents=Column(BIGINT, "The price in the currency's cents; null when free."),
        currency=Column(TEXT, "The price's currency (ISO 4217, lower case)."),
        is_hidden=Column(BOOL, "Hidden from the event page (sold through a link or coupon)."),
        require_approval=Column(BOOL, "Registrations with it wait for the host's approval."),
        max_capacity=Column(BIGINT, "How many can be sold; null: no limit."),
        **_VALID,
    ),
    references={"event_api_id": "events.api_id"},
)
EVENT_COUPONS = Table(
    vendor="luma",
    name="event_coupons",
    description="Coupons (discount codes) of each event, read per event like its guests.",
    endpoint="/v1/events/coupons/list",
    routes={"current": "/v1/events/coupons/list"},
    cost=("1,000+", "W+"),
    natural_key=("event_api_id", "api_id"),
    preview=("event_api_id", "api_id", "code", "remaining_count", "percent_off", "cents_off"),
    source_columns=columns(
        event_api_id=_EVENT,
        api_id=Column(TEXT, "Luma's id of the coupon."),
        code=Column(TEXT, "What a guest types to use it."),
        remaining_count=Column(BIGINT, "Uses left; null: unlimited."),
        percent_off=Column(DOUBLE, "Discount in percent, when it is a percentage."),
        cents_off=Column(BIGINT, "Discount in the currency's cents, when it is an amount."),
        currency=Column(TEXT, "The currency of cents_off."),
        event_ticket_type_api_id=Column(
            TEXT, "The one ticket type it applies to (luma.ticket_types.api_id); null: all."
        ),
        **_VALID,
    ),
    references={"event_api_id": "events.api_id"},
)
EVENT_BLASTS = Table(
    vendor="luma",
    name="event_blasts",
    description="Blasts (messages to the guests) of each event, read per event like its guests.",
    endpoint="/v1/events/blasts/list",
    routes={"current": "/v1/events/blasts/list"},
    cost=("1,000", "W"),
    natural_key=("event_api_id", "api_id"),
    preview=("event_api_id", "api_id", "created_at"),
    source_columns=columns(
        event_api_id=_EVENT,
        api_id=Column(TEXT, "Luma's id of the blast."),
        message=Column(TEXT, "What was sent."),
        created_at=Column(TIMESTAMP, "When it was sent (UTC)."),
    ),
    references={"event_api_id": "events.api_id"},
)

TABLES: tuple[Table, ...] = (
    EVENTS,
    PEOPLE,
    PERSON_TAGS,
    EVENT_TAGS,
    CALENDARS,
    GUESTS,
    TICKET_TYPES,
    EVENT_COUPONS,
    EVENT_BLASTS,
)
PER_EVENT: tuple[Table, ...] = tuple(t for t in TABLES if t.parent)
"""Tables read one event at a time, after the events (and their blocking checks)."""
