"""`make demo`: the whole sync through the `dagster` CLI against the bundled fake API.

No keys and no network: the fake API serves both vendors on 127.0.0.1, the assets load into the
default DuckDB file, and the rows per table are printed at the end. Run it twice: the counts stay
the same (merge on primary keys).

The console gets a line per load step and per problem, the rows per table and what to do next;
Dagster's whole log (hundreds of DEBUG lines) goes to `demo.log` beside the DuckDB file.
"""

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO

from eventsync_dagster.tables import VENDORS, vendor_tables
from eventsync_dagster.warehouse import Warehouse, row_counts
from eventsync_dev.fake_api import FakeApi
from eventsync_dev.fake_api.options import HelpFormatter, add_data_options, dataset

LOG_LINE = re.compile(
    r"^\S+ \S+ \S+ - dagster - (?P<level>[A-Z]+) - \S+ - [0-9a-f-]{36} - (?:\d+ - )?"
    r"(?:(?P<step>[a-z0-9_]+) - )?(?:(?P<event>[A-Z_]{4,}) - )?(?P<message>.*)$"
)
"""A line of the `dagster` CLI's log; lines that do not match (tracebacks, dlt's own log, Python
warnings) go to the log file only."""
MAX_PROBLEMS = 8
"""Warnings and errors echoed to the console; the rest are in the log file."""


def demo_environment(api: FakeApi) -> dict[str, str]:
    """Points the project at the fake API with its keys (they are the fake's, not secrets)."""
    return {
        "LUMA_API_KEY": api.luma_api_key,
        "LUMA_BASE_URL": api.luma_base_url,
        "EVENTEE_API_TOKEN": api.eventee_api_token,
        "EVENTEE_BASE_URL": api.eventee_base_url,
    }


def table_counts(warehouse: Warehouse) -> dict[str, int]:
    counts: dict[str, int] = {}
    for vendor in VENDORS:
        with warehouse.sql(vendor) as sql:
            tables = (t.name for t in vendor_tables(vendor))
            counts |= {f"{vendor}.{t}": n for t, n in row_counts(sql, tables).items()}
    return counts


def rows_table(counts: dict[str, int]) -> str:
    """Rows per table, a column per vendor side by side, so the summary stays one screen."""
    columns = [[(t, n) for t, n in counts.items() if t.startswith(f"{v}.")] for v in VENDORS]
    width = max(map(len, counts))
    cells = [[f"{t:<{width}}  {n:>7}" for t, n in column] for column in columns]
    blank = " " * (width + 9)
    lines = ["    ".join(f"{'table':<{width}}  {'rows':>7}" for _ in cells)]
    for row in itertools.zip_longest(*cells, fillvalue=blank):
        lines.append("    ".join(row).rstrip())
    return "\n".join(lines)


def shown(path: Path) -> str:
    """A path as a person types it from here: relative when it is below the working directory."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


class Progress:
    """Turns the CLI's log into a line per load step (tables and time), a line per warning or
    error, and a count of checks: what a person watching the run needs, as it happens."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tables: Counter[str] = Counter()
        self.checks: Counter[bool] = Counter()
        self.problems = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def problem(self, step: str | None, message: str) -> None:
        self.problems += 1
        if self.problems <= MAX_PROBLEMS:
            self.say(f"  {step or 'run'}: {message[:200]}")

    def feed(self, line: str) -> None:
        match = LOG_LINE.match(line)
        if not match:
            return
        level, step, event, message = match.group("level", "step", "event", "message")
        if event == "ASSET_MATERIALIZATION" and step:
            self.tables[step] += 1
        elif event == "ASSET_CHECK_EVALUATION":
            passed = "did not pass" not in message
            self.checks[passed] += 1
            if not passed:
                self.problem(step, message)
        elif event == "STEP_SUCCESS" and step and self.tables[step]:
            took = message.rsplit(" in ", 1)[-1].rstrip(".")
            n = self.tables[step]
            self.say(f"  {step:<18} {n} table{'s' * (n > 1)} loaded in {took}")
        elif event == "STEP_FAILURE":
            self.say(f"  {step:<18} failed")
        elif event is None and level in ("WARNING", "ERROR", "CRITICAL"):
            self.problem(step, message)

    def summary(self) -> str:
        total = sum(self.checks.values())
        hidden = self.problems - MAX_PROBLEMS
        more = f"; {hidden} more warnings and errors in the log" if hidden > 0 else ""
        return f"  {'checks':<18} {self.checks[True]} of {total} passed{more}"


def materialize(env: dict[str, str], log: Path, progress: Progress) -> int:
    """Every asset through the `dagster` CLI, its output into `log`, fed to `progress`."""
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize",
        "-m", "eventsync_dagster.definitions", "--select", "*",
    ]  # fmt: skip
    # Started elsewhere: Dagster's CLI loads `.env` from where it starts, over the environment,
    # and a developer's real keys and hosts have no place in the demo.
    with tempfile.TemporaryDirectory() as elsewhere, log.open("w") as file:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=elsewhere,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        for line in process.stdout:
            file.write(line)
            progress.feed(line.rstrip("\n"))
        return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventsync_dev.demo", description=__doc__, formatter_class=HelpFormatter
    )
    add_data_options(parser)
    args = parser.parse_args(argv)
    warehouse = Warehouse.from_env()
    log = warehouse.path.parent / "demo.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(sys.stdout)
    started = time.monotonic()
    with FakeApi(dataset=dataset(args)) as api:
        print(f"fake Luma and Eventee APIs on {api.luma_base_url}")
        print(f"materializing every asset with the dagster CLI; its whole log: {shown(log)}")
        env = {
            **os.environ,
            **demo_environment(api),
            "EVENTSYNC_DUCKDB_PATH": str(warehouse.path),
        }
        returncode = materialize(env, log, progress)
        print(progress.summary())
        took = time.monotonic() - started
        if returncode:
            print(f"the run failed after {took:.0f}s: the whole log is in {shown(log)}")
            return returncode
        print(f"the run succeeded in {took:.0f}s; {sum(api.counts.values())} requests served")
    print()
    print(rows_table(table_counts(warehouse)))
    print(
        "\nwhat next:\n"
        "  make dev    the Dagster UI on http://127.0.0.1:3000: assets, checks, runs, automation\n"
        f"  the data    {shown(warehouse.path)} (written by syncs); query the copy beside it,\n"
        f"              duckdb -readonly {shown(warehouse.reader_path)}, which never blocks one\n"
        "  real APIs   cp .env.example .env, then uncomment and set LUMA_API_KEY and\n"
        "              EVENTEE_API_TOKEN (README: Against the real APIs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
