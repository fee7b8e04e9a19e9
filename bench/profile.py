"""Where eventsync's wall time goes: one Dagster CLI run under py-spy, summarised by phase."""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path
from typing import Any

from bench.contenders import Bench
from bench.fakes import BenchApi

_HTTP = ("requests/", "urllib3/", "http/client.py", "socket.py", "ssl.py")
_JSON = ("simplejson/", "json/decoder.py", "Response.json")
PHASES = (  # (name, the stack has one of, and one of); the first match wins
    ("dlt load (DuckDB, in load threads)", ("dlt/load/",), ("",)),
    ("dlt normalize", ("dlt/normalize/",), ("",)),
    ("extract: JSON decode of responses", ("dlt/extract/",), _JSON),
    ("extract: jsonpath data selectors", ("dlt/extract/",), ("jsonpath_ng/",)),
    ("extract: dlt item writer (orjson + gzip)", ("dlt/extract/",), ("dlt/common/data_writers",)),
    ("extract: HTTP (send, wait, read)", ("dlt/extract/",), _HTTP),
    ("extract: other dlt", ("dlt/extract/",), ("",)),
    ("asset checks", ("eventsync_dagster/checks.py",), ("",)),
    ("Dagster event log (sqlite)", ("sqlalchemy/",), ("",)),
    ("dlt pipeline state/schema sync", ("dlt/pipeline/",), ("",)),
    ("imports and definitions load", ("_find_and_load", "load_module_from"), ("",)),
)


def _library(frame: str) -> str:
    """`dlt/common/json/_orjson.py:85` -> `dlt/common`; `gzip.py:289` -> `gzip`."""
    location = frame[frame.rfind("(") + 1 :].split(":")[0]
    parts = location.replace("<frozen ", "").rstrip(">").split("/")
    if parts[0] in ("dlt", "dagster", "eventsync_dagster") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def profile(bench: Bench, api: BenchApi) -> dict[str, Any]:
    """eventsync once under py-spy (not timed): where its wall time goes, idle threads included."""
    raw = bench.workdir.path / "eventsync.pyspy.txt"
    wrap = [
        str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "--format", "raw",
        "--rate", "50", "--output", str(raw), "--",
    ]  # fmt: skip
    bench.eventsync("profile", api, bench.workdir.path / "eventsync_profile", wrap=wrap)
    summary = summarize_collapsed(raw.read_text())
    for line in summary["lines"]:
        print(line)
    return {k: v for k, v in summary.items() if k != "lines"}


def summarize_collapsed(text: str, top: int = 25) -> dict[str, Any]:
    """Inclusive and self share of functions, and a coarse split by phase, from py-spy's raw."""
    stacks: collections.Counter[tuple[str, ...]] = collections.Counter()
    for line in text.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if stack_text and count.isdigit():
            stacks[tuple(stack_text.split(";"))] += int(count)
    # the main thread's stacks start in runpy (`python -m dagster`); other threads in threading
    main_thread = {s: n for s, n in stacks.items() if s[0].startswith("_run_module_as_main")}
    total = sum(main_thread.values()) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    phases: collections.Counter[str] = collections.Counter()
    libraries: collections.Counter[str] = collections.Counter()
    for stack, n in main_thread.items():
        frames = [re.sub(r" \(/.*?site-packages/", " (", f) for f in stack]
        for f in set(frames):
            inclusive[f] += n
        if frames:
            own[frames[-1]] += n
            libraries[_library(frames[-1])] += n
        joined = ";".join(frames)
        phase = next(
            (
                name
                for name, first, second in PHASES
                if any(k in joined for k in first) and any(k in joined for k in second)
            ),
            "other (Dagster)",
        )
        phases[phase] += n

    def pct(n: int) -> float:
        return round(100 * n / total, 1)

    lines = [f"main thread samples: {total}", "phases:"]
    lines += [f"  {pct(n):5.1f}%  {name}" for name, n in phases.most_common()]
    lines += ["self time by library:"]
    lines += [f"  {pct(n):5.1f}%  {name}" for name, n in libraries.most_common(15)]
    lines += ["self time (top):"]
    lines += [f"  {pct(n):5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["inclusive (top):"]
    lines += [f"  {pct(n):5.1f}%  {f}" for f, n in inclusive.most_common(top * 2)]
    return {
        "samples": total,
        "phases_percent": {k: pct(v) for k, v in phases.most_common()},
        "self_percent_by_library": {k: pct(v) for k, v in libraries.most_common(15)},
        "self_percent_top": {f: pct(n) for f, n in own.most_common(top)},
        "inclusive_percent_top": {f: pct(n) for f, n in inclusive.most_common(top * 2)},
        "lines": lines,
    }
