"""How close a Luma sync gets to Luma's rate limit without going over, for both key kinds.

Luma allows 200 requests a minute per calendar key and 500 per organisation key, then blocks the
key for a minute (../shared/api-notes.md). The fake enforces the same budget scaled to a
``--window`` of a few seconds (block included) and sends the ``X-RateLimit-*`` headers; the
client is told the window (``LUMA_RATE_WINDOW_SECONDS``) but no budget, so what it sends is its
own pacing. Per key kind, a full Luma sync through the Dagster CLI against a fresh fake:

- ``ideal_seconds``: the requests answered 2xx at exactly the limit, ``ok / limit * window``;
- ``elapsed_seconds``: from the first Luma request the fake saw to the last one
  (``luma_request_span_seconds``: the CLI's start-up and the load into DuckDB are not pacing;
  ``wall_seconds`` has them);
- ``fraction_of_limit`` = ideal / elapsed; 1.0 uses the whole budget, 429s waste it.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import child, report
from bench.child import Workdir
from bench.contenders import LUMA_ASSETS, luma_sync
from bench.fakes import start_fake
from eventsync_dev.fake_api import Faults

PER_MINUTE = {"calendar": 200, "organisation": 500}
"""Luma's limit per key kind."""
COLUMNS: list[report.Column] = [
    ("limit", "limit", "d"),
    ("requests", "requests", "d"),
    ("429s", "http_429s", "d"),
    ("ideal s", "ideal_seconds", ".1f"),
    ("elapsed s", "elapsed_seconds", ".1f"),
    ("fraction", "fraction_of_limit", ".3f"),
    ("wall s", "wall_seconds", ".1f"),
    ("load", "load_average_before", ".1f"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", type=float, default=6.0, help="Luma's minute, scaled")
    p.add_argument(
        "--seconds", type=float, default=30.0, help="sync size: this long at the limit, ideally"
    )
    p.add_argument("--guests-per-event", type=int, default=20, help="one page per event")
    p.add_argument("--output", help="file name in bench/results/ (default: date and window)")
    child.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {}
    sizes: dict[str, Any] = {"guests_per_event": args.guests_per_event}
    with Workdir(args.keep_workdir) as workdir:
        for kind, per_minute in PER_MINUTE.items():
            limit = round(per_minute * args.window / 60)
            events = round(limit * args.seconds / args.window)  # one guest page per event
            sizes[f"{kind}_events"] = events
            faults = Faults(
                luma_rate_limit=limit, luma_rate_window=args.window, luma_block_seconds=args.window
            )
            print(f"{kind} key: {limit} per {args.window:g}s, {events} events", flush=True)
            api = start_fake(events, args.guests_per_event, faults=faults)
            try:
                env = {
                    "LUMA_API_KEY": api.luma_api_key,
                    "LUMA_BASE_URL": api.luma_base_url,
                    "LUMA_RATE_WINDOW_SECONDS": str(args.window),
                }
                result = luma_sync(workdir, f"{kind}_key", [api], env)
            finally:
                api.stop()
            results[kind] = pacing(result, limit, args.window)
    ratios = {
        f"{kind}_fraction_of_limit": r.get("fraction_of_limit") for kind, r in results.items()
    }
    ratios |= {f"{kind}_429s": r.get("http_429s") for kind, r in results.items()}
    ratios["target"] = "fraction_of_limit >= 0.9 with zero 429s"
    settings = {
        "select": LUMA_ASSETS,
        "LUMA_RATE_WINDOW_SECONDS": args.window,
        "LUMA_REQUESTS_PER_MINUTE": "not set (the client paces by itself)",
        "fake_block_seconds": args.window,
    }
    report.print_table(results, COLUMNS)
    name = f"{report.stamp()}_ratelimit_w{args.window:g}s.json"
    report.write(report.document(sizes, settings, results, ratios), args.output or name)
    return 0


def pacing(result: dict[str, Any], limit: int, window: float) -> dict[str, Any]:
    """A sync's result with its requests, 429s and elapsed time set against the limit."""
    (fake,) = result["requests_by_fake"]
    errors = fake.get("http_errors", {})
    ok = fake["requests"] - sum(errors.values())
    ideal, elapsed = ok / limit * window, result["luma_request_span_seconds"]
    return {
        **result,
        "limit": limit,
        "window_seconds": window,
        "requests_ok": ok,
        "http_429s": sum(n for status, n in errors.items() if status.endswith(" 429")),
        "ideal_seconds": round(ideal, 3),
        "elapsed_seconds": elapsed,
        "fraction_of_limit": round(ideal / elapsed, 3) if elapsed else None,
    }
