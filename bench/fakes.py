"""The fake vendor APIs as the bench serves them: data made before any clock starts."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from eventsync_dev.fake_api import Dataset, FakeApi, Faults
from eventsync_dev.fake_api.server import LUMA_API_KEY


class BenchApi(FakeApi):
    """The fake API, also noting when each Luma request arrived (for the pacing scenario)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.luma_times: list[float] = []

    def _serve(self, handler: Any) -> None:
        if handler.path.startswith("/v1/"):
            self.luma_times.append(time.monotonic())
        super()._serve(handler)

    def reset_counts(self) -> None:
        super().reset_counts()
        self.luma_times.clear()


def start_fake(
    events: int,
    guests_per_event: int,
    participants: int = 0,
    faults: Faults | None = None,
    luma_api_key: str = LUMA_API_KEY,
) -> BenchApi:
    """A started fake with every guest page generated now, not on the first contender."""
    dataset = Dataset(events=events, guests_per_event=guests_per_event, participants=participants)
    for event in dataset.events:
        dataset.guest_rows(event["api_id"])
    api = BenchApi(dataset=dataset, faults=faults, luma_api_key=luma_api_key)
    api.start()
    return api


def served(api: FakeApi) -> dict[str, Any]:
    """The requests `api` counted since the last call (per path), and its error answers."""
    counts = dict(api.counts)
    errors = {f"{p} {s}": n for (p, s), n in api.statuses.items() if s >= 400}
    api.reset_counts()
    eventee = sum(n for p, n in counts.items() if p.startswith("/public/v1/"))
    return {
        "requests": sum(counts.values()),
        "requests_eventee": eventee,
        "requests_by_path": counts,
        **({"http_errors": errors} if errors else {}),
    }


def luma_span_seconds(apis: list[BenchApi]) -> float:
    """From the first Luma request any of `apis` saw to the last, since the counts were reset."""
    times = [t for api in apis for t in api.luma_times]
    return round(max(times) - min(times), 3) if times else 0.0


def settled_events(dataset: Dataset, days: int = 30) -> int:
    """Events that ended more than `days` ago: their guests are not read on a refresh."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return sum(
        1
        for e in dataset.events
        if e.get("end_at") and dt.datetime.fromisoformat(e["end_at"]) < cutoff
    )
