"""The fake Luma/Eventee server, over real HTTP: other tests trust it to behave like the vendors."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from eventsync_dev.fake_api import Dataset, FakeApi, Faults
from eventsync_dev.fake_api.__main__ import parser

LUMA_KEY, EVENTEE_TOKEN = "luma-test-key", "eventee-test-token"
EVENTS, GUESTS = "/v1/calendar/list-events", "/v1/event/get-guests"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CONTENT_KEYS = {"halls", "days", "lectures", "speakers", "workshops", "pauses", "tracks"}
EVENT_FIELDS = {
    "api_id", "name", "description", "description_md", "cover_url", "created_at", "start_at",
    "end_at", "duration_interval", "event_type", "geo_address_json", "geo_latitude",
    "geo_longitude", "meeting_url", "zoom_meeting_url", "timezone", "url", "user_api_id",
    "visibility",
}  # fmt: skip
GUEST_FIELDS = {
    "api_id", "approval_status", "check_in_qr_code", "created_at", "custom_source", "email",
    "eth_address", "event_ticket", "event_tickets", "invited_at", "name", "phone_number",
    "registered_at", "registration_answers", "user_api_id", "user_email", "user_name",
}  # fmt: skip

MakeApi = Callable[..., FakeApi]


@pytest.fixture
def make_api() -> Iterator[MakeApi]:
    """Start FakeApi instances on free ports and stop them all afterwards."""
    started: list[FakeApi] = []

    def make(faults: Faults | None = None, **sizes: Any) -> FakeApi:
        sizes.setdefault("now", NOW)
        api = FakeApi(dataset=Dataset(**sizes), faults=faults).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def api(make_api: MakeApi) -> FakeApi:
    return make_api(events=7, guests_per_event=5, participants=4)


@pytest.fixture
def luma() -> requests.Session:
    session = requests.Session()
    session.headers["x-luma-api-key"] = LUMA_KEY
    return session


@pytest.fixture
def eventee() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {EVENTEE_TOKEN}"
    return session


def walk(session: requests.Session, url: str, **params: Any) -> list[dict[str, Any]]:
    """Follow Luma's cursor the way clients must: stop on has_more, never on the cursor."""
    pages, cursor = [], None
    while True:
        query = {**params, **({"pagination_cursor": cursor} if cursor else {})}
        resp = session.get(url, params=query, timeout=5)
        assert resp.status_code == 200, resp.text
        pages.append(body := resp.json())
        if not body["has_more"]:
            return pages
        cursor = body["next_cursor"]


# -- auth -------------------------------------------------------------------------------


