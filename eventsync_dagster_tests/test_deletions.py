"""The warehouse mirrors deletions: rows gone from a complete listing are marked `_deleted_at`
(or deleted under EVENTSYNC_HARD_DELETE=1), rows that come back are unmarked, and a listing cut
short marks nothing. Real runs on DuckDB and on PostgreSQL, the vendor changed between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from eventsync_dagster_tests.conftest import REPO, failure_messages, materialize, warehouse_sql
from eventsync_dev.fake_api import Dataset, FakeApi

LUMA = ("luma/events", "luma/event_guests")
DATASET: dict[str, int] = {"events": 6, "guests_per_event": 3, "participants": 5}


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with FakeApi(dataset=Dataset(**DATASET)) as api:
        yield api


def sync(*keys: str) -> None:
    result = materialize(*keys)
    assert result.success, failure_messages(result)


def deleted(vendor: str, table: str) -> set[tuple[str, ...]]:
    """Keys of the rows marked deleted."""
    key = "event_api_id, api_id" if table == "event_guests" else "api_id"
    if vendor == "eventee":
        key = "email" if table == "participants" else "id"
    found = warehouse_sql(
        vendor, f"SELECT {key} FROM {{dataset}}.{table} WHERE _deleted_at IS NOT NULL"
    )
    return {tuple(str(v) for v in row) for row in found}


def live(vendor: str, table: str) -> int:
    found = warehouse_sql(
        vendor, f"SELECT count(*) FROM {{dataset}}.{table} WHERE _deleted_at IS NULL"
    )
    return int(found[0][0])


def test_vanished_rows_are_marked_and_unmarked_when_they_come_back(
    destination: str, fake_api: FakeApi
) -> None:
    sync(*LUMA, "eventee/participants", "eventee/halls")
    assert deleted("luma", "events") == set() == deleted("luma", "event_guests")
    data = fake_api.dataset
    # Upcoming events: the guests of long-ended ones are settled, and not read again.
    gone_event, other = data.events[-2]["api_id"], data.events[-1]["api_id"]
    gone_guests = {(gone_event, g["api_id"]) for g in data.guests(gone_event)}
    left = data.guests(other).pop()
    participant = data.participants.pop(0)
    hall = data.content["halls"].pop(0)
    data.remove_event(gone_event)

    sync(*LUMA, "eventee/participants", "eventee/halls")
    assert deleted("luma", "events") == {(gone_event,)}
    assert deleted("luma", "event_guests") == gone_guests | {(other, left["api_id"])}
    assert live("luma", "events") == DATASET["events"] - 1
    assert live("luma", "event_guests") == (DATASET["events"] - 1) * 3 - 1
    assert deleted("eventee", "participants") == {(participant["email"],)}
    assert deleted("eventee", "halls") == {(str(hall["id"]),)}

    # The README's query of current rows: the deleted event is gone, the other one lost a guest.
    section = (REPO / "README.md").read_text().split("### Deletions", 1)[1]
    (readme_sql,) = re.findall(r"```sql\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    guests = {str(event): int(n) for event, _, n in warehouse_sql("luma", readme_sql)}
    assert len(guests) == DATASET["events"] - 1 and gone_event not in guests
    assert guests[other] == 2

    data.guests(other).append(left)  # the guest comes back
    data.participants.append(participant)
    sync(*LUMA, "eventee/participants")
    assert deleted("luma", "event_guests") == gone_guests
    assert deleted("eventee", "participants") == set()


def test_a_listing_cut_short_marks_nothing(project_env: dict[str, str], fake_api: FakeApi) -> None:
    sync(*LUMA)
    data = fake_api.dataset
    first, second = data.events[-1]["api_id"], data.events[-2]["api_id"]  # both upcoming
    data.remove_event(data.events[0]["api_id"])
    fake_api.faults.more_without_cursor = True  # the event list ends early, with a warning
    sync("luma/events")
    assert deleted("luma", "events") == set()

    fake_api.faults.more_without_cursor = False
    fake_api.faults.guest_status = {first: 404}  # one event's guests are unavailable
    data.guests(first).pop()
    data.guests(second).pop()
    sync("luma/event_guests")
    # Only the guest list read completely marks its vanished guest.
    assert {event for event, _ in deleted("luma", "event_guests")} == {second}


def test_hard_delete_removes_vanished_rows_and_their_children(
    destination: str, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_HARD_DELETE", "1")
    sync(*LUMA)
    data = fake_api.dataset
    gone = data.events[0]["api_id"]
    data.remove_event(gone)
    sync("luma/events")  # the events alone: their guests go with them
    count = warehouse_sql("luma", "SELECT count(*) FROM {dataset}.event_guests")[0][0]
    assert count == (DATASET["events"] - 1) * 3
    assert warehouse_sql(
        "luma", f"SELECT count(*) FROM {{dataset}}.events WHERE api_id = '{gone}'"
    ) == [(0,)]
    assert deleted("luma", "events") == set()
