"""``python -m bench [SCENARIO] [OPTIONS]`` from the repo root; the default scenario is compare.

Nothing leaves 127.0.0.1: the vendors are fakes, and dlt's and Dagster's telemetry is off in
every child.
"""

from __future__ import annotations

import argparse
import sys
from typing import Protocol

from bench import accounts, compare, contenders, rate_limit_cost, ratelimit


class Scenario(Protocol):
    """A scenario module: its docstring's first line is its help."""

    __doc__: str | None

    def add_arguments(self, p: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


SCENARIOS: dict[str, Scenario] = {
    "compare": compare,
    "accounts": accounts,
    "ratelimit": ratelimit,
    "cost": rate_limit_cost,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="scenario", metavar="{" + ",".join(SCENARIOS) + "}")
    for name, module in SCENARIOS.items():
        scenario = sub.add_parser(name, help=(module.__doc__ or "").split("\n")[0])
        module.add_arguments(scenario)
        scenario.set_defaults(run=module.run)
    # a child process of `compare`, running one contender that is bench code (no help: internal)
    child = sub.add_parser("contender")
    child.add_argument("contender", choices=sorted(contenders.IN_CHILD))
    for option in ("--base-url", "--workdir", "--luma-api-key", "--eventee-api-token"):
        child.add_argument(option, required=True)
    child.set_defaults(run=contenders.run_in_child)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in (*SCENARIOS, "contender", "-h", "--help"):
        argv = ["compare", *argv]
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
