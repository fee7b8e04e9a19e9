"""Serve the fake APIs from the command line, for the demo and benchmarks."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from .data import Dataset
from .faults import Faults
from .server import FakeApi


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eventsync_dev.fake_api", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--guests-per-event", type=int, default=10)
    p.add_argument("--participants", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--luma-api-key", default="luma-test-key")
    p.add_argument("--eventee-api-token", default="eventee-test-token")
    p.add_argument("--luma-rate-limit", type=int, default=0, help="requests per window, 0 = off")
    p.add_argument("--luma-rate-window", type=float, default=60.0)
    p.add_argument("--luma-block-seconds", type=float, default=60.0)
    p.add_argument("--eventee-bare-lists", action="store_true", help="lists without {data: }")
    p.add_argument("--ready-file", type=Path, help="write the port here once listening")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)

    api = FakeApi(
        dataset=Dataset(
            events=args.events,
            guests_per_event=args.guests_per_event,
            participants=args.participants,
            seed=args.seed,
        ),
        luma_api_key=args.luma_api_key,
        eventee_api_token=args.eventee_api_token,
        faults=Faults(
            luma_rate_limit=args.luma_rate_limit,
            luma_rate_window=args.luma_rate_window,
            luma_block_seconds=args.luma_block_seconds,
            eventee_bare_lists=args.eventee_bare_lists,
        ),
        port=args.port,
        host=args.host,
        verbose=args.verbose,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    api.start()
    print(f"luma_base_url={api.luma_base_url}", flush=True)
    print(f"eventee_base_url={api.eventee_base_url}", flush=True)
    print(f"luma_api_key={api.luma_api_key}", flush=True)
    print(f"eventee_api_token={api.eventee_api_token}", flush=True)
    if args.ready_file:
        # Write then rename, so a waiting script never reads a half-written file.
        tmp = args.ready_file.with_name(args.ready_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(f"{api.port}\n")
        tmp.replace(args.ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
