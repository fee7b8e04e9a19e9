"""Progress of a long sync, logged every few seconds rather than per request."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from eventsync_dagster.http import RequestStats
from eventsync_dagster.settings import load_lenient
from eventsync_dagster.spec import ACCOUNT, DEFAULT_ACCOUNT, Table

logger = logging.getLogger("eventsync_dagster")


class Progress:
    """Counts what a source has read and says so at a readable pace (Dagster's log or logging).

    Every record passes `keyed` on its way to dlt, which also stamps the account it came from.
    """

    def __init__(
        self,
        vendor: str,
        stats: RequestStats,
        log: Callable[[str], None] | None = None,
        every_seconds: float | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self.stats, self.account = stats, account
        self.vendor = vendor if account == DEFAULT_ACCOUNT else f"{vendor}[{account}]"
        self.log = log or logger.info
        self.every_seconds = (
            load_lenient()[0].progress_seconds if every_seconds is None else every_seconds
        )
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def add(self, **counts: int) -> None:
        with self._lock:
            self.counts.update(counts)
            now = time.monotonic()
            if now - self._last < self.every_seconds:
                return
            self._last = now
        self.log(self.summary())

    def keyed(self, table: Table, records: list[dict]) -> list[dict]:
        """Drop records without a key (they cannot be merged: a null key is no row), and stamp
        the rest with their account, the first column of every primary key."""
        kept = [r for r in records if all(r.get(c) is not None for c in table.natural_key)]
        for record in kept:
            record[ACCOUNT] = self.account
        if dropped := len(records) - len(kept):
            with self._lock:
                self.counts[f"{table.name}_rejected_null_key"] += dropped
            self.stats.reject(table.name, dropped)
            self.log(f"{self.vendor}.{table.name}: rejected {dropped} record(s) with a null key")
        return kept

    def summary(self) -> str:
        counts = ", ".join(
            f"{name.replace('_', ' ')} {n}" for name, n in sorted(self.counts.items())
        )
        return f"{self.vendor}: {counts or 'nothing read yet'}; {self.stats.summary()}"
