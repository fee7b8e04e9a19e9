"""The fake's command-line options for its data, shared by `python -m eventsync_dev.fake_api` and
the demo, so both serve the same data by default (one set of defaults, shown by `--help`)."""

from __future__ import annotations

import argparse

from .data import Dataset


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in `--help`, and the description as written."""


def add_data_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("the fake's data")
    data.add_argument(
        "--events", type=int, default=40, help="Luma events, from 180 days ago to 30 ahead"
    )
    data.add_argument("--guests-per-event", type=int, default=25, help="Luma guests per event")
    data.add_argument("--participants", type=int, default=200, help="Eventee participants")
    data.add_argument("--seed", type=int, default=0, help="the same seed serves the same data")


def dataset(args: argparse.Namespace) -> Dataset:
    return Dataset(
        events=args.events,
        guests_per_event=args.guests_per_event,
        participants=args.participants,
        seed=args.seed,
    )
