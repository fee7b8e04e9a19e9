"""What the scenarios run, each in its own measured child process.

The default comparison's contenders:

- ``limit``: a plain ``requests.Session`` loop fetching every page the sync needs and parsing the
  JSON (``response.json()``), nothing else: the network limit;
- ``plain``: the seeds' ``rest_api_source`` configs fixed as the real API needs
  (``../shared/api-notes.md``), default dlt settings, into a DuckDB file, no Dagster;
- ``eventsync``: ``dagster asset materialize -m eventsync_dagster.definitions --select '*'``;
- ``refresh``: the same command again on the same DuckDB file, nothing changed upstream.

The other scenarios time `luma_sync`: the Luma assets through the Dagster CLI.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.child import RESULT_PREFIX, ChildFailed, Workdir, duckdb_rows
from bench.fakes import BenchApi, luma_span_seconds, served
from eventsync_dev.demo import demo_environment

PAGE_SIZE = 100
"""Luma's largest page; the limit loop, plain dlt and eventsync all ask for it."""
NO_RATE_LIMIT = {"LUMA_REQUESTS_PER_MINUTE": "1000000"}
"""The project's limiter off: at its default 180/min the limiter alone would set the time."""
LUMA_ASSETS = "luma/events,luma/event_guests"


# -- in the child -------------------------------------------------------------------------------


def limit(args: argparse.Namespace) -> dict[str, Any]:
    """Every page the sync needs, one session, sequential, JSON parsed and dropped."""
    import requests

    luma, eventee = args.base_url, args.base_url + "/public/v1"
    session = requests.Session()
    session.headers["x-luma-api-key"] = args.luma_api_key
    bearer = {"Authorization": f"Bearer {args.eventee_api_token}"}
    requests_made = 0
    rows: collections.Counter[str] = collections.Counter()

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
    for table, path in (
        ("people", "/v1/calendar/list-people"),
        ("person_tags", "/v1/calendar/list-person-tags"),
        ("event_tags", "/v1/calendars/event-tags/list"),
    ):
        for page in pages(path, {}):
            rows[table] += len(page)
    response = session.get(luma + "/v1/organizations/calendars/list")  # a calendar key: 403
    requests_made += 1
    for event_id in event_ids:
        for page in pages("/v1/event/get-guests", {"event_api_id": event_id}):
            rows["event_guests"] += len(page)
        for table, path, params in (
            ("ticket_types", "/v1/events/ticket-types/list", {"include_hidden": "true"}),
            ("event_coupons", "/v1/events/coupons/list", {}),
            ("event_blasts", "/v1/events/blasts/list", {}),
        ):
            for page in pages(path, {**params, "event_id": event_id}):
                rows[table] += len(page)
    for path in ("/content", "/partners", "/participants", "/groups", "/reviews", "/registrations"):
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
    """The seeds' configs, fixed only where the real API needs it (../shared/api-notes.md)."""
    from dlt.sources.rest_api import rest_api_source

    cursor: dict[str, Any] = {
        "type": "cursor",
        "cursor_param": "pagination_cursor",
        "cursor_path": "next_cursor",
        "has_more_path": "has_more",  # the seed's "stop_condition" does not exist in dlt
    }
    luma_resources: list[Any] = [  # events, and the guests of each event
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
    ]
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
            "resources": luma_resources,
        },
        name="luma",
    )
    content: list[Any] = [
        {"name": name, "endpoint": {"path": "/content", "data_selector": name}}
        for name in ("halls", "days", "lectures", "speakers", "workshops", "pauses", "tracks")
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


def plain(args: argparse.Namespace) -> dict[str, Any]:
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


IN_CHILD: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "limit": limit,
    "plain": plain,
}
"""Contenders that are bench code; eventsync and refresh are the Dagster CLI itself."""


