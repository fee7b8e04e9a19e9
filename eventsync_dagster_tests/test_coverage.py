"""Every table the best connectors sync, on both generations of Luma's routes: the new tables land
with their checks, lineage and deletions (DuckDB and PostgreSQL), per-event tables follow the
guests' refresh window, one table can be synced alone, a calendar key skips the organisation's
calendars, the change sensors see the new tables, and one calendar synced through Luma's older
and current routes lands the same. Real runs of the project against the fake API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from eventsync_dagster.luma.routes import from_current
from eventsync_dagster.queries import existing_tables
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import (
    check_results,
    failure_messages,
    materializations,
    materialize,
    rows,
    warehouse_sql,
)
from eventsync_dagster_tests.test_dagster_runs import expected_counts
from eventsync_dagster_tests.test_fidelity import control, marked
from eventsync_dagster_tests.test_sensors import EVENTEE, LUMA, one_run, skipped, tick
from eventsync_dev.fake_api import FakeApi

NEW = (
    "luma/people", "luma/person_tags", "luma/event_tags", "luma/calendars", "luma/ticket_types",
    "luma/event_coupons", "luma/event_blasts", "eventee/groups", "eventee/reviews",
    "eventee/registrations",
)  # fmt: skip


def served(api: FakeApi) -> dict[str, int]:
    """What the fake serves of each new table (hidden ticket types included)."""
    return {key: expected_counts(api)[key.replace("/", ".")] for key in NEW}


def live(key: str) -> int:
    """Rows the vendor still lists; 0 where the table has no row yet (dlt creates it with one)."""
    vendor, table = key.split("/")
    with Warehouse.from_env().sql(vendor) as sql:
        if not existing_tables(sql, [table]):
            return 0
    statement = f"SELECT count(*) FROM {{dataset}}.{table} WHERE _deleted_at IS NULL"
    return int(warehouse_sql(vendor, statement)[0][0])


def test_new_tables_land_checked_and_mirror_deletions(destination: str, fake_api: FakeApi) -> None:
    data = fake_api.dataset
    data.organization = True  # an organisation key: its calendars are listed too
    result = materialize()
    assert result.success, failure_messages(result)
    expected = served(fake_api)
    assert all(expected.values()), expected  # every new table has rows to compare
    assert {key: live(key) for key in NEW} == expected
    metadata = materializations(result)
    assert {key: metadata[key]["dagster/row_count"] for key in NEW} == expected
    checks = check_results(result)
    assert all(c.passed for name, c in checks.items() if name.split(":")[0] in NEW)
    hidden = warehouse_sql("luma", "SELECT count(*) FROM {dataset}.ticket_types WHERE is_hidden")
    assert hidden == [(len(data.events),)]  # one hidden type per event, asked for explicitly
    (paid,) = warehouse_sql("luma", "SELECT max(cents) FROM {dataset}.ticket_types")[0]
    assert isinstance(paid, int) and paid > 0  # typed from the spec

    # The vendor deletes a coupon, a contact, a review, and a whole event: all are marked.
    newest = next(
        e["api_id"] for e in reversed(data.events) if data.per_event("event_coupons", e["api_id"])
    )
    coupon = data.per_event("event_coupons", newest)[0]["id"]
    control(fake_api, table="event_coupons", key=coupon, event_api_id=newest)
    person = control(fake_api, table="people", key=data.people[0]["api_id"])["removed"]
    review = control(fake_api, table="reviews", key=str(data.reviews[0]["id"]))["removed"]
    gone = data.events[0]["api_id"]
    ticket_types = len(data.per_event("ticket_types", gone))
    control(fake_api, table="events", key=gone)
    result = materialize()
    assert result.success, failure_messages(result)
    assert marked("luma", "event_coupons", f"api_id = '{coupon}'") == 1
    assert marked("luma", "people", f"api_id = '{person['api_id']}'") == 1
    assert marked("eventee", "reviews", f"id = {review['id']}") == 1
    assert marked("luma", "ticket_types", f"event_api_id = '{gone}'") == ticket_types
    assert marked("luma", "event_blasts", f"event_api_id = '{gone}'") == 1
    vanished = materializations(result)
    assert vanished["luma/events"]["ticket_types_vanished_with_their_parent"] == ticket_types
    assert vanished["luma/event_coupons"]["rows_vanished"] == 1


def test_per_event_tables_follow_the_refresh_window_and_sync_alone(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    data = fake_api.dataset
    assert materialize().success
    fake_api.reset_counts()
    result = materialize("luma/ticket_types")  # one table, as the UI selects it
    assert result.success, failure_messages(result)
    assert set(materializations(result)) == {"luma/ticket_types"}
    cutoff = datetime.now(UTC) - timedelta(days=30)
    in_window = [
        e
        for e in data.events
        if datetime.fromisoformat(e["end_at"].replace("Z", "+00:00")) >= cutoff
    ]
    assert 0 < len(in_window) < len(data.events)
    assert fake_api.counts["/v1/events/ticket-types/list"] == len(in_window)
    for other in ("/v1/event/get-guests", "/v1/events/coupons/list", "/v1/events/blasts/list"):
        assert fake_api.counts[other] == 0, other


def test_a_calendar_key_skips_the_calendars_with_one_line(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialize("luma/calendars", instance=instance)
    assert result.success, failure_messages(result)
    said = [
        e.user_message for e in instance.all_logs(result.run_id) if "calendars" in e.user_message
    ]
    skips = [m for m in said if "luma.calendars skipped" in m]
    assert len(skips) == 1 and "calendar key" in skips[0] and "403" in skips[0]
    assert live("luma/calendars") == 0
    assert all(c.passed for c in check_results(result).values())

    # A key Luma rejects (401) is not taken for a calendar key: the step fails naming it.
    monkeypatch.setenv("LUMA_API_KEY", "revoked-key-5d1c")
    result = materialize("luma/calendars")
    assert not result.success
    (message,) = set(failure_messages(result))
    assert "LUMA_API_KEY was rejected by Luma (401)" in message and "revoked" not in message


def test_the_change_sensors_see_the_new_tables(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    data = fake_api.dataset
    luma, eventee = tick(LUMA), tick(EVENTEE)
    skipped(tick(LUMA, luma.cursor))
    data.person_tags.append({"api_id": "tag-new", "name": "New", "color": "#000000"})
    one_run(tick(LUMA, luma.cursor))
    skipped(tick(EVENTEE, eventee.cursor))
    data.reviews.append({**data.reviews[0], "id": 99_999, "stars": 1})
    one_run(tick(EVENTEE, eventee.cursor), "eventee_sync")


def comparable(path: Path, table: str, account: str, dropped: set[str]) -> list[tuple[Any, ...]]:
    """An account's rows of a table, without the columns a generation does not send."""
    names = [
        str(n)
        for (n,) in rows(
            path,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'luma' "
            f"AND table_name = '{table}' ORDER BY ordinal_position",
        )
        if not str(n).startswith("_") and n not in dropped | {"account"}
    ]
    found = rows(
        path,
        f"SELECT {', '.join(names)} FROM luma.{table} WHERE account = '{account}' "
        f"ORDER BY {', '.join(names)}",
    )
    return [
        tuple(json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for v in r)
        for r in found
    ]


