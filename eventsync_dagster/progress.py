"""Progress of a long sync, logged every few seconds rather than per request."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from eventsync_dagster.http import RequestStats
from eventsync_dagster.settings import load_lenient
from eventsync_dagster.spec import DEFAULT_ACCOUNT

logger = logging.getLogger("eventsync_dagster")


class Progress:
    """Counts what a source has read and says so at a readable pace (Dagster's log or logging)."""

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

    def summary(self) -> str:
        counts = ", ".join(
            f"{name.replace('_', ' ')} {n}" for name, n in sorted(self.counts.items())
        )
        return f"{self.vendor}: {counts or 'nothing read yet'}; {self.stats.summary()}"
