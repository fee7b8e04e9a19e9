"""Measured child processes: one snapshot of the code, a clean environment, wall/CPU/RSS.

Every child of a run imports a copy of ``eventsync_dagster/`` and ``bench/`` taken when the run
starts (on ``PYTHONPATH`` and its working directory, ahead of the editable install), so one run
measures one version of the code even while people edit the work tree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import ROOT
from bench.sampler import TreeSampler

QUIET_ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt would otherwise phone home
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}
PROJECT_PREFIXES = ("LUMA_", "EVENTEE_", "EVENTSYNC_", "DAGSTER_", "DESTINATION")
"""The parent's own settings of these never reach a child: a developer's keys stay out."""
RESULT_PREFIX = "BENCH-RESULT "
"""A child contender prints its own measures on one line starting with this."""


class ChildFailed(RuntimeError):
    pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The option of every scenario that runs children in a `Workdir`."""
    p.add_argument(
        "--keep-workdir", action="store_true", help="keep the temp folder (logs, DuckDB files)"
    )


def duckdb_rows(path: Path, vendors: tuple[str, ...] = ("luma", "eventee")) -> dict[str, int]:
    """Rows per table of the vendors' datasets in a DuckDB file (dlt's own tables aside)."""
    import duckdb

    rows = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
            f"IN ({', '.join(repr(v) for v in vendors)}) AND table_name NOT LIKE '\\_dlt%' "
            "ESCAPE '\\' ORDER BY 1, 2"
        ).fetchall()
        for vendor, t in tables:
            (rows[f"{vendor}.{t}"],) = con.execute(
                f'SELECT count(*) FROM "{vendor}"."{t}"'
            ).fetchone() or (0,)
    return rows


def seconds(text: str) -> float:
    """Dagster's durations: "256ms", "2.78s", "1m 3s", "1h 2m 3s"."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)\s*(ms|h|m|s)", text))


def step_seconds(log: Path) -> dict[str, float]:
    """Each step's duration and all steps together, from the CLI's log (imports excluded)."""
    out: dict[str, float] = {}
    text = log.read_text(errors="replace")
    for step, took in re.findall(
        r'Finished execution of step "([^"]+)" in ([^.\n]*\d[^\n]*?)\.?$', text, re.MULTILINE
    ):
        out[step] = round(seconds(took), 3)
    if m := re.search(r"Finished steps in process \(pid: \d+\) in (.+)$", text, re.MULTILINE):
        out["all steps"] = round(seconds(m.group(1)), 3)
    return out


class Workdir:
    """A temporary folder for one bench run: the code snapshot, logs, DuckDB files, homes."""

    def __init__(self, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="eventsync-bench-"))
        self.keep = keep
        self.code = self.path / "code"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
        for package in ("eventsync_dagster", "bench", "instance"):
            shutil.copytree(ROOT / package, self.code / package, ignore=ignore)
        for name in ("pyproject.toml", "workspace.yaml"):
            if (ROOT / name).exists():
                shutil.copy(ROOT / name, self.code / name)

    def __enter__(self) -> Workdir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.keep:
            print(f"work directory kept: {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        """The parent's environment without any project setting, plus the snapshot and ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_PREFIXES)}
        return {**env, "PYTHONPATH": str(self.code), **QUIET_ENV, **extra}

    def measure(self, command: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
        """Run a command to its end in the snapshot: wall and CPU seconds, peak RSS of its tree,
        and what it printed after `RESULT_PREFIX`."""
        log = self.path / f"{label}.log"
        with open(log, "w") as out:
            started = time.perf_counter()
            child = subprocess.Popen(
                command, env=env, cwd=self.code, stdout=out, stderr=subprocess.STDOUT
            )
            sampler = TreeSampler(child.pid)
            sampler.start()
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            sampler.done.set()
            sampler.join()
        text = log.read_text(errors="replace")
        if child.returncode:
            tail = "\n".join(text.splitlines()[-40:])
            raise ChildFailed(f"{' '.join(command[:6])} ... failed ({child.returncode}):\n{tail}")
        found = re.findall(f"^{RESULT_PREFIX}(.*)$", text, re.MULTILINE)
        return {
            "wall_seconds": round(wall, 3),
            "peak_rss_mb": sampler.peak_rss_mb,
            "tree_peak_rss_mb_sampled": round(sampler.peak_kb / 1024, 1),
            "ru_maxrss_mb_with_spawn_image": round(usage.ru_maxrss / 1024, 1),
            "processes": len(sampler.pids),
            "child_processes": dict(sampler.commands),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            **(json.loads(found[-1]) if found else {}),
        }

    def materialize(
        self,
        label: str,
        home: Path,
        settings: dict[str, str],
        select: str = "*",
        vendors: tuple[str, ...] = ("luma", "eventee"),
        wrap: list[str] | None = None,
    ) -> dict[str, Any]:
        """`dagster asset materialize` of `select` into `home`'s DuckDB file and Dagster
        instance (made on first use, with the snapshot's instance/dagster.yaml), `settings` as
        environment.
        """
        if not home.exists():
            (home / "dagster_home").mkdir(parents=True)
            (home / "tmp").mkdir()
            shutil.copy(self.code / "instance" / "dagster.yaml", home / "dagster_home")
        env = self.env(
            {
                "EVENTSYNC_DUCKDB_PATH": str(home / "eventsync.duckdb"),
                "DAGSTER_HOME": str(home / "dagster_home"),
                "TMPDIR": str(home / "tmp"),
                **settings,
            }
        )
        command = [
            *(wrap or []), sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "eventsync_dagster.definitions", "--select", select,
        ]  # fmt: skip
        result = self.measure(command, env, label)
        result["rows_by_table"] = duckdb_rows(home / "eventsync.duckdb", vendors)
        result["step_seconds"] = steps = step_seconds(self.path / f"{label}.log")
        result["in_run_seconds"] = steps.get("all steps")
        return result