def test_current_records_take_the_older_names_and_the_first_check_in() -> None:
    """The mapping itself, on a guest the fake never serves: two tickets checked in at times
    whose strings sort the other way, and an id field that is not one of Luma's own."""
    guest = from_current(
        {
            "id": "gst-1",
            "user_id": "usr-1",
            "zoom_meeting_id": "z-1",
            "event_tickets": [
                {
                    "id": "t-1",
                    "event_ticket_type_id": "ett-1",
                    "checked_in_at": "2026-05-01T10:00:00.5Z",
                },
                {
                    "id": "t-2",
                    "event_ticket_type_id": "ett-1",
                    "checked_in_at": "2026-05-01T10:00:00Z",
                },
            ],
        }
    )
    assert guest["api_id"] == "gst-1" and guest["user_api_id"] == "usr-1"
    assert guest["zoom_meeting_id"] == "z-1" and "zoom_meeting_api_id" not in guest
    assert guest["checked_in_at"] == "2026-05-01T10:00:00Z"  # the earlier moment
    assert guest["event_ticket"]["api_id"] == "t-1"
    assert guest["event_ticket"]["event_ticket_type_api_id"] == "ett-1"
    event = from_current({"id": "evt-1", "coordinate": {"latitude": 50.1, "longitude": 14.4},
                          "tags": [{"id": "tag-1", "name": "Data"}]})  # fmt: skip
    assert (event["geo_latitude"], event["geo_longitude"]) == (50.1, 14.4)
    assert event["tags"] == [{"api_id": "tag-1", "name": "Data"}]


def test_one_calendar_through_both_generations_of_routes_lands_alike(
    project_env: dict[str, str],
    fake_api: FakeApi,
    duckdb_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # LUMA_API_VERSION=current calls only the current routes of events and guests.
    monkeypatch.setenv("LUMA_API_VERSION", "current")
    assert materialize("luma/events", "luma/event_guests").success
    assert fake_api.counts["/v1/calendars/events/list"] == 1  # the per-event tables reuse it
    assert fake_api.counts["/v1/events/guests/list"] == len(fake_api.dataset.events)
    assert fake_api.counts["/v1/calendar/list-events"] == 0
    monkeypatch.delenv("LUMA_API_VERSION")

    # The same calendar as two accounts: one on the older routes, one on the current ones.
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[luma]]\nname = "old"\ncredential_variable = "LUMA_API_KEY"\n\n'
        '[[luma]]\nname = "new"\ncredential_variable = "LUMA_API_KEY"\napi_version = "current"\n'
    )
    monkeypatch.setenv("EVENTSYNC_ACCOUNTS_FILE", str(accounts))
    fake_api.reset_counts()
    result = materialize(*(f"luma/{t}" for t in ("events", "event_guests", "ticket_types")))
    assert result.success, failure_messages(result)
    assert fake_api.counts["/v1/calendar/list-events"] == 1
    assert fake_api.counts["/v1/calendars/events/list"] == 1
    only_current = {
        "events": {"calendar_api_id", "platform"},
        "event_guests": {"email", "name", "created_at", "event_ticket", "event_tickets"},
        "ticket_types": set(),
    }
    for table, dropped in only_current.items():
        old = comparable(duckdb_path, table, "old", dropped)
        assert old and old == comparable(duckdb_path, table, "new", dropped), table
    # Tickets: the older shape is kept, the current routes' extra fields beside it.
    tickets = rows(
        duckdb_path,
        "SELECT o.event_ticket, n.event_ticket, n.checked_in_at IS NOT DISTINCT FROM "
        "o.checked_in_at FROM luma.event_guests o JOIN luma.event_guests n USING "
        "(event_api_id, api_id) WHERE o.account = 'old' AND n.account = 'new'",
    )
    assert tickets and all(same for *_, same in tickets)
    for older, current in ((json.loads(o), json.loads(n)) for o, n, _ in tickets):
        assert older.items() <= current.items()
