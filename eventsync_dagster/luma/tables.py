"""Luma's tables: one spec entry each (keys, required fields, typed columns)."""

from eventsync_dagster.spec import EMAIL, JSON, PHONE, TEXT, TIMESTAMP, Table, columns

EVENTS = Table(
    vendor="luma",
    name="events",
    description="Events of the Luma calendar (one row per event).",
    endpoint="/v1/calendar/list-events",
    natural_key=("api_id",),
    preview=("api_id", "name", "start_at", "end_at", "visibility"),
    source_columns=columns(
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
    preview=("event_api_id", "api_id", "approval_status", "registered_at"),
    source_columns=columns(
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
    personal={"email": EMAIL, "user_email": EMAIL, "phone_number": PHONE},
)

TABLES: tuple[Table, ...] = (EVENTS, GUESTS)
