"""Benchmark: the network limit, a plain dlt config and eventsync, side by side in one run.

    .venv/bin/python bench/run.py --events 2000 --guests-per-event 100 --participants 5000

The parent serves the fake Luma and Eventee APIs (``eventsync_dagster.fake_api``) on 127.0.0.1
from a thread, with every guest page generated before any clock starts, and runs each contender
in a fresh child process, one after another:

- ``limit``: a plain ``requests.Session`` loop fetching every page the sync needs and parsing the
  JSON (``response.json()``), nothing else;
- ``plain``: the seeds' ``rest_api_source`` configs fixed as the real API needs (api-notes.md),
  with the guests-per-event parent added, default dlt settings, into a DuckDB file, no Dagster;
- ``eventsync``: ``dagster asset materialize -m eventsync_dagster.definitions --select '*'``;
- ``refresh``: the same command again on the same DuckDB file, nothing changed upstream.

- ``phases`` (opt-in): the project's own dlt sources and pipelines without Dagster, with dlt's
  extract, normalize and load timed apart; ``phases+nogzip+jsonpath+json1`` applies what-ifs
  (see ``TWEAKS``) in that child only, to measure a suggested change before anyone makes it.

``--rss-check`` adds an eventsync run at ``--scale`` times the volume (events and participants)
against a second fake API, for the peak-RSS target. ``--profile`` adds an eventsync run under
py-spy and prints where its time goes (not timed).

Per contender: wall seconds of the whole child process (interpreter start and imports included),
rows that landed (DuckDB counts for plain and eventsync, parsed records for limit), rows/s,
requests counted by the fake API per path, and the child's peak RSS (the largest VmHWM among the
processes of its tree, sampled every 0.1 s; the tree's summed RSS is sampled too). The table is
printed and the JSON written to ``bench/results/``.

The Luma rate limiter is switched off for the benchmark (``LUMA_REQUESTS_PER_MINUTE=1000000``)
and dlt's telemetry is off in every child (``RUNTIME__DLTHUB_TELEMETRY=false``): nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# `python bench/run.py` from anywhere; a contender imports the run's snapshot of the project
sys.path.insert(0, os.environ.get("BENCH_CODE") or str(ROOT))

PAGE_SIZE = 100
"""Luma's largest page; the limit loop, plain dlt and eventsync all ask for it."""
LUMA_TABLES = ("events", "event_guests")
EVENTEE_TABLES = (
    "halls",
    "days",
    "lectures",
    "speakers",
    "workshops",
    "pauses",
    "tracks",
    "partners",
    "participants",
)
QUIET_ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt would otherwise phone home
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


# -- contenders (each runs in its own child process) ---------------------------------------------