def test_luma_auth(api: FakeApi) -> None:
    url = api.luma_base_url + EVENTS
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 400 and "message" in missing.json()
    wrong = requests.get(url, headers={"x-luma-api-key": "nope-secret"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Invalid API key"}
    assert "nope-secret" not in wrong.text


def test_eventee_auth(api: FakeApi) -> None:
    url = api.eventee_base_url + "/content"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": EVENTEE_TOKEN}):
        resp = requests.get(url, headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.json() == {"error": "token_invalid"}


def test_faults_apply_after_auth(make_api: MakeApi) -> None:
    api = make_api(faults=Faults(rate_limit_429=5, status_burst=5))
    assert requests.get(api.luma_base_url + EVENTS, timeout=5).status_code == 400
    assert requests.get(api.eventee_base_url + "/content", timeout=5).status_code == 401
    assert api.faults.rate_limit_429 == 5


# -- Luma -------------------------------------------------------------------------------


def test_events_pagination_walks_every_event_once(
    make_api: MakeApi, luma: requests.Session
) -> None:
    api = make_api(events=23)
    pages = walk(luma, api.luma_base_url + EVENTS, pagination_limit=5)
    assert [len(p["entries"]) for p in pages] == [5, 5, 5, 5, 3]
    ids = [e["api_id"] for p in pages for e in p["entries"]]
    assert ids == [e["api_id"] for e in api.dataset.events] and len(set(ids)) == 23
    assert all(i.startswith("evt-") for i in ids)
    last = pages[-1]
    assert last["has_more"] is False
    assert isinstance(last["next_cursor"], str) and last["next_cursor"]
    for entry in pages[0]["entries"]:
        assert entry["api_id"] == entry["event"]["api_id"]
        topic = entry["event"]["name"].split(" ")[0]  # tags ride beside the event, as on Luma
        assert entry["tags"] == [{"api_id": f"tag-{topic.lower()}", "name": topic}]
        assert set(entry["event"]) >= EVENT_FIELDS
    # Following the last page's cursor anyway yields an empty, final page.
    more = luma.get(api.luma_base_url + EVENTS, params={"pagination_cursor": last["next_cursor"]})
    assert more.json()["entries"] == [] and more.json()["has_more"] is False


def test_pagination_limit_default_clamp_and_errors(
    make_api: MakeApi, luma: requests.Session
) -> None:
    api = make_api(events=130)
    url = api.luma_base_url + EVENTS
    assert len(luma.get(url).json()["entries"]) == 50
    assert len(luma.get(url, params={"pagination_limit": 500}).json()["entries"]) == 100
    for bad in ({"pagination_limit": "ten"}, {"pagination_cursor": "made-up"}):
        resp = luma.get(url, params=bad)
        assert resp.status_code == 400 and "message" in resp.json()


def test_events_after_before_filters(api: FakeApi, luma: requests.Session) -> None:
    url = api.luma_base_url + EVENTS
    starts = sorted(e["start_at"] for e in api.dataset.events)
    middle = starts[3]
    after = luma.get(url, params={"after": middle}).json()["entries"]
    before = luma.get(url, params={"before": middle}).json()["entries"]
    assert {e["event"]["start_at"] for e in after} == set(starts[3:])
    assert {e["event"]["start_at"] for e in before} == set(starts[:3])
    assert luma.get(url, params={"after": "yesterday"}).status_code == 400


def test_event_dates_straddle_now(make_api: MakeApi) -> None:
    api = make_api(events=20, now=None)
    now = datetime.now(UTC)
    ends = [datetime.fromisoformat(e["end_at"]) for e in api.dataset.events]
    long_ago = sum(end < now - timedelta(days=60) for end in ends)
    assert 6 <= long_ago <= 14
    assert any(datetime.fromisoformat(e["start_at"]) > now for e in api.dataset.events)
    assert any(now - timedelta(days=30) < end < now for end in ends)


def test_guests_per_event_and_errors(make_api: MakeApi, luma: requests.Session) -> None:
    api = make_api(events=3, guests_per_event=7)
    url = api.luma_base_url + GUESTS
    seen: list[str] = []
    for event in api.dataset.events:
        pages = walk(luma, url, event_api_id=event["api_id"], pagination_limit=3)
        assert [len(p["entries"]) for p in pages] == [3, 3, 1]
        assert isinstance(pages[-1]["next_cursor"], str)
        for entry in (e for p in pages for e in p["entries"]):
            guest = entry["guest"]
            assert entry["api_id"] == guest["api_id"] and guest["api_id"].startswith("gst-")
            assert set(guest) >= GUEST_FIELDS and guest["user_api_id"].startswith("usr-")
            assert set(guest["event_ticket"]) >= {"amount", "api_id", "name"}
            seen.append(guest["api_id"])
    assert len(seen) == len(set(seen)) == 21
    missing = luma.get(url)
    assert missing.status_code == 400 and "message" in missing.json()
    unknown = luma.get(url, params={"event_api_id": "evt-doesnotexist"})
    assert unknown.status_code == 404 and unknown.json() == {"message": "Event not found"}
    # A cursor from another event's listing is not accepted.
    first = api.dataset.events[0]["api_id"]
    cursor = luma.get(url, params={"event_api_id": first, "pagination_limit": 2}).json()
    other = {"event_api_id": api.dataset.events[1]["api_id"]}
    assert (
        luma.get(url, params={**other, "pagination_cursor": cursor["next_cursor"]}).status_code
        == 400
    )


def test_registration_answers_have_mixed_types(make_api: MakeApi) -> None:
    api = make_api(events=4, guests_per_event=50)
    answers = [
        a["answer"]
        for e in api.dataset.events
        for g in api.dataset.guests(e["api_id"])
        for a in g["registration_answers"]
    ]
    assert {type(a) for a in answers} == {str, bool, list, type(None)}


def test_dataset_mutations_are_served(api: FakeApi, luma: requests.Session) -> None:
    url = api.luma_base_url + EVENTS
    first = api.dataset.events[0]["api_id"]
    api.dataset.update_event(first, name="Renamed")
    new = api.dataset.add_event()
    entries = {e["api_id"]: e["event"] for e in luma.get(url).json()["entries"]}
    assert entries[first]["name"] == "Renamed" and new["api_id"] in entries
    guests = api.dataset.guests(new["api_id"])
    assert len(guests) == 5
    guests[0]["name"] = "Changed"
    served = luma.get(api.luma_base_url + GUESTS, params={"event_api_id": new["api_id"]}).json()
    assert served["entries"][0]["guest"]["name"] == "Changed"
    api.dataset.remove_event(first)
    assert luma.get(api.luma_base_url + GUESTS, params={"event_api_id": first}).status_code == 404


def test_live_guests_serialise_like_generated_ones(api: FakeApi, luma: requests.Session) -> None:
    url, event = api.luma_base_url + GUESTS, {"event_api_id": api.dataset.events[2]["api_id"]}
    before = luma.get(url, params=event).content
    api.dataset.guests(event["event_api_id"])  # switches the event to live dicts
    assert luma.get(url, params=event).content == before


# -- Eventee ----------------------------------------------------------------------------


def test_content_has_seven_lists(api: FakeApi, eventee: requests.Session) -> None:
    body = eventee.get(api.eventee_base_url + "/content").json()
    assert set(body) == CONTENT_KEYS
    assert all(isinstance(v, list) and v for v in body.values())
    lecture = body["lectures"][0]
    assert {"id", "event_day_id", "hall_id", "speakers", "tracks", "start", "end"} <= set(lecture)
    speaker_ids = {s["id"] for s in body["speakers"]}
    assert set(lecture["speakers"]) <= speaker_ids
    assert isinstance(body["halls"][0]["stream"], dict)


def test_partners_participants_data_or_bare(api: FakeApi, eventee: requests.Session) -> None:
    for path, size, key in (("/partners", 3, "id"), ("/participants", 4, "email")):
        wrapped = eventee.get(api.eventee_base_url + path).json()
        assert list(wrapped) == ["data"] and len(wrapped["data"]) == size
        assert len({r[key] for r in wrapped["data"]}) == size
    api.faults.eventee_bare_lists = True
    bare = eventee.get(api.eventee_base_url + "/participants").json()
    assert isinstance(bare, list) and bare == api.dataset.participants


def test_unknown_paths_are_json_404(api: FakeApi, eventee: requests.Session) -> None:
    for url in (api.eventee_base_url + "/nope", api.luma_base_url + "/elsewhere"):
        resp = eventee.get(url, headers={"x-luma-api-key": LUMA_KEY})
        assert resp.status_code == 404 and isinstance(resp.json(), dict)


# -- faults -----------------------------------------------------------------------------


def test_rate_limit_429_then_recovers(api: FakeApi, luma: requests.Session) -> None:
    api.faults.rate_limit_429, api.faults.retry_after = 2, 3
    url = api.luma_base_url + EVENTS
    for _ in range(2):
        resp = luma.get(url)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert luma.get(url).status_code == 200


def test_status_burst_on_matching_paths(api: FakeApi, luma: requests.Session) -> None:
    api.faults.status_burst, api.faults.burst_status = 2, 502
    api.faults.burst_paths = (GUESTS,)
    guests = {"event_api_id": api.dataset.events[0]["api_id"]}
    assert luma.get(api.luma_base_url + EVENTS).status_code == 200
    codes = [luma.get(api.luma_base_url + GUESTS, params=guests).status_code for _ in range(3)]
    assert codes == [502, 502, 200]


def test_slow_responses(api: FakeApi, eventee: requests.Session) -> None:
    api.faults.slow_seconds, api.faults.slow_count = 1, 1
    api.faults.slow_paths = ("/public/v1/content",)
    url = api.eventee_base_url + "/content"
    took = []
    for _ in range(2):
        start = time.perf_counter()
        assert eventee.get(url).status_code == 200
        took.append(time.perf_counter() - start)
    assert took[0] >= 1 > took[1]


def test_truncated_json(api: FakeApi, eventee: requests.Session) -> None:
    api.faults.truncate_json = 1
    resp = eventee.get(api.eventee_base_url + "/participants")
    assert resp.status_code == 200
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        resp.json()
    assert eventee.get(api.eventee_base_url + "/participants").json()["data"]


def test_non_json_body(api: FakeApi, luma: requests.Session) -> None:
    api.faults.non_json = 1
    resp = luma.get(api.luma_base_url + EVENTS)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.text == "<html>oops</html>"
    assert luma.get(api.luma_base_url + EVENTS).json()["entries"]


def test_drop_connection_mid_pagination(api: FakeApi, luma: requests.Session) -> None:
    api.faults.drop_connection_after = 1
    url = api.luma_base_url + EVENTS
    first = luma.get(url, params={"pagination_limit": 2}).json()
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            luma.get(url, params={"pagination_cursor": first["next_cursor"]})
    api.faults.drop_connection_after = -1
    assert luma.get(url, params={"pagination_cursor": first["next_cursor"]}).status_code == 200
    assert api.counts[EVENTS] == 4


def test_duplicates_across_pages(make_api: MakeApi, luma: requests.Session) -> None:
    api = make_api(events=10, faults=Faults(duplicate_across_pages=True))
    pages = walk(luma, api.luma_base_url + EVENTS, pagination_limit=4)
    ids = [e["api_id"] for p in pages for e in p["entries"]]
    assert len(ids) == 12 and len(set(ids)) == 10
    for prev, page in itertools.pairwise(pages):
        assert page["entries"][0] == prev["entries"][-1]
    eventee = {"Authorization": f"Bearer {EVENTEE_TOKEN}"}
    partners = requests.get(api.eventee_base_url + "/partners", headers=eventee).json()["data"]
    assert partners[-1] == partners[0] and len(partners) == 4


def test_duplicates_across_guest_pages(make_api: MakeApi, luma: requests.Session) -> None:
    api = make_api(events=1, guests_per_event=5, faults=Faults(duplicate_across_pages=True))
    params = {"event_api_id": api.dataset.events[0]["api_id"], "pagination_limit": 2}
    pages = walk(luma, api.luma_base_url + GUESTS, **params)
    ids = [e["api_id"] for p in pages for e in p["entries"]]
    assert len(ids) == 7 and len(set(ids)) == 5


def test_null_primary_keys_and_fields(make_api: MakeApi, luma: requests.Session) -> None:
    api = make_api(events=6, guests_per_event=4, faults=Faults(null_required_every=3))
    events = luma.get(api.luma_base_url + EVENTS).json()["entries"]
    assert [e["event"]["api_id"] is None for e in events] == [False, False, True] * 2
    assert events[2]["api_id"] is None
    guests = luma.get(
        api.luma_base_url + GUESTS, params={"event_api_id": events[0]["event"]["api_id"]}
    ).json()["entries"]
    assert [g["guest"]["api_id"] is None for g in guests] == [False, False, True, False]
    headers = {"Authorization": f"Bearer {EVENTEE_TOKEN}"}
    people = requests.get(api.eventee_base_url + "/participants", headers=headers).json()
    assert [p["email"] is None for p in people["data"]] == [False, False, True, False]
    assert all(e["api_id"] for e in api.dataset.events)  # the dataset itself stays clean

    api.faults.null_required_every, api.faults.null_field_every = 0, 2
    events = luma.get(api.luma_base_url + EVENTS).json()["entries"]
    assert [e["event"]["name"] is None for e in events] == [False, True] * 3


def test_extra_fields_everywhere(api: FakeApi, luma: requests.Session) -> None:
    api.faults.extra_fields = {"brand_new": 1}
    event = luma.get(api.luma_base_url + EVENTS).json()["entries"][0]["event"]
    guest = luma.get(api.luma_base_url + GUESTS, params={"event_api_id": event["api_id"]}).json()[
        "entries"
    ][0]["guest"]
    headers = {"Authorization": f"Bearer {EVENTEE_TOKEN}"}
    content = requests.get(api.eventee_base_url + "/content", headers=headers).json()
    partners = requests.get(api.eventee_base_url + "/partners", headers=headers).json()["data"]
    records = [event, guest, *partners, *(r for rows in content.values() for r in rows)]
    assert all(r["brand_new"] == 1 for r in records)


def test_luma_rate_limit_emulation(api: FakeApi, luma: requests.Session) -> None:
    api.faults.luma_rate_limit, api.faults.luma_block_seconds = 3, 0.5
    url = api.luma_base_url + EVENTS
    remaining = []
    for _ in range(3):
        resp = luma.get(url)
        assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "3"
        assert int(resp.headers["X-RateLimit-Reset"]) > 0
        remaining.append(resp.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    for _ in range(2):  # over budget, then blocked
        resp = luma.get(url)
        assert resp.status_code == 429 and resp.json() == {"message": "rate limited"}
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert requests.get(  # Eventee is not rate limited
        api.eventee_base_url + "/content", headers={"Authorization": f"Bearer {EVENTEE_TOKEN}"}
    ).ok
    time.sleep(0.6)
    assert luma.get(url).status_code == 200


# -- bookkeeping, determinism, CLI -------------------------------------------------------


def test_counts_and_statuses(api: FakeApi, luma: requests.Session) -> None:
    api.faults.status_burst = 1
    url = api.luma_base_url + EVENTS
    for _ in range(3):
        luma.get(url, params={"pagination_limit": 2})
    requests.get(url)
    assert api.counts[EVENTS] == 4
    assert api.statuses[(EVENTS, 503)] == 1 and api.statuses[(EVENTS, 200)] == 2
    assert api.statuses[(EVENTS, 400)] == 1
    api.reset_counts()
    assert not api.counts and not api.statuses


def test_same_seed_same_bodies(make_api: MakeApi, luma: requests.Session) -> None:
    def bodies(api: FakeApi) -> list[bytes]:
        headers = {"Authorization": f"Bearer {EVENTEE_TOKEN}"}
        event = api.dataset.events[3]["api_id"]
        return [
            luma.get(api.luma_base_url + EVENTS).content,
            luma.get(api.luma_base_url + GUESTS, params={"event_api_id": event}).content,
            *(
                requests.get(api.eventee_base_url + p, headers=headers).content
                for p in ("/content", "/partners", "/participants")
            ),
        ]

    first, second = (make_api(events=8, guests_per_event=20) for _ in range(2))
    assert bodies(first) == bodies(second)
    assert bodies(make_api(events=8, guests_per_event=20, seed=1)) != bodies(first)


def test_big_dataset_ids_unique() -> None:
    data = Dataset(events=300, guests_per_event=100, now=NOW)
    rows = [row for e in data.events for row in data.guest_rows(e["api_id"])]
    ids = {json.loads(row)["api_id"] for row in rows if isinstance(row, str)}
    assert len(ids) == 30_000


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    ready = tmp_path / "port"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "eventsync_dev.fake_api", "--port", "0", "--events", "3"),
            *("--guests-per-event", "2", "--ready-file", str(ready), "--luma-api-key", "cli-key"),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        port = int(ready.read_text())
        resp = requests.get(
            f"http://127.0.0.1:{port}{EVENTS}", headers={"x-luma-api-key": "cli-key"}, timeout=5
        )
        assert len(resp.json()["entries"]) == 3
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"luma_base_url=http://127.0.0.1:{port}" in out
    assert f"eventee_base_url=http://127.0.0.1:{port}/public/v1" in out


def help_defaults(module: str) -> dict[str, str]:
    """Each option's default as `python -m <module> --help` shows it."""
    env = {**os.environ, "COLUMNS": "200"}  # no value broken over two lines
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    options = re.split(r"\n(?=  -)|\n\n", out.split("options:", 1)[1])  # each with its help
    found = (re.fullmatch(r"(--[\w-]+)\b.*\(default: (.*)\)", " ".join(o.split())) for o in options)
    return dict(match.groups() for match in found if match)


def test_cli_help_shows_every_default_and_the_demo_serves_the_same_data() -> None:
    defaults = {
        f"--{k.replace('_', '-')}": str(v) for k, v in vars(parser().parse_args([])).items()
    }
    shown = help_defaults("eventsync_dev.fake_api")
    assert shown == defaults  # every option, with its default
    assert (shown["--host"], shown["--port"]) == ("127.0.0.1", "8765")
    assert (shown["--luma-api-key"], shown["--eventee-api-token"]) == (LUMA_KEY, EVENTEE_TOKEN)
    data = {"--events", "--guests-per-event", "--participants", "--seed"}
    assert help_defaults("eventsync_dev.demo") == {k: shown[k] for k in data}
