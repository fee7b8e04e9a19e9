"""Deterministic fake Luma and Eventee records.

Everything derives from the seed, except dates, which hang off "today" (UTC midnight at
creation) so that "ended more than N days ago" logic can be exercised. Guests are generated
per event on first use, so a benchmark-sized dataset costs nothing until it is read.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
_ENCODER = json.JSONEncoder(separators=(",", ":"))

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DAY = 86400
# fmt: off
_FIRST = (
    "Ada", "Alan", "Anna", "Ben", "Carla", "Dan", "Eva", "Finn", "Grace", "Hana", "Ivan", "Jana",
    "Karel", "Lea", "Marek", "Nina", "Olga", "Petr", "Rosa", "Sam", "Tereza", "Umar", "Vera",
    "Will", "Xena", "Yuri", "Zoe",
)
_LAST = (
    "Novak", "Svoboda", "Dvorak", "Cerny", "Smith", "Jones", "Garcia", "Muller", "Rossi",
    "Dubois", "Kowalski", "Tanaka", "Silva", "Berg", "Horak", "Nemec", "Fischer", "Weber",
    "Lopez", "Khan",
)
# fmt: on
_COMPANIES = (None, "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne")
_CITIES = (
    ("Prague", "Czechia", "Prague", "50.0755", "14.4378"),
    ("Berlin", "Germany", "Berlin", "52.5200", "13.4050"),
    ("Vienna", "Austria", "Vienna", "48.2082", "16.3738"),
    ("Brno", "Czechia", "South Moravian", "49.1951", "16.6068"),
    ("London", "United Kingdom", "England", "51.5072", "-0.1276"),
)
_TOPICS = ("Data", "Python", "Dagster", "DuckDB", "Analytics", "Streaming", "Open Source")
PER_EVENT = ("ticket_types", "event_coupons", "event_blasts")
"""Luma tables listed one event at a time, besides guests (see Dataset.per_event)."""
LISTS = (
    "people", "person_tags", "event_tags", "calendars",
    "partners", "participants", "groups", "reviews", "registrations",
)  # fmt: skip
"""The other tables' live lists, attributes of the Dataset."""
_INTERESTS = ("data", "ai", "python", "sql", "devops", "design")


def _answer(label: str, answer: object, qid: str, qtype: str) -> str:
    """Registration answers come from small fixed sets, so they are encoded once."""
    return _ENCODER.encode(
        {"label": label, "answer": answer, "question_id": qid, "question_type": qtype}
    )


_ANSWER_COMPANY = [_answer("Company", c, "q-company", "company") for c in _COMPANIES]
_ANSWER_TERMS = [
    _answer("I agree to the code of conduct", b, "q-terms", "terms") for b in (False, True)
]
_ANSWER_INTERESTS = [
    _answer("Interests", list(c), "q-interests", "multi_select")
    for n in (1, 2, 3)
    for c in itertools.combinations(_INTERESTS, n)
]
_AMOUNTS = (0, 0, 0, 1000, 2500)
_STATUSES = ("approved",) * 6 + ("pending_approval", "declined", "invited", "waitlist")


_PAIRS = [a + b for a in _B62 for b in _B62]
_M64 = (1 << 64) - 1


def b62(n: int, width: int = 14) -> str:
    """Fixed-width base62 (the look of Luma's ids); injective while n < 62**width."""
    out = []
    for _ in range(width // 2):
        n, r = divmod(n, 3844)
        out.append(_PAIRS[r])
    if width % 2:
        out.append(_B62[n % 62])
    return "".join(out)


def mix(n: int) -> int:
    """splitmix64's finaliser: a cheap bijection on 64-bit ints, so mixed ids never collide."""
    n = (n ^ (n >> 30)) * 0xBF58476D1CE4E5B9 & _M64
    n = (n ^ (n >> 27)) * 0x94D049BB133111EB & _M64
    return n ^ (n >> 31)


def digest(*parts: object) -> int:
    """Stable 96-bit hash of the parts (Python's hash() is salted per process)."""
    raw = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=12).digest()
    return int.from_bytes(raw, "big")


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and "Z", as Luma writes timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