def contender_limit(args: argparse.Namespace) -> dict[str, Any]:
    """Every page the sync needs, one session, sequential, JSON parsed and dropped."""
    import requests

    luma, eventee = args.base_url, args.base_url + "/public/v1"
    session = requests.Session()
    session.headers["x-luma-api-key"] = args.luma_api_key
    bearer = {"Authorization": f"Bearer {args.eventee_api_token}"}
    requests_made = 0
    rows = collections.Counter()

    def pages(path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        nonlocal requests_made
        cursor = None
        while True:
            query = {**params, "pagination_limit": PAGE_SIZE}
            if cursor:
                query["pagination_cursor"] = cursor
            response = session.get(luma + path, params=query)
            requests_made += 1
            response.raise_for_status()
            body = response.json()
            yield body["entries"]
            if not body["has_more"]:
                return
            cursor = body["next_cursor"]

    event_ids = []
    for page in pages("/v1/calendar/list-events", {}):
        rows["events"] += len(page)
        event_ids += [entry["event"]["api_id"] for entry in page]
    for event_id in event_ids:
        for page in pages("/v1/event/get-guests", {"event_api_id": event_id}):
            rows["event_guests"] += len(page)
    for path in ("/content", "/partners", "/participants"):
        response = session.get(eventee + path, headers=bearer)
        requests_made += 1
        response.raise_for_status()
        body = response.json()
        if path == "/content":
            for name, records in body.items():
                rows[name] += len(records)
        else:
            rows[path[1:]] += len(body["data"] if isinstance(body, dict) else body)
    return {"rows_by_table": dict(rows), "requests_self": requests_made}


def plain_dlt_sources(args: argparse.Namespace) -> list[Any]:
    """The seeds' configs, fixed only where the real API needs it (/work/shared/api-notes.md)."""
    from dlt.sources.rest_api import rest_api_source

    cursor = {
        "type": "cursor",
        "cursor_param": "pagination_cursor",
        "cursor_path": "next_cursor",
        "has_more_path": "has_more",  # the seed's "stop_condition" does not exist in dlt
    }
    luma = rest_api_source(
        {
            "client": {
                "base_url": args.base_url,
                "auth": {
                    "type": "api_key",
                    "name": "x-luma-api-key",  # the seed's "api_key" header is wrong
                    "api_key": args.luma_api_key,
                    "location": "header",
                },
            },
            "resource_defaults": {"primary_key": "api_id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": "events",
                    "endpoint": {
                        "path": "/v1/calendar/list-events",
                        "params": {"pagination_limit": PAGE_SIZE},
                        "data_selector": "entries.*.event",
                        "paginator": cursor,
                    },
                },
                {
                    "name": "event_guests",
                    "endpoint": {
                        "path": "/v1/event/get-guests",
                        "params": {
                            "event_api_id": "{resources.events.api_id}",  # one event per call
                            "pagination_limit": PAGE_SIZE,
                        },
                        "data_selector": "entries.*.guest",
                        "paginator": cursor,
                    },
                    "include_from_parent": ["api_id"],
                },
            ],
        },
        name="luma",
    )
    content = [
        {"name": name, "endpoint": {"path": "/content", "data_selector": name}}
        for name in EVENTEE_TABLES[:7]
    ]  # /content requested once per table, as the seed does
    eventee = rest_api_source(
        {
            "client": {
                "base_url": args.base_url + "/public/v1",
                "auth": {"type": "bearer", "token": args.eventee_api_token},
            },
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                *content,
                {"name": "partners", "endpoint": {"path": "/partners", "data_selector": "data"}},
                {
                    "name": "participants",
                    "primary_key": "email",  # participants have no id (the seed's Schema says so)
                    "endpoint": {"path": "/participants", "data_selector": "data"},
                },
            ],
        },
        name="eventee",
    )
    return [luma, eventee]


def contender_plain(args: argparse.Namespace) -> dict[str, Any]:
    """Two plain dlt pipelines (one per vendor) into one DuckDB file, dlt's defaults."""
    import dlt

    workdir = Path(args.workdir)
    destination = dlt.destinations.duckdb(str(workdir / "plain.duckdb"))  # named as the contender
    for source in plain_dlt_sources(args):
        pipeline = dlt.pipeline(
            pipeline_name=f"plain_{source.name}",
            destination=destination,
            dataset_name=source.name,
            pipelines_dir=str(workdir / "dlt_pipelines"),
        )
        pipeline.run(source)
    return {}


def _peak_rss_mb(reset: bool = False) -> float:
    """This process's peak RSS since the last reset (Linux: clear_refs 5 resets VmHWM)."""
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    return round(peak / 1024, 1)


def _tweak_nogzip() -> None:
    """dlt's intermediate files uncompressed (dlt config by env)."""
    os.environ["DATA_WRITER__DISABLE_COMPRESSION"] = "true"


def _tweak_jsonpath() -> None:
    """Compile each JSONPath once: the project builds a paginator per event (two compiles) and
    passes the data selector as a string, which dlt compiles again on every page."""
    import functools

    from dlt.common import jsonpath

    parse = functools.lru_cache(maxsize=64)(jsonpath.compile_path)
    original = jsonpath.compile_path

    def compile_path(path: Any) -> Any:
        return parse(path) if isinstance(path, str) else original(path)

    jsonpath.compile_path = compile_path


