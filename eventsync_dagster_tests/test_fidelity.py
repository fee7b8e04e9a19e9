"""The warehouse mirrors the vendor: every documented column declared and typed in the spec's
order whatever the data, check-ins, the copy read last of a repeated key, right row counts, and
deletions made at the fake over HTTP. Real runs on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from eventsync_dagster.spec import TEXT
from eventsync_dagster.tables import TABLES
from eventsync_dagster_tests.conftest import (
    REPO,
    check_results,
    failure_messages,
    materializations,
    materialize,
    warehouse_sql,
)
from eventsync_dev.fake_api import FakeApi

# How each dlt type shows in information_schema.columns.data_type, per destination.
TYPES = {
    "duckdb": {
        "text": "VARCHAR",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "bool": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "json": "JSON",
    },
    "postgres": {
        "text": "character varying",
        "bigint": "bigint",
        "double": "double precision",
        "bool": "boolean",
        "date": "date",
        "timestamp": "timestamp with time zone",
        "json": "jsonb",
    },
}
DLT_COLUMNS = ["_dlt_load_id", "_dlt_id"]


def landed(vendor: str, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(data_type))
        for name, data_type in warehouse_sql(
            vendor,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{vendor}' AND table_name = '{table}' "
            "ORDER BY ordinal_position",
        )
    ]


def readme_query(heading: str) -> str:
    section = (REPO / "README.md").read_text().split(f"### {heading}\n", 1)[1]
    (sql,) = re.findall(r"```sql\n(.*?)```", section.split("\n### ", 1)[0], re.DOTALL)
    return str(sql)


def check_in_rates(api: FakeApi) -> dict[str, tuple[int, int]]:
    """(approved guests, checked in) per ended event, from what the fake serves."""
    now = datetime.now(UTC)
    rates = {}
    for event in api.dataset.events:
        if datetime.fromisoformat(event["end_at"].replace("Z", "+00:00")) < now:
            approved = [
                g for g in api.dataset.guests(event["api_id"]) if g["approval_status"] == "approved"
            ]
            came = sum(g["checked_in_at"] is not None for g in approved)
            rates[event["api_id"]] = (len(approved), came)
    return rates


def test_every_table_lands_declared_typed_and_counted_with_the_last_copy_kept(
    destination: str, fake_api: FakeApi, capfd: pytest.CaptureFixture[str]
) -> None:
    data = fake_api.dataset
    data.organization = True  # every table has rows (a calendar key's calendars would not)
    # The last copy of a repeated key wins: a participant listed twice, a guest twice.
    first = data.participants[0]
    data.participants.append({**first, "company": "Read Last"})
    event = data.events[-1]["api_id"]
    guest = data.guests(event)[0]
    data.guests(event).append({**guest, "name": "Read Last"})
    for participant in data.participants:  # a column with no value in any row still lands
        participant["phone"] = None
    guests = sum(len(data.guests(e["api_id"])) for e in data.events) - 1

    result = materialize()
    assert result.success, failure_messages(result)
    assert "will not be materialized" not in capfd.readouterr().err  # dlt logs to stderr

    types = TYPES[destination]
    for t in TABLES:
        expected = [(name, types[c.data_type]) for name, c in t.columns.items()]
        assert landed(t.vendor, t.name) == [*expected, *((c, types[TEXT]) for c in DLT_COLUMNS)]

    assert warehouse_sql(
        "eventee", f"SELECT company FROM {{dataset}}.participants WHERE email = '{first['email']}'"
    ) == [("Read Last",)]
    (name,) = warehouse_sql(
        "luma",
        f"SELECT name FROM {{dataset}}.event_guests WHERE api_id = '{guest['api_id']}' "
        f"AND event_api_id = '{event}'",
    )
    assert name == ("Read Last",)
    assert all(c.passed for c in check_results(result).values())

    metadata = materializations(result)
    assert metadata["luma/event_guests"]["rows_loaded"] == guests
    assert metadata["luma/event_guests"]["dagster/row_count"] == guests
    assert metadata["eventee/participants"]["rows_loaded"] == len(data.participants) - 1
    assert metadata["luma/events"]["rows_loaded"] == len(data.events)
    columns = metadata["luma/event_guests"]["dagster/column_schema"].columns
    assert all(c.description for c in columns)
    described = {c.name: c.description for c in columns}
    assert described["checked_in_at"].startswith("When the guest was checked in")

    # Typed values: coordinates as numbers, check-ins as timestamps, dates as dates.
    (lat,) = warehouse_sql(
        "luma", "SELECT max(geo_latitude) FROM {dataset}.events WHERE geo_latitude IS NOT NULL"
    )[0]
    assert isinstance(lat, float) and 40 < lat < 60
    (day,) = warehouse_sql("eventee", "SELECT min(date) FROM {dataset}.days")[0]
    assert day == datetime.fromisoformat(data.content["days"][0]["date"]).date()

    # The README's check-in rates, against what the fake served.
    expected_rates = check_in_rates(fake_api)
    found = {
        str(api_id): (int(approved), int(came), rate)
        for api_id, _, approved, came, rate in warehouse_sql("luma", readme_query("Check-ins"))
    }
    assert {k: v[:2] for k, v in found.items()} == expected_rates
    assert any(came for _, came in expected_rates.values())
    for approved, came, rate in found.values():
        assert rate is None if approved == 0 else float(rate) == round(came / approved, 3)


def control(api: FakeApi, **query: str) -> Any:
    """The fake's control interface, over HTTP as a person would use it."""
    url = f"{api.luma_base_url}/_control/remove?" + "&".join(f"{k}={v}" for k, v in query.items())
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as reply:
        return json.load(reply)


