"""The vendor sources as plain dlt code (no Dagster): real HTTP to the fake API, real DuckDB."""

from pathlib import Path

import pytest
from dlt.common.schema.utils import dlt_id_column, dlt_load_id_column

from eventsync_dagster.eventee.source import eventee_source
from eventsync_dagster.http import HttpSettings
from eventsync_dagster.luma.source import luma_source
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import count, rows
from eventsync_dev.fake_api import Dataset, FakeApi

FAST = HttpSettings(backoff_factor=0.05)


def run(
    api: FakeApi, path: Path, vendor: str, tables: tuple[str, ...] = (), **options: object
) -> None:
    """A sync of the vendor's tables (or of `tables`) into a DuckDB file."""
    warehouse = Warehouse(duckdb_path=str(path))
    if vendor == "luma":
        source = luma_source(
            api_key=api.luma_api_key, base_url=api.luma_base_url, http=FAST, **options
        )
    else:
        source = eventee_source(
            api_token=api.eventee_api_token, base_url=api.eventee_base_url, http=FAST, **options
        )
    warehouse.sync(source.with_resources(*tables) if tables else source)


def test_luma_loads_every_event_and_guest_across_many_pages(tmp_path: Path) -> None:
    dataset = Dataset(events=23, guests_per_event=9, participants=1)
    with FakeApi(dataset=dataset) as api:
        run(api, tmp_path / "w.duckdb", "luma", page_size=5)
        # 23 events in pages of 5: 5 pages; the last says has_more=false but still has a cursor.
        assert api.counts["/v1/calendar/list-events"] == 5
        assert api.counts["/v1/event/get-guests"] == 23 * 2  # 9 guests: pages of 5 and 4
        db = tmp_path / "w.duckdb"
        assert count(db, "luma.events") == 23
        assert count(db, "luma.event_guests") == 23 * 9
        expected = {(e["api_id"], e["name"]) for e in api.dataset.events}
        assert set(rows(db, "SELECT api_id, name FROM luma.events")) == expected
        first = api.dataset.events[0]["api_id"]
        guest_ids = {g["api_id"] for g in api.dataset.guests(first)}
        loaded = rows(db, f"SELECT api_id FROM luma.event_guests WHERE event_api_id = '{first}'")
        assert {r[0] for r in loaded} == guest_ids


def test_the_proxy_in_the_environment_carries_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy variables are read once per client (http.py), and still read: the vendor's
    # host here resolves nowhere, so only the proxy (the fake, on 127.0.0.1) can answer.
    for variable in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    with FakeApi(dataset=Dataset(events=12, guests_per_event=3, participants=1)) as api:
        monkeypatch.setenv("http_proxy", api.luma_base_url)
        source = luma_source(
            api_key=api.luma_api_key, base_url="http://luma.example.invalid", http=FAST
        )
        Warehouse(duckdb_path=str(tmp_path / "w.duckdb")).sync(source)
        assert api.counts["/v1/event/get-guests"] == 12
    assert count(tmp_path / "w.duckdb", "luma.event_guests") == 12 * 3


def test_guest_nested_fields_land_as_json(tmp_path: Path) -> None:
    with FakeApi(dataset=Dataset(events=2, guests_per_event=3)) as api:
        run(api, tmp_path / "w.duckdb", "luma")
        guest = api.dataset.guests(api.dataset.events[0]["api_id"])[0]
    types = dict(
        rows(
            tmp_path / "w.duckdb",
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'luma' AND table_name = 'event_guests'",
        )
    )
    assert types["registration_answers"] == "JSON"
    assert types["registered_at"].startswith("TIMESTAMP")
    (answers,) = rows(
        tmp_path / "w.duckdb",
        f"SELECT registration_answers FROM luma.event_guests WHERE api_id = '{guest['api_id']}'",
    )[0]
    import json

    assert json.loads(answers) == guest["registration_answers"]


def test_eventee_loads_twelve_tables_from_six_requests(tmp_path: Path) -> None:
    with FakeApi(dataset=Dataset(events=1, participants=7)) as api:
        run(api, tmp_path / "w.duckdb", "eventee")
        listings = ("partners", "participants", "groups", "reviews", "registrations")
        assert dict(api.counts) == {f"/public/v1/{n}": 1 for n in ("content", *listings)}
        content = api.dataset.content
        for name, records in content.items():
            assert count(tmp_path / "w.duckdb", f"eventee.{name}") == len(records), name
        for name in listings:
            expected = len(getattr(api.dataset, name))
            assert count(tmp_path / "w.duckdb", f"eventee.{name}") == expected, name
        assert count(tmp_path / "w.duckdb", "eventee.participants") == 7
        assert count(tmp_path / "w.duckdb", "eventee.partners") == len(api.dataset.partners)


