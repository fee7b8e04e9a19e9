"""One request budget per vendor key, shared by every process on the machine.

Luma limits requests per key (200 a minute for a calendar key, 500 for an organisation key) and
blocks the key for a minute when that is exceeded. Runs, their steps, parallel accounts and the
change sensor all spend one key's budget, often from different processes (a run per account, the
daemon's sensor). A limiter in memory cannot see the others, and Dagster's concurrency pools count
steps, not requests; so the budget lives in a small SQLite file per key (WAL mode, one short
`BEGIN IMMEDIATE` transaction per grant), which every process on the machine opens.

The limit itself is what the server says: every Luma answer carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset`. The budget paces at a fraction of the announced
limit (requests are counted when sent, the server counts them when they arrive), stops when the
server reports nothing remaining until its window resets, and respects a 429's `Retry-After` for
every process. A configured cap (`LUMA_REQUESTS_PER_MINUTE`) is never exceeded.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACE = 0.95
"""Share of the announced limit a key is paced at: room for the time requests spend in flight."""
DEFAULT_LIMIT = 180
"""Requests per window until the server has announced its limit (a calendar key allows 200)."""
LEASE_SHARE = 0.01
"""Share of the window's limit one grant may take at once, and share of the window it may be
used in (`SharedBudget.acquire`)."""
MAX_LEASE = 50
EPOCH_THRESHOLD = 1_000_000_000.0
"""An `X-RateLimit-Reset` above this is a Unix timestamp, below it a number of seconds."""


def budget_path(directory: Path | None, vendor: str, *identity: object) -> Path:
    """The budget file of one key on one server: a digest names it, never the key itself.

    Defaults to the machine's temporary folder, which every process on the machine shares
    (`EVENTSYNC_BUDGET_DIR` moves it, e.g. to a volume several containers mount).
    """
    digest = hashlib.sha256("\0".join(map(str, identity)).encode()).hexdigest()[:16]
    folder = directory or Path(tempfile.gettempdir()) / "eventsync-budgets"
    return folder / f"{vendor}-{digest}.sqlite"


@dataclass(frozen=True)
class RateHeaders:
    """What one answer said about the key's budget (None: the header was absent)."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str], now: float | None = None) -> RateHeaders:
        limit = _number(headers.get("X-RateLimit-Limit"))
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        reset = _number(headers.get("X-RateLimit-Reset"))
        return cls(
            limit=int(limit) if limit and limit >= 1 else None,
            remaining=int(remaining) if remaining is not None else None,
            reset_seconds=None if reset is None else seconds_until(reset, now),
        )


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


def seconds_until(value: float, now: float | None = None) -> float:
    """A reset or retry time as seconds from now: servers send seconds or an epoch timestamp."""
    if value > EPOCH_THRESHOLD:
        return max(0.0, value - (time.time() if now is None else now))
    return value


