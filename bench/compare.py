"""The default scenario: the network limit, a plain dlt config and eventsync, side by side.

The parent serves the fake APIs with every guest page generated before any clock starts and runs
each contender (``bench/contenders.py``) in a fresh child, one after another. ``--rss-check``
adds eventsync at ``--scale`` times the events and participants against a second fake, for the
peak-RSS target; ``--profile`` adds an eventsync run under py-spy (not timed).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import child, report
from bench.child import ChildFailed, Workdir
from bench.contenders import NO_RATE_LIMIT, PAGE_SIZE, Bench
from bench.fakes import served, settled_events, start_fake
from bench.profile import profile

CONTENDERS = ("limit", "plain", "eventsync")
COLUMNS: list[report.Column] = [
    ("wall s", "wall_seconds", ".1f"),
    ("in-run s", "in_run_seconds", ".1f"),
    ("cpu s", "cpu_seconds", ".1f"),
    ("rows", "rows", "d"),
    ("rows/s", "rows_per_second", ".0f"),
    ("requests", "requests", "d"),
    ("eventee", "requests_eventee", "d"),
    ("peak RSS MB", "peak_rss_mb", ".0f"),
    ("load", "load_average_before", ".1f"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--guests-per-event", type=int, default=100)
    p.add_argument("--participants", type=int, default=5000)
    p.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(CONTENDERS),
        help="comma-separated contenders, in order, of: " + ", ".join(CONTENDERS),
    )
    p.add_argument(
        "--no-refresh",
        dest="refresh",
        action="store_false",
        help="skip the second eventsync run (nothing changed upstream)",
    )
    p.add_argument("--rss-check", action="store_true", help="also run eventsync at --scale x")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--profile", action="store_true", help="also run eventsync under py-spy")
    p.add_argument("--output", help="file name in bench/results/ (default: date and sizes)")
    child.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if unknown := set(args.only) - set(CONTENDERS):
        raise SystemExit(f"unknown contenders: {', '.join(sorted(unknown))}")
    sizes = {
        "events": args.events,
        "guests_per_event": args.guests_per_event,
        "participants": args.participants,
    }
    print(f"fake API data: {sizes} (generating every page first)", flush=True)
    started = time.perf_counter()
    api = start_fake(args.events, args.guests_per_event, args.participants)
    print(f"  ready in {time.perf_counter() - started:.1f}s on {api.luma_base_url}", flush=True)
    results: dict[str, Any] = {}
    with Workdir(args.keep_workdir) as workdir:
        bench = Bench(workdir)
        api.reset_counts()
        for name in args.only:
            results[name] = bench.run(name, api)
            if name == "eventsync" and args.refresh:  # nothing changed upstream
                results["refresh"] = bench.run("refresh", api)
        expected_skipped = settled_events(api.dataset)
        if args.profile:
            print("profiling eventsync under py-spy (not timed) ...", flush=True)
            try:
                results["profile"] = profile(bench, api)
            except ChildFailed as error:
                results["profile"] = {"error": str(error)[-3000:]}
            served(api)
        api.stop()
        if args.rss_check and "eventsync" in args.only:
            scale = args.scale
            print(f"rss check at {scale}x the events and participants", flush=True)
            big = start_fake(args.events * scale, args.guests_per_event, args.participants * scale)
            try:
                results[f"eventsync_x{scale}"] = bench.run("eventsync", big, f"eventsync_x{scale}")
            finally:
                big.stop()

    settings = {
        "LUMA_REQUESTS_PER_MINUTE": int(NO_RATE_LIMIT["LUMA_REQUESTS_PER_MINUTE"]),
        "page_size": PAGE_SIZE,
        "EVENTSYNC_GUEST_REFRESH_DAYS": 30,
        "plain_dlt_loader_file_format": "dlt default (insert_values for duckdb)",
        "events_ended_over_30_days_ago": expected_skipped,
    }
    document = report.document(sizes, settings, results, ratios(results, args.scale))
    report.print_table({k: v for k, v in results.items() if k != "profile"}, COLUMNS)
    print("(load: the machine's 1-minute load average when the contender started; 2 cores)")
    name = f"{report.stamp()}_e{args.events}x{args.guests_per_event}_p{args.participants}.json"
    report.write(document, args.output or name)
    return 0


def ratios(results: dict[str, Any], scale: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    results = {k: v for k, v in results.items() if "rows" in v}  # not the failed ones
    es, lim, plain = results.get("eventsync"), results.get("limit"), results.get("plain")
    if es and lim:
        out["eventsync_over_limit_rows_per_second"] = round(
            es["rows_per_second"] / lim["rows_per_second"], 3
        )
        out["target_eventsync_over_limit"] = ">= 0.4 (default size), >= 0.35 (800 events x 38)"
        out["eventsync_over_limit_rows_per_cpu_second"] = round(
            lim["cpu_seconds"] / es["cpu_seconds"], 3
        )
    if es and plain:
        out["eventsync_over_plain_rows_per_second"] = round(
            es["rows_per_second"] / plain["rows_per_second"], 3
        )
        out["target_eventsync_over_plain"] = ">= 1.5"
        out["eventsync_over_plain_rows_per_cpu_second"] = round(
            plain["cpu_seconds"] / es["cpu_seconds"], 3
        )
        out["eventee_requests"] = {
            "eventsync": es["requests_eventee"],
            "plain": plain["requests_eventee"],
            "target": "3 vs 9",
        }
    if es and (refresh := results.get("refresh")):
        out["refresh_over_full_requests"] = round(refresh["requests"] / es["requests"], 3)
    if es and (big := results.get(f"eventsync_x{scale}")):
        out[f"peak_rss_x{scale}_over_x1"] = round(big["peak_rss_mb"] / es["peak_rss_mb"], 3)
        out["target_peak_rss"] = "< 1.3"
    return out
