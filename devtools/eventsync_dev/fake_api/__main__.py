"""Serve the fake APIs from the command line, for the demo and benchmarks."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from .faults import Faults
from .options import HelpFormatter, add_data_options, dataset
from .server import EVENTEE_API_TOKEN, LUMA_API_KEY, FakeApi


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eventsync_dev.fake_api",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--luma-api-key", default=LUMA_API_KEY, help="the only Luma key accepted")
    p.add_argument(
        "--eventee-api-token", default=EVENTEE_API_TOKEN, help="the only Eventee token accepted"
    )
    add_data_options(p)
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--luma-rate-limit", type=int, default=0, help="Luma requests per window and key, 0 = off"
    )
    faults.add_argument(
        "--luma-rate-window", type=float, default=60.0, help="the rate limit's window, seconds"
    )
    faults.add_argument(
        "--luma-block-seconds", type=float, default=60.0, help="how long a key past it gets 429s"
    )
    faults.add_argument(
        "--eventee-bare-lists", action="store_true", help="Eventee lists without {data: }"
    )
    p.add_argument("--ready-file", type=Path, help="write the port here once listening")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    api = FakeApi(
        dataset=dataset(args),
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