def marked(vendor: str, table: str, where: str) -> int:
    statement = (
        f"SELECT count(*) FROM {{dataset}}.{table} WHERE _deleted_at IS NOT NULL AND {where}"
    )
    return int(warehouse_sql(vendor, statement)[0][0])


def test_deletions_made_at_the_vendor_and_a_settled_event_that_comes_back(
    destination: str, fake_api: FakeApi
) -> None:
    data = fake_api.dataset
    luma = ("luma/events", "luma/event_guests")
    result = materialize(*luma, "eventee/speakers")
    assert result.success, failure_messages(result)

    old = data.events[0]  # ended months ago: its guests are settled, never read again
    guests = list(data.guests(old["api_id"]))
    removed = control(fake_api, table="events", key=old["api_id"])["removed"]
    assert removed["api_id"] == old["api_id"]
    newest = data.events[-1]["api_id"]
    guest = control(fake_api, table="event_guests", key=data.guests(newest)[0]["api_id"],
                    event_api_id=newest)["removed"]  # fmt: skip
    speaker = control(fake_api, table="speakers", key=str(data.content["speakers"][0]["id"]))
    result = materialize(*luma, "eventee/speakers")
    assert result.success, failure_messages(result)
    assert marked("luma", "events", f"api_id = '{old['api_id']}'") == 1
    assert marked("luma", "event_guests", f"event_api_id = '{old['api_id']}'") == len(guests)
    assert marked("luma", "event_guests", f"api_id = '{guest['api_id']}'") == 1
    assert marked("eventee", "speakers", f"id = {speaker['removed']['id']}") == 1
    vanished = materializations(result)
    assert vanished["luma/events"]["rows_vanished"] == 1
    assert vanished["luma/events"]["event_guests_vanished_with_their_parent"] == len(guests)
    assert vanished["luma/event_guests"]["rows_vanished"] == 1
    assert vanished["luma/event_guests"]["dagster/row_count"] == (
        sum(len(data.guests(e["api_id"])) for e in data.events)
    )

    data.events.insert(0, removed)  # the event comes back, with its guests
    data.guests(old["api_id"]).extend(guests)
    result = materialize(*luma)
    assert result.success, failure_messages(result)
    assert marked("luma", "events", "true") == 0
    assert marked("luma", "event_guests", f"event_api_id = '{old['api_id']}'") == 0
    assert marked("luma", "event_guests", "true") == 1  # the guest removed on its own


def test_a_value_that_does_not_fit_its_declared_type_lands_as_dlt_types_it(
    destination: str, fake_api: FakeApi
) -> None:
    """Pages reach dlt as Arrow tables typed from the spec (arrow.py); a page with a value that
    does not fit stays records, so dlt lands that value in a variant column as it always did,
    and every other row of the page typed. Arrow would take 4.5 for a BIGINT as 4: refused too."""
    data = fake_api.dataset
    odd = data.guests(data.events[0]["api_id"])[0]
    odd["checked_in_at"] = "at the door"
    guests = sum(len(data.guests(e["api_id"])) for e in data.events)
    person = data.people[0]
    person["revenue_usd_cents"] = 4.5

    result = materialize("luma/events", "luma/event_guests", "luma/people")
    assert result.success, failure_messages(result)
    cents = warehouse_sql(
        "luma",
        "SELECT revenue_usd_cents, revenue_usd_cents__v_double FROM {dataset}.people "
        f"WHERE api_id = '{person['api_id']}'",
    )
    assert [tuple(row) for row in cents] == [(None, 4.5)]
    assert ("checked_in_at", TYPES[destination]["timestamp"]) in landed("luma", "event_guests")
    odd_rows = warehouse_sql(
        "luma",
        "SELECT api_id, checked_in_at, checked_in_at__v_text FROM {dataset}.event_guests "
        "WHERE checked_in_at__v_text IS NOT NULL",
    )
    assert [tuple(row) for row in odd_rows] == [(odd["api_id"], None, "at the door")]
    (count,) = warehouse_sql("luma", "SELECT count(*) FROM {dataset}.event_guests")[0]
    assert count == guests
