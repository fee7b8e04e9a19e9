"""Several Luma calendars in one sync: one calendar against four, each with its own key.

Each calendar is a fake API of its own (own key, own port) that answers every request after
``--latency`` seconds, as a vendor across the internet does; the accounts file lists one of them,
then all four, and the Luma assets are materialized through the Dagster CLI. ``ratio_4_vs_1``
is 1.0 when the calendars are read in parallel and about 4 when read one after another.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import child, report
from bench.child import Workdir
from bench.contenders import LUMA_ASSETS, NO_RATE_LIMIT, luma_sync
from bench.fakes import BenchApi, start_fake
from eventsync_dev.fake_api import Faults

COLUMNS: list[report.Column] = [
    ("wall s", "wall_seconds", ".1f"),
    ("in-run s", "in_run_seconds", ".1f"),
    ("cpu s", "cpu_seconds", ".1f"),
    ("rows", "rows", "d"),
    ("requests", "requests", "d"),
    ("load", "load_average_before", ".1f"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=100, help="per calendar")
    p.add_argument("--guests-per-event", type=int, default=20)
    p.add_argument("--calendars", type=int, default=4)
    p.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    p.add_argument("--output", help="file name in bench/results/ (default: date and sizes)")
    child.add_arguments(p)


def accounts_file(apis: list[BenchApi]) -> tuple[str, dict[str, str]]:
    """The accounts file listing one calendar per fake, and the variables holding their keys."""
    entries, keys = [], {}
    for i, api in enumerate(apis, 1):
        variable = f"LUMA_API_KEY_CALENDAR_{i}"
        entries.append(
            f'[[luma]]\nname = "calendar-{i}"\ncredential_variable = "{variable}"\n'
            f'base_url = "{api.luma_base_url}"\n'
        )
        keys[variable] = api.luma_api_key
    return "\n".join(entries), keys


def run(args: argparse.Namespace) -> int:
    sizes = {
        "events_per_calendar": args.events,
        "guests_per_event": args.guests_per_event,
        "calendars": args.calendars,
    }
    print(f"{args.calendars} fake calendars: {sizes}, {args.latency}s per request", flush=True)
    apis = [
        start_fake(
            args.events,
            args.guests_per_event,
            faults=Faults(slow_seconds=args.latency),
            luma_api_key=f"calendar-{i}-key",
        )
        for i in range(1, args.calendars + 1)
    ]
    results: dict[str, Any] = {}
    try:
        with Workdir(args.keep_workdir) as workdir:
            for count in (1, args.calendars):
                label = f"calendars_{count}"
                text, keys = accounts_file(apis[:count])
                path = workdir.path / f"{label}.toml"
                path.write_text(text)
                env = {"EVENTSYNC_ACCOUNTS_FILE": str(path), **keys, **NO_RATE_LIMIT}
                results[label] = luma_sync(workdir, label, apis[:count], env)
    finally:
        for api in apis:
            api.stop()

    one, many = results["calendars_1"], results[f"calendars_{args.calendars}"]
    ratios = {}
    if "error" not in one and "error" not in many:
        ratios[f"ratio_{args.calendars}_vs_1"] = round(
            many["wall_seconds"] / one["wall_seconds"], 3
        )
        if one["in_run_seconds"] and many["in_run_seconds"]:
            ratios[f"ratio_{args.calendars}_vs_1_in_run"] = round(
                many["in_run_seconds"] / one["in_run_seconds"], 3
            )
        ratios["target"] = "<= 1.3 (calendars read in parallel)"
    settings = {
        "select": LUMA_ASSETS,
        "latency_seconds_per_request": args.latency,
        "LUMA_REQUESTS_PER_MINUTE": int(NO_RATE_LIMIT["LUMA_REQUESTS_PER_MINUTE"]),
    }
    report.print_table(results, COLUMNS)
    name = f"{report.stamp()}_accounts_{args.calendars}x{args.events}x{args.guests_per_event}.json"
    report.write(report.document(sizes, settings, results, ratios), args.output or name)
    return 0
