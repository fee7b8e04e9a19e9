"""Luma's tables: one spec entry each (keys, required fields, typed and described columns)."""

from eventsync_dagster.spec import (
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

TABLES: tuple[Table, ...] = (EVENTS, GUESTS)