class SharedBudget:
    """At most the key's limit per `window` seconds over all processes (a sliding log)."""

    def __init__(
        self, path: Path, *, window: float = 60.0, cap: int | None = None, max_wait: float = 120.0
    ) -> None:
        if cap is not None and cap < 1:
            raise ValueError("a rate limit needs at least one request per window")
        self.path, self.window, self.cap, self.max_wait = path, window, cap, max_wait
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS sent (at REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS sent_at ON sent (at)")
            db.execute("CREATE TABLE IF NOT EXISTS key (name TEXT PRIMARY KEY, value REAL)")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a lost entry after a power cut costs nothing
            self._local.db = db
        return db

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db())

    def limit(self, db: sqlite3.Connection) -> int:
        """Requests allowed per window now: the server's announced limit, paced, under the cap."""
        row = db.execute("SELECT value FROM key WHERE name = 'limit'").fetchone()
        if row is None:  # nothing announced yet: the cap, else a calendar key's safe pace
            return self.cap or DEFAULT_LIMIT
        announced = max(1, math.floor(row[0] * PACE))
        return min(announced, self.cap) if self.cap else announced

    def acquire(self) -> float:
        """Block until one request may go out, then count it; return the seconds waited.

        Where the limit is large (an opened cap, an organisation key), one transaction grants up
        to `LEASE_SHARE` of it to this thread, to be used within `LEASE_SHARE` of the window: a
        transaction per request took a quarter of a fast sync's request time. Requests granted
        ahead are counted as sent at the end of that time, so no window holds more than the
        limit whenever they go out; those unused when it ends (or when a 429 comes) are given
        back, so a slow thread does not hold the key's budget from its other users.
        """
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is not None and lease.take():
            return 0.0
        waited = 0.0
        while True:
            with self._transaction() as db:
                self._give_back(db)
                now = time.time()
                db.execute("DELETE FROM sent WHERE at <= ?", (now - self.window,))
                row = db.execute("SELECT value FROM key WHERE name = 'blocked_until'").fetchone()
                pause = (row[0] - now) if row and row[0] > now else 0.0
                if not pause:
                    count, oldest = db.execute("SELECT count(*), min(at) FROM sent").fetchone()
                    limit = self.limit(db)
                    if count < limit:
                        self._grant(db, now, min(self._lease_size(limit), limit - count))
                        return waited
                    pause = oldest + self.window - now
            # Short sleeps: another process may learn a higher limit, or a block may end early.
            pause = min(max(pause, 0.001), 1.0)
            time.sleep(pause)
            waited += pause

    @staticmethod
    def _lease_size(limit: int) -> int:
        return max(1, min(MAX_LEASE, int(limit * LEASE_SHARE)))

    def _grant(self, db: sqlite3.Connection, now: float, granted: int) -> None:
        """Count `granted` requests: this one now, the rest as if sent at their lease's end."""
        if granted == 1:
            db.execute("INSERT INTO sent VALUES (?)", (now,))
            return
        lasts = self.window * LEASE_SHARE
        db.executemany("INSERT INTO sent VALUES (?)", [(now + lasts,)] * granted)
        self._local.lease = _Lease(granted - 1, time.monotonic() + lasts, now + lasts)

    def _give_back(self, db: sqlite3.Connection) -> None:
        """Uncount what this thread was granted ahead and did not send."""
        lease: _Lease | None = getattr(self._local, "lease", None)
        self._local.lease = None
        if lease is not None and lease.left > 0:
            db.execute(
                "DELETE FROM sent WHERE rowid IN (SELECT rowid FROM sent WHERE at = ? LIMIT ?)",
                (lease.counted_at, lease.left),
            )

    def observe(self, headers: RateHeaders) -> None:
        """Learn from one answer: the key's limit, and a pause when nothing remains."""
        if headers.limit is None and headers.remaining is None:
            return
        with self._transaction() as db:
            now = time.time()
            if headers.limit is not None:
                db.execute("INSERT OR REPLACE INTO key VALUES ('limit', ?)", (headers.limit,))
            if headers.remaining is not None and headers.remaining <= 0:
                reset = headers.reset_seconds if headers.reset_seconds is not None else self.window
                self._block(db, now, reset)
            elif headers.limit is not None and headers.remaining is not None:
                # The server counted more than we sent: someone else uses the key too.
                used = headers.limit - headers.remaining
                (ours,) = db.execute(
                    "SELECT count(*) FROM sent WHERE at > ?", (now - self.window,)
                ).fetchone()
                missing = used - ours
                if missing > 0:
                    db.executemany("INSERT INTO sent VALUES (?)", [(now,)] * missing)

    def block(self, seconds: float) -> None:
        """A 429: no process sends on this key for `seconds` (capped)."""
        with self._transaction() as db:
            self._block(db, time.time(), seconds)

    def _block(self, db: sqlite3.Connection, now: float, seconds: float) -> None:
        self._give_back(db)  # this thread's requests granted ahead wait like the rest
        pause = min(max(seconds, 0.0), self.max_wait)
        db.execute(
            "INSERT INTO key VALUES ('blocked_until', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
            (now + pause,),
        )


@dataclass
class _Lease:
    """Requests one thread was granted ahead, until `until` (`time.monotonic()`), counted as
    sent at `counted_at` (`time.time()`)."""

    left: int
    until: float
    counted_at: float

    def take(self) -> bool:
        if self.left <= 0 or time.monotonic() >= self.until:
            return False
        self.left -= 1
        return True


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`: one writer at a time, so count-then-insert is atomic."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
