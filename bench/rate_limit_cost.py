"""What a Luma sync costs under the rate limit: measured at a scaled limit, computed at 180/min.

Runs the Luma source (no Dagster) against the fake API whose limit is scaled down to a budget per
two-second window, with the project's limiter one request under it, for calendars of several
sizes; a full sync, then a daily refresh with nothing changed. Prints two Markdown tables (the
ones in the main README): per calendar size, and per route for the largest size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.fakes import start_fake
from eventsync_dagster.luma.source import luma_source
from eventsync_dagster.warehouse import Warehouse
from eventsync_dev.fake_api import FakeApi, Faults

REAL_PER_MINUTE = 180  # the project's default budget (Luma allows 200)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, nargs="+", default=[100, 1000, 5000])
    p.add_argument("--guests-per-event", type=int, default=50)
    p.add_argument("--budget", type=int, default=100, help="fake's requests per window")
    p.add_argument("--window", type=float, default=2.0)


def sync(
    api: FakeApi, warehouse: Warehouse, budget: int, window: float
) -> tuple[Counter[str], float]:
    """Requests per route of one sync, and its seconds."""
    source = luma_source(
        api_key=api.luma_api_key,
        base_url=api.luma_base_url,
        requests_per_minute=budget,
        rate_window_seconds=window,
    )
    before = Counter(api.counts)
    started = time.monotonic()
    warehouse.sync(source)
    return Counter(api.counts) - before, time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    print(
        "| events | sync | requests | measured at the scaled limit | at 180/min |\n"
        "|---|---|---|---|---|"
    )
    per_route: dict[str, Counter[str]] = {}
    for events in args.events:
        faults = Faults(luma_rate_limit=args.budget, luma_rate_window=args.window)
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_fake(events, args.guests_per_event, faults=faults) as api,
        ):
            warehouse = Warehouse(duckdb_path=str(Path(tmp) / "w.duckdb"))
            for label in ("full", "daily refresh"):
                routes, seconds = sync(api, warehouse, args.budget - 1, args.window)
                per_route[label] = routes
                requests = sum(routes.values())
                throttled = sum(n for (_, status), n in api.statuses.items() if status == 429)
                scaled = f"{seconds:.1f} s ({args.budget - 1}/{args.window:g} s, {throttled} 429s)"
                real = f"{requests / REAL_PER_MINUTE:.1f} min"
                print(f"| {events} | {label} | {requests} | {scaled} | {real} |", flush=True)
    print(f"\n| route ({args.events[-1]} events) | full | daily refresh |\n|---|---|---|")
    for route in sorted(per_route["full"]):
        full, refresh = (per_route[label][route] for label in ("full", "daily refresh"))
        print(f"| `{route}` | {full} | {refresh} |")
    return 0