def run_in_child(args: argparse.Namespace) -> int:
    """The child's side: run one contender, print its own measures for the parent."""
    started = time.perf_counter()
    result = IN_CHILD[args.contender](args)
    result["work_seconds"] = time.perf_counter() - started
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# -- in the parent ------------------------------------------------------------------------------


def finish(result: dict[str, Any]) -> dict[str, Any]:
    """Rows in total and rows per wall second."""
    rows = sum(result["rows_by_table"].values())
    result["rows"] = rows
    result["rows_per_second"] = round(rows / result["wall_seconds"], 1)
    return result


def report_line(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name}: {r['wall_seconds']:.1f}s, {r['rows']} rows, {r['rows_per_second']:.0f} rows/s,"
        f" {r['requests']} requests, peak RSS {r['peak_rss_mb']:.0f} MB",
        flush=True,
    )


class Bench:
    """Runs contenders one after another in `workdir`; `refresh` reuses the last eventsync's
    DuckDB file and Dagster instance."""

    def __init__(self, workdir: Workdir) -> None:
        self.workdir = workdir
        self.last_home = workdir.path / "eventsync_home"

    def run(self, name: str, api: BenchApi, label: str | None = None) -> dict[str, Any]:
        """One contender against `api`: its measures plus the requests the fake API served."""
        label = label or name
        print(f"running {label} ...", flush=True)
        load = os.getloadavg()[0]
        try:
            if name in IN_CHILD:
                result = self.in_child(name, api, label)
            else:
                if name == "eventsync":
                    self.last_home = self.workdir.path / f"{label}_home"
                result = self.eventsync(label, api, self.last_home)
        except ChildFailed as error:  # keep the others' results; say so in the JSON
            print(f"  {label} FAILED: {error}", flush=True)
            served(api)
            return {"error": str(error)[-3000:], "load_average_before": round(load, 2)}
        result = finish({**result, **served(api), "load_average_before": round(load, 2)})
        report_line(label, result)
        return result

    def in_child(self, name: str, api: BenchApi, label: str) -> dict[str, Any]:
        workdir = self.workdir.path / label
        workdir.mkdir()
        command = [
            sys.executable, "-m", "bench", "contender", name,
            "--base-url", api.luma_base_url, "--workdir", str(workdir),
            "--luma-api-key", api.luma_api_key, "--eventee-api-token", api.eventee_api_token,
        ]  # fmt: skip
        result = self.workdir.measure(command, self.workdir.env({}), label)
        if name != "limit":
            result["rows_by_table"] = duckdb_rows(workdir / f"{name}.duckdb")
        return result

    def eventsync(
        self, label: str, api: BenchApi, home: Path, wrap: list[str] | None = None
    ) -> dict[str, Any]:
        """Every asset through the Dagster CLI into `home`."""
        settings = {**demo_environment(api), **NO_RATE_LIMIT}
        return self.workdir.materialize(label, home, settings, wrap=wrap)


def luma_sync(
    workdir: Workdir, label: str, apis: list[BenchApi], settings: dict[str, str]
) -> dict[str, Any]:
    """A full Luma sync through the Dagster CLI with `settings` as its environment, in a fresh
    home; the requests the fakes served are added, per fake and summed, and the time from the
    first Luma request to the last."""
    print(f"running {label} ...", flush=True)
    load = round(os.getloadavg()[0], 2)
    home = workdir.path / f"{label}_home"
    try:
        result = workdir.materialize(label, home, settings, LUMA_ASSETS, vendors=("luma",))
    except ChildFailed as error:  # measured as it is: say so in the JSON
        print(f"  {label} FAILED: {error}", flush=True)
        result = {"error": str(error)[-3000:]}
    span = luma_span_seconds(apis)
    each = [served(api) for api in apis]
    result |= {
        "requests": sum(s["requests"] for s in each),
        "luma_request_span_seconds": span,
        "requests_by_fake": each,
        "load_average_before": load,
    }
    if "error" in result:
        return result
    result = finish(result)
    report_line(label, result)
    return result