def _tweak_json1() -> None:
    """Parse each response body once, with orjson: dlt's REST client calls `response.json()`
    (simplejson here, through requests) once for the data and again in the paginator."""
    import orjson

    from eventsync_dagster.sources.http import VendorClient

    check = VendorClient._check

    def _check(self: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        check(self, response, *args, **kwargs)
        body = orjson.loads(response.content)
        response.json = lambda **_: body

    VendorClient._check = _check  # type: ignore[method-assign]


TWEAKS = {"nogzip": _tweak_nogzip, "jsonpath": _tweak_jsonpath, "json1": _tweak_json1}
"""What-ifs for the `phases` contender (`--only phases+nogzip+json1`), applied in its process
only: each one is a change suggested for the project, measured before anyone makes it."""


def contender_phases(args: argparse.Namespace) -> dict[str, Any]:
    """The project's own dlt sources and pipelines without Dagster, each dlt phase timed apart.

    Same code path as the assets (sources/, warehouse.py, jsonl), so the difference to the
    eventsync contender is Dagster's share; per phase: seconds and peak RSS (VmHWM reset).
    """
    for tweak in args.tweaks:
        TWEAKS[tweak]()
    from eventsync_dagster.sources.eventee import eventee_source
    from eventsync_dagster.sources.luma import luma_source
    from eventsync_dagster.warehouse import Warehouse

    warehouse = Warehouse(duckdb_path=str(Path(args.workdir) / "phases.duckdb"))
    sources = [
        luma_source(api_key=args.luma_api_key, base_url=args.base_url, requests_per_minute=1000000),
        eventee_source(api_token=args.eventee_api_token, base_url=args.base_url + "/public/v1"),
    ]
    phases: dict[str, dict[str, float]] = {}
    _peak_rss_mb(reset=True)
    phases["imports"] = {"seconds": 0.0, "peak_rss_mb": _peak_rss_mb(reset=True)}
    for source in sources:
        pipeline = warehouse.pipeline(source.name)
        for step in ("extract", "normalize", "load"):
            started, cpu = time.perf_counter(), time.process_time()
            if step == "extract":
                pipeline.extract(source, loader_file_format="jsonl")
            elif step == "normalize":
                pipeline.normalize()
            else:
                pipeline.load().raise_on_failed_jobs()
            phases[f"{source.name} {step}"] = {
                "seconds": round(time.perf_counter() - started, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
                "peak_rss_mb": _peak_rss_mb(reset=True),
            }
    return {"phases": phases}


CONTENDERS = {"limit": contender_limit, "plain": contender_plain, "phases": contender_phases}


def run_contender(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = CONTENDERS[args.contender](args)
    result["work_seconds"] = time.perf_counter() - started
    print("BENCH-RESULT " + json.dumps(result), flush=True)
    return 0


# -- measuring a child process ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB; zeros once it is gone."""
    found = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1])
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def _command(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        words = f.read().decode(errors="replace").split("\0")
        return " ".join(Path(words[0]).name.split() + words[1:4])[:80]
    return "?"


class TreeSampler(threading.Thread):
    """Samples a process tree: each process's peak RSS (VmHWM), the tree's summed RSS, and
    which processes it had.

    VmHWM is the peak of the process's own image since exec. The kernel's ru_maxrss (wait4)
    is not used: it also counts the image the child was forked from, i.e. this parent with
    the whole fake dataset in memory.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_kb, self.pids = 0, {pid}
        self.hwm_kb: dict[int, int] = {}
        self.commands: collections.Counter[str] = collections.Counter()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += _children(pid)
            for pid in set(tree) - self.pids:
                self.commands[_command(pid)] += 1
            self.pids.update(tree)
            rss = 0
            for pid in tree:
                now, hwm = _memory_kb(pid)
                rss += now
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.peak_kb = max(self.peak_kb, rss)


class ContenderFailed(RuntimeError):
    pass


def measure(command: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run a command to its end: wall seconds, peak RSS of its tree, its output."""
    with open(log, "w") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, cwd=env.get("BENCH_CODE", ROOT), stdout=out, stderr=subprocess.STDOUT
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
        raise ContenderFailed(f"{' '.join(command[:6])} ... failed ({child.returncode}):\n{tail}")
    found = re.findall(r"^BENCH-RESULT (.*)$", text, re.MULTILINE)
    return {
        "wall_seconds": round(wall, 3),
        "peak_rss_mb": round(max(sampler.hwm_kb.values(), default=0) / 1024, 1),
        "tree_peak_rss_mb_sampled": round(sampler.peak_kb / 1024, 1),
        "ru_maxrss_mb_with_spawn_image": round(usage.ru_maxrss / 1024, 1),
        "processes": len(sampler.pids),
        "child_processes": dict(sampler.commands),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        **(json.loads(found[-1]) if found else {}),
    }


def duckdb_rows(path: Path) -> dict[str, int]:
    import duckdb

    tables = [("luma", t) for t in LUMA_TABLES] + [("eventee", t) for t in EVENTEE_TABLES]
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            f"{schema}.{t}": con.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0]
            for schema, t in tables
        }