class Dataset:
    """The live data both fake vendors serve; tests mutate it between runs."""

    def __init__(
        self,
        events: int = 5,
        guests_per_event: int = 3,
        participants: int = 4,
        seed: int = 0,
        halls: int = 3,
        days: int = 2,
        lectures: int = 6,
        speakers: int = 5,
        workshops: int = 2,
        pauses: int = 2,
        tracks: int = 3,
        partners: int = 3,
        people: int = 6,
        registrations: int = 4,
        organization: bool = False,
        now: datetime | None = None,
    ) -> None:
        self.seed = seed
        self.guests_per_event = guests_per_event
        moment = now or datetime.now(UTC)
        self.reference = moment.timestamp() // _DAY * _DAY  # today, 00:00 UTC
        self._lock = threading.RLock()
        self._start: dict[str, tuple[int, float]] = {}  # api_id -> (generation index, start)
        self._guests: dict[str, list[Record]] = {}  # live dicts, once a test asked for them
        self._frozen: dict[str, list[str]] = {}  # serialised entries, see guest_rows()
        self._next_index = 0
        self.events: list[Record] = []
        for i in range(events):
            # Spread starts over -180..+30 days: ~half ended > 60 days ago, some upcoming.
            day = -180 + (210 * i) // max(events - 1, 1)
            self._new_event(i, self.reference + day * _DAY)
        rng = random.Random(digest(seed, "eventee"))
        self.content = self._content(
            rng, halls, days, lectures, speakers, workshops, pauses, tracks
        )
        self.partners = [self._partner(rng, i) for i in range(partners)]
        self.participants = [self._participant(rng, i) for i in range(participants)]
        self.groups = [self._group(i) for i in range(3)]
        self.reviews = [
            self._review(rng, lecture, k)
            for lecture in self.content["lectures"]
            for k in range(rng.randrange(0, 3))
        ]
        self.registrations = [self._registration(rng, i) for i in range(registrations)]
        self.organization = organization
        """Whether the Luma key is an organisation's: only then are its calendars listed."""
        self.calendars = [
            {
                "id": "cal-" + b62(digest(seed, "calendar", i)),
                "name": f"Meetups {city}",
                "slug": city.lower(),
                "created_at": iso(self.reference - (400 + i) * _DAY),
            }
            for i, (city, *_) in enumerate(_CITIES[:2])
        ]
        self.person_tags = [
            {"api_id": f"tag-{name}", "name": name.title(), "color": f"#{i * 0x333333:06x}"}
            for i, name in enumerate(("regular", "speaker", "volunteer"))
        ]
        self.event_tags = [
            {"id": f"tag-{t.lower()}", "name": t, "color": f"#{digest(seed, t) % 0xFFFFFF:06x}"}
            for t in _TOPICS
        ]
        self.people = [self._person(i) for i in range(people)]
        self._per_event: dict[tuple[str, str], list[Record]] = {}

    # -- Luma -----------------------------------------------------------------------------

    def _new_event(self, i: int, day_start: float) -> Record:
        rng = random.Random(digest(self.seed, "event", i))
        api_id = "evt-" + b62(digest(self.seed, "evt", i))
        start = day_start + rng.randrange(8, 19) * 3600 + rng.choice((0, 1800))
        hours = rng.randrange(1, 9)
        online = i % 4 == 3
        city, country, region, lat, lon = _CITIES[rng.randrange(len(_CITIES))]
        topic = _TOPICS[rng.randrange(len(_TOPICS))]
        slug = b62(digest(self.seed, "slug", i), 8).lower()
        event: Record = {
            "api_id": api_id,
            "name": f"{topic} Meetup #{i + 1}",
            "description": f"An evening about {topic}." if rng.random() < 0.9 else None,
            "description_md": f"An evening about **{topic}**.",
            "cover_url": f"https://images.example.com/covers/{slug}.png",
            "created_at": iso(start - rng.randrange(14, 90) * _DAY),
            "start_at": iso(start),
            "end_at": iso(start + hours * 3600),
            "duration_interval": f"PT{hours}H",
            "event_type": "independent",
            "geo_address_json": None
            if online
            else {
                "city": city,
                "country": country,
                "full_address": f"{rng.randrange(1, 99)} Main Street, {city}, {country}",
                "latitude": lat,
                "longitude": lon,
                "place_id": "plc-" + b62(digest(self.seed, "place", i), 10),
                "region": region,
                "type": "google",
            },
            "geo_latitude": None if online else lat,
            "geo_longitude": None if online else lon,
            "meeting_url": f"https://meet.example.com/{slug}" if online else None,
            "zoom_meeting_url": None,
            "timezone": "Europe/Prague",
            "url": f"https://lu.ma/{slug}",
            "user_api_id": "usr-" + b62(digest(self.seed, "host", i % 3)),
            "visibility": "public" if rng.random() < 0.85 else "members-only",
        }
        with self._lock:
            self._start[api_id] = (i, start)
            self._next_index = i + 1
            self.events.append(event)
        return event

    def add_event(self) -> Record:
        """Append a new upcoming event (guests included) and return it."""
        with self._lock:
            event = self._new_event(self._next_index, self.reference + 7 * _DAY)
            self.guests(event["api_id"])
            return event

    def update_event(self, api_id: str, **fields: Any) -> Record:
        """Change fields of an event in place (Luma has no updated_at, so nothing else moves)."""
        event = self.event(api_id)
        if event is None:
            raise KeyError(api_id)
        event.update(fields)
        return event

    def remove_event(self, api_id: str) -> None:
        """Delete an event and its guests, as a cancelled-and-deleted Luma event."""
        with self._lock:
            self.events[:] = [e for e in self.events if e.get("api_id") != api_id]
            self._start.pop(api_id, None)
            self._guests.pop(api_id, None)
            self._frozen.pop(api_id, None)
            for table in PER_EVENT:
                self._per_event.pop((table, api_id), None)

    def remove(self, table: str, key: str, event_api_id: str | None = None) -> Record:
        """Delete one row of a table by its key, as the vendor would; return it (KeyError if
        there is none). Guests need their event's id."""
        with self._lock:
            if table == "events":
                event = self.event(key)
                if event is None:
                    raise KeyError(key)
                self.remove_event(key)
                return event
            if table == "event_guests":
                rows = self.guests(event_api_id or "")
            elif table in PER_EVENT:
                rows = self.per_event(table, event_api_id or "")
            elif table in self.content:
                rows = self.content[table]
            elif table in LISTS:
                rows = getattr(self, table)
            else:
                raise KeyError(table)
            field = (
                "email"
                if table == "participants"
                else ("api_id" if rows and "api_id" in rows[0] else "id")
            )
            found = next((r for r in rows if str(r.get(field)) == key), None)
            if found is None:
                raise KeyError(key)
            rows.remove(found)
            return found

    def event(self, api_id: str) -> Record | None:
        """The live event dict, or None."""
        return next((e for e in self.events if e.get("api_id") == api_id), None)

    def guests(self, event_api_id: str) -> list[Record]:
        """The event's live, mutable guest list, generated on first use; KeyError if none."""
        with self._lock:
            live = self._guests.get(event_api_id)
            if live is not None:
                return live
            frozen = self._frozen.pop(event_api_id, None)
            if frozen is None and event_api_id in self._start:
                frozen = self._guest_entries(event_api_id, *self._start[event_api_id])
            if frozen is not None:
                live = [json.loads(entry)["guest"] for entry in frozen]
            elif self.event(event_api_id) is not None:
                live = []  # appended to .events by hand: starts without guests
            else:
                raise KeyError(event_api_id)
            self._guests[event_api_id] = live
            return live

    def guest_rows(self, event_api_id: str) -> list[Record] | list[str]:
        """What the server pages over: the live dicts once guests() was called, else entries.

        Untouched events are kept as ready-made ``{"api_id", "guest"}`` JSON strings: a fifth
        of the memory of dicts, invisible to the cyclic GC, and no json.dumps per page.
        """
        with self._lock:
            live = self._guests.get(event_api_id)
            if live is not None:
                return live
            frozen = self._frozen.get(event_api_id)
            if frozen is None:
                if event_api_id not in self._start:
                    return self.guests(event_api_id)
                frozen = self._guest_entries(event_api_id, *self._start[event_api_id])
                self._frozen[event_api_id] = frozen
            return frozen

    def _guest_entries(self, event_api_id: str, i: int, start: float) -> list[str]:
        """The event's guests as ``{"api_id", "guest"}`` entry JSON, exactly as json.dumps
        (compact separators) would write them.

        Written straight from a template because this is the hot path of benchmarks with
        hundreds of thousands of guests: building dicts and then encoding them costs ~3x more.
        All interpolated values are plain ASCII without quotes or backslashes.
        """
        rand = random.Random(digest(self.seed, "guests", i)).random
        ticket_type = "ett-" + b62(digest(self.seed, "ticket", i))
        salt_g, salt_p = digest(self.seed, "gst") & _M64, digest(self.seed, "person") & _M64
        per_event = self.guests_per_event
        out = []
        for j in range(per_event):
            # A fifth of guests are returning people: same user as slot j of an earlier event.
            person = (int(rand() * i) if i and rand() < 0.2 else i) * per_event + j
            h = mix((person & _M64) ^ salt_p)
            first, last = _FIRST[h % len(_FIRST)], _LAST[(h >> 8) % len(_LAST)]
            email = f"{first}.{last}.{person}@example.com".lower()
            name = f"{first} {last}"
            gid = b62(mix(((i << 24 | j) & _M64) ^ salt_g), 11)  # bijective: globally unique
            registered = start - 3600 - int(rand() * 40 * _DAY)
            reg = iso(registered)
            amount = _AMOUNTS[int(rand() * len(_AMOUNTS))]
            discount = 0 if amount == 0 or rand() < 0.8 else 500
            ticket = (
                f'{{"amount":{amount},"amount_discount":{discount},"api_id":"evtticket-{gid}",'
                f'"event_ticket_type_api_id":"{ticket_type}",'
                f'"name":"{"Free" if amount == 0 else "Standard"}"}}'
            )
            answers = []
            if rand() < 0.7:
                answers.append(_ANSWER_COMPANY[int(rand() * len(_ANSWER_COMPANY))])
            if rand() < 0.5:
                answers.append(_ANSWER_TERMS[rand() < 0.95])
            if rand() < 0.4:
                answers.append(_ANSWER_INTERESTS[int(rand() * len(_ANSWER_INTERESTS))])
            status = _STATUSES[int(rand() * len(_STATUSES))]
            source = '"newsletter"' if rand() < 0.15 else "null"
            eth = f'"0x{h * 0x9E3779B97F4A7C15 % (1 << 160):040x}"' if rand() < 0.05 else "null"
            invited = f'"{iso(registered - _DAY)}"' if rand() < 0.1 else "null"
            phone = f'"+420{h % 1_000_000_000:09d}"' if rand() < 0.3 else "null"
            # Three in four approved guests of a past event came and were checked in.
            came = status == "approved" and start < self.reference and rand() < 0.75
            checked_in = f'"{iso(start + int(rand() * 5400))}"' if came else "null"
            out.append(
                f'{{"api_id":"gst-{gid}","guest":{{"api_id":"gst-{gid}",'
                f'"approval_status":"{status}","checked_in_at":{checked_in},'
                f'"check_in_qr_code":"https://lu.ma/check-in/{event_api_id}?pk=g-{gid}",'
                f'"created_at":"{reg}","custom_source":{source},"email":"{email}",'
                f'"eth_address":{eth},"event_ticket":{ticket},"event_tickets":[{ticket}],'
                f'"invited_at":{invited},"joined_at":null,"name":"{name}",'
                f'"phone_number":{phone},"registered_at":"{reg}",'
                f'"registration_answers":[{",".join(answers)}],"user_api_id":"usr-{b62(h, 11)}",'
                f'"user_email":"{email}","user_first_name":"{first}","user_last_name":"{last}",'
                f'"user_name":"{name}"}}}}'
            )
        return out

    def _person(self, i: int) -> Record:
        rand = random.Random(digest(self.seed, "contact", i)).random
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
        tags = [t for t in self.person_tags if rand() < 0.3]
        return {
            "api_id": "usr-" + b62(digest(self.seed, "contact", i), 11),
            "email": f"{first}.{last}.c{i}@example.com".lower(),
            "name": f"{first} {last}",
            "created_at": iso(self.reference - int(rand() * 400) * _DAY),
            "event_approved_count": int(rand() * 12),
            "event_checked_in_count": int(rand() * 8),
            "revenue_usd_cents": int(rand() * 10) * 1000,
            "tags": [{"api_id": t["api_id"], "name": t["name"]} for t in tags],
        }

    def per_event(self, table: str, event_api_id: str) -> list[Record]:
        """An event's ticket types, coupons or blasts (current-route shapes: `id`, flat), made
        on first use and kept, so tests can change them; KeyError for an unknown event."""
        with self._lock:
            if (table, event_api_id) not in self._per_event:
                if event_api_id not in self._start and self.event(event_api_id) is None:
                    raise KeyError(event_api_id)
                i, start = self._start.get(event_api_id, (self._next_index, self.reference))
                rows = getattr(self, f"_{table}")(i, start)
                self._per_event[(table, event_api_id)] = rows
            return self._per_event[(table, event_api_id)]

    def _ticket_types(self, i: int, start: float) -> list[Record]:
        rand = random.Random(digest(self.seed, "ticket-types", i)).random
        paid = int(rand() * 3) * 1000
        common = {"valid_start_at": None, "require_approval": False, "currency": "usd"}
        return [
            {
                **common,
                "id": "ett-" + b62(digest(self.seed, "ticket", i)),
                "name": "Standard" if paid else "Free",
                "type": "paid" if paid else "free",
                "cents": paid or None,
                "is_hidden": False,
                "max_capacity": None,
                "valid_end_at": iso(start),
            },
            {
                **common,
                "id": "ett-" + b62(digest(self.seed, "ticket-vip", i)),
                "name": "Speaker",
                "type": "free",
                "cents": None,
                "is_hidden": True,
                "max_capacity": 10,
                "valid_end_at": None,
            },
        ]

    def _event_coupons(self, i: int, start: float) -> list[Record]:
        rand = random.Random(digest(self.seed, "coupons", i)).random
        return [
            {
                "id": "ecp-" + b62(digest(self.seed, "coupon", i, k)),
                "code": f"SAVE{k + 1}{i}",
                "remaining_count": int(rand() * 50) if rand() < 0.7 else None,
                "percent_off": 10.0 * (k + 1) if k % 2 == 0 else None,
                "cents_off": None if k % 2 == 0 else 500,
                "currency": None if k % 2 == 0 else "usd",
                "valid_start_at": None,
                "valid_end_at": iso(start),
                "event_ticket_type_id": None,
            }
            for k in range(i % 4)
        ]

    def _event_blasts(self, i: int, start: float) -> list[Record]:
        return [
            {
                "id": "bls-" + b62(digest(self.seed, "blast", i)),
                "message": "See you soon! Doors open 30 minutes before.",
                "created_at": iso(start - _DAY),
            }
        ]

    # -- Eventee --------------------------------------------------------------------------

    def _content(
        self,
        rng: random.Random,
        halls: int,
        days: int,
        lectures: int,
        speakers: int,
        workshops: int,
        pauses: int,
        tracks: int,
    ) -> dict[str, list[Record]]:
        ev = 4000 + self.seed
        conf = self.reference + 21 * _DAY  # the conference is three weeks out
        stamp = iso(conf - 30 * _DAY)
        hall_l = [
            {
                "id": 10_000 + i,
                "event_id": ev,
                "name": f"Hall {chr(65 + i % 26)}",
                "order": i,
                "stream": {"type": "youtube", "url": f"https://youtube.example.com/live/{i}"}
                if i % 2 == 0
                else None,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for i in range(halls)
        ]
        day_l = [
            {
                "id": 20_000 + i,
                "event_id": ev,
                "date": iso(conf + i * _DAY)[:10],
                "content_url": f"https://eventee.example.com/e/{ev}/day/{i}",
            }
            for i in range(days)
        ]
        track_l = [
            {
                "id": 70_000 + i,
                "event_id": ev,
                "name": _TOPICS[i % len(_TOPICS)],
                "color": f"#{digest(self.seed, 'color', i) % 0xFFFFFF:06x}",
            }
            for i in range(tracks)
        ]
        speaker_l = []
        for i in range(speakers):
            first, last = _FIRST[(i * 7) % len(_FIRST)], _LAST[(i * 3) % len(_LAST)]
            handle = f"{first}{last}".lower()
            speaker_l.append(
                {
                    "id": 40_000 + i,
                    "event_id": ev,
                    "name": f"{first} {last}",
                    "company": _COMPANIES[1 + i % (len(_COMPANIES) - 1)],
                    "position": "Engineer" if i % 2 else "Head of Data",
                    "email": f"{handle}@speakers.example.com",
                    "phone": None if i % 3 else f"+420600{i:06d}",
                    "bio": f"{first} works on data.",
                    "bio_html": f"<p>{first} works on data.</p>",
                    "country": "CZ",
                    "language": "en",
                    "web": f"https://{handle}.example.com",
                    "twitter": f"@{handle}" if i % 2 == 0 else None,
                    "facebook": None,
                    "instagram": None,
                    "linkedIn": f"https://linkedin.example.com/in/{handle}",
                    "order": i,
                }
            )

        def sessions(base: int, n: int, kind: str) -> list[Record]:
            out = []
            for i in range(n):
                day = i % max(days, 1)
                begin = conf + day * _DAY + (9 + (i // max(days, 1)) % 8) * 3600
                cap = 30 if kind == "workshop" else None
                booked = rng.randrange(0, 31) if cap else 0
                out.append(
                    {
                        "id": base + i,
                        "event_id": ev,
                        "event_day_id": 20_000 + day if days else None,
                        "hall_id": 10_000 + i % halls if halls else None,
                        "name": f"{_TOPICS[i % len(_TOPICS)]} {kind} {i + 1}",
                        "description": f"<p>A {kind} about {_TOPICS[i % len(_TOPICS)]}.</p>",
                        "start": iso(begin),
                        "end": iso(begin + 45 * 60),
                        "speakers": [40_000 + (i + k) % speakers for k in range(min(2, speakers))],
                        "tracks": [70_000 + i % tracks] if tracks else [],
                        "files": [],
                        "capacity": cap,
                        "available": cap - booked if cap else None,
                        "booked": booked,
                        "booking_info": [],
                        "code": f"{kind[0].upper()}{i + 1:03d}",
                        "type": kind,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
            return out

        pause_l = [
            {
                "id": 60_000 + i,
                "event_id": ev,
                "name": "Coffee break" if i % 2 == 0 else "Lunch",
                "start": iso(conf + (i % max(days, 1)) * _DAY + (10 + i) * 3600),
                "end": iso(conf + (i % max(days, 1)) * _DAY + (10 + i) * 3600 + 1800),
            }
            for i in range(pauses)
        ]
        return {
            "halls": hall_l,
            "days": day_l,
            "lectures": sessions(30_000, lectures, "lecture"),
            "speakers": speaker_l,
            "workshops": sessions(50_000, workshops, "workshop"),
            "pauses": pause_l,
            "tracks": track_l,
        }

    def _partner(self, rng: random.Random, i: int) -> Record:
        name = _COMPANIES[1 + i % (len(_COMPANIES) - 1)]
        return {
            "id": 80_000 + i,
            "name": f"{name} {i + 1}",
            "description": f"{name} sponsors the conference." if rng.random() < 0.8 else None,
            "email": f"partners@{(name or 'x').lower()}{i}.example.com",
            "web": f"https://{(name or 'x').lower()}{i}.example.com",
        }

    def _group(self, i: int) -> Record:
        name = ("Attendees", "VIP", "Staff")[i]
        return {
            "id": 90_000 + i,
            "name": name,
            "public_name": name,
            "color": f"#{digest(self.seed, 'group', i) % 0xFFFFFF:06x}",
            "emoji": ("🎟", "⭐", "🛠")[i],
            "is_default": i == 0,
        }

    def _review(self, rng: random.Random, lecture: Record, k: int) -> Record:
        stamp = iso(self.reference + 22 * _DAY + k * 60)
        return {
            "id": 95_000 + (lecture["id"] - 30_000) * 10 + k,
            "stars": rng.randrange(1, 6),
            "comment": "Great talk!" if rng.random() < 0.5 else None,
            "username": _FIRST[rng.randrange(len(_FIRST))],
            "user_id": 600 + rng.randrange(200),
            "lecture_id": lecture["id"],
            "lecture": {"id": lecture["id"], "name": lecture["name"]},
            "device": "iPhone" if k % 2 else "Pixel",
            "OS": "iOS" if k % 2 else "Android",
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _registration(self, rng: random.Random, i: int) -> Record:
        first, last = _FIRST[rng.randrange(len(_FIRST))], _LAST[rng.randrange(len(_LAST))]
        return {
            "id": 97_000 + i,
            "email": f"{first}.{last}.r{i}@attendee.example.com".lower(),
            "first_name": first,
            "last_name": last,
            "phone": f"+420605{i:06d}" if i % 2 else None,
            "company": _COMPANIES[1 + i % (len(_COMPANIES) - 1)],
            "position": "Analyst",
            "group_id": 90_000 + i % 3,
            "status": "confirmed" if i % 5 else "cancelled",
        }

    def _participant(self, rng: random.Random, i: int) -> Record:
        first, last = _FIRST[rng.randrange(len(_FIRST))], _LAST[rng.randrange(len(_LAST))]
        return {
            "email": f"{first}.{last}.{i}@attendee.example.com".lower(),
            "first_name": first,
            "last_name": last,
            "company": _COMPANIES[rng.randrange(len(_COMPANIES))],
            "phone": f"+420777{i:06d}" if rng.random() < 0.5 else None,
        }