@pytest.mark.parametrize(
    ("bare", "registrations"),
    [(False, 4), (True, 4), (True, 1)],
    ids=["data-envelope", "bare-list", "one-registration-as-a-bare-object"],
)
def test_eventee_lists_with_or_without_data_envelope(
    tmp_path: Path, bare: bool, registrations: int
) -> None:
    dataset = Dataset(events=1, participants=5, registrations=registrations)
    with FakeApi(dataset=dataset) as api:
        api.faults.eventee_bare_lists = bare
        run(api, tmp_path / "w.duckdb", "eventee")
        emails = {p["email"] for p in api.dataset.participants}
        ids = {r["id"] for r in api.dataset.registrations}
    db = tmp_path / "w.duckdb"
    assert {r[0] for r in rows(db, "SELECT email FROM eventee.participants")} == emails
    assert {r[0] for r in rows(db, "SELECT id FROM eventee.registrations")} == ids


def test_arrow_pages_get_dlts_own_load_and_row_ids_with_dlts_hints(tmp_path: Path) -> None:
    """Guests reach dlt as Arrow tables carrying their row ids (`arrow.py`), so that dlt's
    normalize imports them as they are: the two columns land last, with the hints dlt gives them
    when it adds them itself (a text precision PostgreSQL keeps, the row id's uniqueness), a row
    id per row and this load's id."""
    db = tmp_path / "w.duckdb"
    with FakeApi(dataset=Dataset(events=4, guests_per_event=3, participants=1)) as api:
        source = luma_source(
            api_key=api.luma_api_key, base_url=api.luma_base_url, http=FAST, arrow_pages=True
        )
        synced = Warehouse(duckdb_path=str(db)).sync(source)
    assert synced.schema is not None
    landed = synced.schema.get_table_columns("event_guests")
    for column, hints in (("_dlt_load_id", dlt_load_id_column()), ("_dlt_id", dlt_id_column())):
        assert landed[column] == landed[column] | hints
    assert list(landed)[-2:] == ["_dlt_load_id", "_dlt_id"]
    assert rows(
        db, "SELECT count(*), count(DISTINCT _dlt_id), min(_dlt_load_id) FROM luma.event_guests"
    ) == [(12, 12, synced.load_ids[0])]


def test_merge_is_idempotent_and_updates_changed_records(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with FakeApi(dataset=Dataset(events=6, guests_per_event=2, participants=3)) as api:
        run(api, db, "luma")
        run(api, db, "luma")
        assert (count(db, "luma.events"), count(db, "luma.event_guests")) == (6, 12)
        changed = api.dataset.events[2]["api_id"]
        api.dataset.update_event(changed, name="Renamed upstream")
        run(api, db, "luma")
    assert count(db, "luma.events") == 6
    assert rows(db, f"SELECT name FROM luma.events WHERE api_id = '{changed}'") == [
        ("Renamed upstream",)
    ]


def test_guests_of_long_ended_events_are_read_once_more_then_kept(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    # The guests only: three whole syncs would pass Luma's 200 requests a minute, and wait.
    guests = ("events", "event_guests")
    with FakeApi(dataset=Dataset(events=20, guests_per_event=2)) as api:
        run(api, db, "luma", guests, guest_refresh_days=30)
        assert api.counts["/v1/event/get-guests"] == 20
        api.reset_counts()
        run(api, db, "luma", guests, guest_refresh_days=30)
        refreshed = api.counts["/v1/event/get-guests"]
        assert 0 < refreshed < 20  # only events that ended recently or are still to come
        api.reset_counts()
        run(api, db, "luma", guests, guest_refresh_days=30, full_refresh=True)
        assert api.counts["/v1/event/get-guests"] == 20
    assert count(db, "luma.event_guests") == 40


def test_one_source_extracted_again_reads_the_events_again_when_it_loads_them(
    tmp_path: Path,
) -> None:
    """A source keeps the events it listed for the per-event tables of a later extract (the
    step's second round); an extract that loads the events themselves reads them again, so no
    column is lost to the kept copy, which holds only what the per-event reads need."""
    db = tmp_path / "w.duckdb"
    warehouse = Warehouse(duckdb_path=str(db))
    with FakeApi(dataset=Dataset(events=7, guests_per_event=2, participants=1)) as api:
        source = luma_source(api_key=api.luma_api_key, base_url=api.luma_base_url, http=FAST)
        warehouse.sync(source.with_resources("events"))
        warehouse.sync(source.with_resources("event_guests"))
        assert api.counts["/v1/calendar/list-events"] == 1  # the guests' round: from memory
        assert api.counts["/v1/event/get-guests"] == 7
        warehouse.sync(source.with_resources("events", "event_guests"))
        assert api.counts["/v1/calendar/list-events"] == 2
        expected = {(e["api_id"], e["name"], e["url"]) for e in api.dataset.events}
    assert set(rows(db, "SELECT api_id, name, url FROM luma.events")) == expected
    assert count(db, "luma.event_guests") == 14
