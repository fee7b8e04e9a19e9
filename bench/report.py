"""What every scenario reports the same way: the machine, the table, the ratios, the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import RESULTS, ROOT

Column = tuple[str, str, str]
"""(title, key in a result, format spec); a missing or None value prints blank."""


def git_state() -> dict[str, Any]:
    """The commit measured, and the project files that differed from it (others edit too)."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "eventsync_dagster", "instance", "pyproject.toml")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": changed.splitlines()}


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            p: version(p) for p in ("dlt", "dagster", "dagster-dlt", "duckdb", "requests")
        },
        "code": git_state(),
        "load_average_at_end": os.getloadavg(),
    }


def document(
    sizes: dict[str, Any],
    settings: dict[str, Any],
    results: dict[str, Any],
    ratios: dict[str, Any],
) -> dict[str, Any]:
    """A scenario's JSON: when, how it was started, on what, and what it measured."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "sizes": sizes,
        "machine": machine(),
        "settings": settings,
        "results": results,
        "ratios": ratios,
    }


def print_table(results: dict[str, dict[str, Any]], columns: list[Column]) -> None:
    """One row per result that did not fail; failures are named above the table."""
    for name, r in results.items():
        if "error" in r:
            print(f"\n{name} failed: {r['error'].splitlines()[-1]}")
    ok = {k: v for k, v in results.items() if "error" not in v}
    width = max(len("contender"), *map(len, ok))
    cells = {
        name: [("" if r.get(key) is None else format(r[key], spec)) for _, key, spec in columns]
        for name, r in ok.items()
    }
    widths = [
        max(len(title), *(len(row[i]) for row in cells.values()))
        for i, (title, _, _) in enumerate(columns)
    ]
    header = f"\n{'contender':<{width}} " + " ".join(
        f"{title:>{w}}" for (title, _, _), w in zip(columns, widths, strict=True)
    )
    print(header)
    print("-" * (len(header) - 1))
    for name, row in cells.items():
        print(f"{name:<{width}} " + " ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True)))


def write(report: dict[str, Any], name: str) -> Path:
    """Print the ratios and write the JSON to bench/results/`name`."""
    print()
    for key, value in report["ratios"].items():
        print(f"{key}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def stamp() -> str:
    """Today's date, the first part of every results file's name."""
    return dt.datetime.now().strftime("%Y-%m-%d")