# -- the parent ---------------------------------------------------------------------------------


CODE: Path | None = None
"""The snapshot of the project every child of this run imports (see `snapshot_code`)."""


def snapshot_code(workdir: Path) -> Path:
    """Copy the project's package as it is now: every contender of one run measures the same
    code even while people edit the work tree (the editable install's finder comes after
    PYTHONPATH and the working directory, so the copy wins)."""
    code = workdir / "code"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "eventsync_dagster", code / "eventsync_dagster", ignore=ignore)
    for name in ("dagster.yaml", "pyproject.toml", "workspace.yaml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, code / name)
    return code


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without any eventsync/vendor setting, plus ours."""
    prefixes = ("LUMA_", "EVENTEE_", "EVENTSYNC_", "DAGSTER_", "DESTINATION")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    if CODE is not None:
        env["PYTHONPATH"] = str(CODE)
        env["BENCH_CODE"] = str(CODE)
    return {**env, **QUIET_ENV, **extra}


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.last_home = workdir / "eventsync_home"

    def contender(self, name: str, api: Any, label: str | None = None) -> dict[str, Any]:
        label = label or name
        name, *tweaks = name.split("+")
        command = [
            sys.executable, str(Path(__file__).resolve()), "--contender", name,
            "--base-url", api.luma_base_url, "--workdir", str(self.workdir / label),
            "--luma-api-key", api.luma_api_key, "--eventee-api-token", api.eventee_api_token,
            *(["--tweaks", ",".join(tweaks)] if tweaks else []),
        ]  # fmt: skip
        (self.workdir / label).mkdir()
        result = measure(command, child_env({}), self.workdir / f"{label}.log")
        if name != "limit":
            result["rows_by_table"] = duckdb_rows(self.workdir / label / f"{name}.duckdb")
        return result

    def run(self, name: str, api: Any, label: str | None = None) -> dict[str, Any]:
        """One contender against `api`: its measures plus the requests the fake API served."""
        label = label or name
        print(f"running {label} ...", flush=True)
        load = os.getloadavg()[0]
        try:
            if name.split("+")[0] in CONTENDERS:
                result = self.contender(name, api, label)
            else:  # eventsync; "refresh" reuses the DuckDB file and instance of the last one
                home = self.workdir / f"{label}_home"
                if name == "eventsync":
                    self.last_home = home
                result = self.eventsync(label, api, self.last_home if name == "refresh" else home)
        except ContenderFailed as error:  # keep the others' results; say so in the JSON
            print(f"  {label} FAILED: {error}", flush=True)
            served(api)
            return {"error": str(error)[-3000:], "load_average_before": round(load, 2)}
        result = finish({**result, **served(api), "load_average_before": round(load, 2)})
        report_line(label, result)
        return result

    def eventsync(self, label: str, api: Any, home: Path, wrap: list[str] | None = None) -> dict:
        """`dagster asset materialize` into `home`'s DuckDB file (made on first use)."""
        if not home.exists():
            (home / "dagster_home").mkdir(parents=True)
            (home / "tmp").mkdir()
            shutil.copy((CODE or ROOT) / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
        env = child_env(
            {
                "LUMA_API_KEY": api.luma_api_key,
                "LUMA_BASE_URL": api.luma_base_url,
                "EVENTEE_API_TOKEN": api.eventee_api_token,
                "EVENTEE_BASE_URL": api.eventee_base_url,
                "LUMA_REQUESTS_PER_MINUTE": "1000000",
                "EVENTSYNC_DUCKDB_PATH": str(home / "eventsync.duckdb"),
                "DAGSTER_HOME": str(home / "dagster_home"),
                "TMPDIR": str(home / "tmp"),
            }
        )
        command = [
            *(wrap or []), sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "eventsync_dagster.definitions", "--select", "*",
        ]  # fmt: skip
        result = measure(command, env, self.workdir / f"{label}.log")
        result["rows_by_table"] = duckdb_rows(home / "eventsync.duckdb")
        result["step_seconds"] = steps = step_seconds(self.workdir / f"{label}.log")
        result["in_run_seconds"] = steps.get("all steps")
        return result


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


def settled_events(dataset: Any, days: int = 30) -> int:
    """Events that ended more than `days` ago: their guests are not read on a refresh."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return sum(
        1
        for e in dataset.events
        if e.get("end_at") and dt.datetime.fromisoformat(e["end_at"]) < cutoff
    )


def fake_api(events: int, guests: int, participants: int) -> Any:
    from eventsync_dagster.fake_api import Dataset, FakeApi

    dataset = Dataset(events=events, guests_per_event=guests, participants=participants)
    for event in dataset.events:  # generate every guest page now, not on the first contender
        dataset.guest_rows(event["api_id"])
    return FakeApi(dataset=dataset).start()


def served(api: Any) -> dict[str, Any]:
    counts = dict(api.counts)
    errors = {f"{p} {s}": n for (p, s), n in api.statuses.items() if s >= 400}
    api.reset_counts()
    eventee = sum(n for p, n in counts.items() if p.startswith("/public/v1/"))
    return {
        "requests": sum(counts.values()),
        "requests_eventee": eventee,
        "requests_by_path": counts,
        **({"http_errors": errors} if errors else {}),
    }


def finish(result: dict[str, Any]) -> dict[str, Any]:
    if phases := result.get("phases"):  # its VmHWM resets also reset the kernel's ru_maxrss
        top = max(p["peak_rss_mb"] for p in phases.values())
        result["peak_rss_mb"] = max(result["peak_rss_mb"], top)
    rows = sum(result["rows_by_table"].values())
    result["rows"] = rows
    result["rows_per_second"] = round(rows / result["wall_seconds"], 1)
    return result


def parent(args: argparse.Namespace) -> int:
    sizes = {
        "events": args.events,
        "guests_per_event": args.guests_per_event,
        "participants": args.participants,
    }
    print(f"fake API data: {sizes} (generating every page first)", flush=True)
    started = time.perf_counter()
    api = fake_api(args.events, args.guests_per_event, args.participants)
    print(f"  ready in {time.perf_counter() - started:.1f}s on {api.luma_base_url}", flush=True)
    keep = args.keep_workdir
    workdir = Path(tempfile.mkdtemp(prefix="eventsync-bench-"))
    global CODE
    CODE = snapshot_code(workdir)
    bench = Bench(args, workdir)
    results: dict[str, Any] = {}
    try:
        api.reset_counts()
        for name in args.only:
            results[name] = bench.run(name, api)
            if name == "eventsync" and args.refresh:  # nothing changed upstream
                results["refresh"] = bench.run("refresh", api)
        expected_skipped = settled_events(api.dataset)
        if args.profile:
            print("profiling eventsync under py-spy (not timed) ...", flush=True)
            try:
                results["profile"] = profile(bench, api, workdir)
            except ContenderFailed as error:
                results["profile"] = {"error": str(error)[-3000:]}
            served(api)
        api.stop()
        if args.rss_check:
            scaled = {k: v * args.scale if k != "guests_per_event" else v for k, v in sizes.items()}
            print(f"rss check at {args.scale}x volume: {scaled}", flush=True)
            big = fake_api(scaled["events"], scaled["guests_per_event"], scaled["participants"])
            try:
                for name in ("eventsync", "phases"):
                    if name in args.only:
                        label = f"{name}_x{args.scale}"
                        results[label] = bench.run(name, big, label)
            finally:
                big.stop()
    finally:
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]),
        "sizes": sizes,
        "machine": machine(),
        "settings": {
            "LUMA_REQUESTS_PER_MINUTE": 1000000,
            "page_size": PAGE_SIZE,
            "EVENTSYNC_GUEST_REFRESH_DAYS": 30,
            "plain_dlt_loader_file_format": "dlt default (insert_values for duckdb)",
            "events_ended_over_30_days_ago": expected_skipped,
        },
        "results": results,
        "ratios": ratios(results, args.scale),
    }
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    name = args.output or (
        f"{stamp}_e{args.events}x{args.guests_per_event}_p{args.participants}.json"
    )
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


def ratios(results: dict[str, Any], scale: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    results = {k: v for k, v in results.items() if "rows" in v}  # not the failed ones
    es, lim, plain = results.get("eventsync"), results.get("limit"), results.get("plain")
    if es and lim:
        out["eventsync_over_limit_rows_per_second"] = round(
            es["rows_per_second"] / lim["rows_per_second"], 3
        )
        out["target_eventsync_over_limit"] = ">= 0.5"
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
    if es and (alone := results.get("phases")):
        out["eventsync_without_dagster_over_with_wall"] = round(
            alone["wall_seconds"] / es["wall_seconds"], 3
        )
    if (alone := results.get("phases")) and (big := results.get(f"phases_x{scale}")):
        out[f"peak_rss_without_dagster_x{scale}_over_x1"] = round(
            big["peak_rss_mb"] / alone["peak_rss_mb"], 3
        )
    if es and (big := results.get(f"eventsync_x{scale}")):
        out[f"peak_rss_x{scale}_over_x1"] = round(big["peak_rss_mb"] / es["peak_rss_mb"], 3)
        out["target_peak_rss"] = "< 1.3"
    return out


def git_state() -> dict[str, Any]:
    """The commit measured, and the project files that differed from it (others edit too)."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "eventsync_dagster", "pyproject.toml")
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


# -- profile --------------------------------------------------------------------------------------

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


def profile(bench: Bench, api: Any, workdir: Path) -> dict[str, Any]:
    """eventsync once under py-spy: where its wall time goes (idle threads included)."""
    raw = workdir / "eventsync.pyspy.txt"
    wrap = [
        str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "--format", "raw",
        "--rate", "50", "--output", str(raw), "--",
    ]  # fmt: skip
    bench.eventsync("profile", api, workdir / "eventsync_profile", wrap=wrap)
    summary = summarize_collapsed(raw.read_text())
    for line in summary["lines"]:
        print(line)
    return {k: v for k, v in summary.items() if k != "lines"}


def summarize_collapsed(text: str, top: int = 25) -> dict[str, Any]:
    """Inclusive and self share of functions, and a coarse split by phase, from py-spy's raw."""
    stacks: collections.Counter[tuple[str, ...]] = collections.Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
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


# -- output ---------------------------------------------------------------------------------------


def report_line(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name}: {r['wall_seconds']:.1f}s, {r['rows']} rows, {r['rows_per_second']:.0f} rows/s,"
        f" {r['requests']} requests, peak RSS {r['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    for phase, measured in r.get("phases", {}).items():
        cpu = measured.get("cpu_seconds", 0.0)
        print(
            f"    {phase}: {measured['seconds']:.1f}s wall, {cpu:.1f}s cpu,"
            f" peak RSS {measured['peak_rss_mb']:.0f} MB"
        )


def print_table(report: dict[str, Any]) -> None:
    results = {k: v for k, v in report["results"].items() if "rows" in v}
    for name, r in report["results"].items():
        if "error" in r:
            print(f"\n{name} failed: {r['error'].splitlines()[-1]}")
    width = max(len("contender"), *map(len, results))
    header = (
        f"\n{'contender':<{width}} {'wall s':>8} {'in-run s':>8} {'cpu s':>7} {'rows':>9} "
        f"{'rows/s':>9} {'requests':>8} {'eventee':>7} {'peak RSS MB':>11} {'load':>5}"
    )
    print(header)
    print("-" * (len(header) - 1))
    for name, r in results.items():
        in_run = r.get("in_run_seconds")
        print(
            f"{name:<{width}} {r['wall_seconds']:>8.1f} {in_run if in_run else '':>8} "
            f"{r['cpu_seconds']:>7.1f} {r['rows']:>9} {r['rows_per_second']:>9.0f} "
            f"{r['requests']:>8} {r['requests_eventee']:>7} {r['peak_rss_mb']:>11.0f} "
            f"{r.get('load_average_before', 0):>5.1f}"
        )
    print("(load: the machine's 1-minute load average when the contender started; 2 cores)\n")
    for key, value in report["ratios"].items():
        print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--guests-per-event", type=int, default=100)
    p.add_argument("--participants", type=int, default=5000)
    p.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=["limit", "plain", "eventsync"],
        help="comma-separated contenders, in order: limit, plain, phases (the project's dlt "
        "code without Dagster, phase by phase; `phases+nogzip+jsonpath+json1` adds what-ifs), "
        "eventsync (default: limit,plain,eventsync)",
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
    p.add_argument("--keep-workdir", action="store_true")
    # internal: a child running one contender
    p.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--luma-api-key", help=argparse.SUPPRESS)
    p.add_argument("--eventee-api-token", help=argparse.SUPPRESS)
    p.add_argument("--tweaks", type=lambda s: s.split(","), default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return run_contender(args) if args.contender else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
