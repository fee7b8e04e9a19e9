"""The UI as users see it: `dagster-webserver` on loopback, asked through its GraphQL API.

One webserver (with the daemon, as `dg dev` runs them) serves the whole test, since starting one
takes seconds: it loads `workspace.yaml` from the repo, shows every asset, check, schedule and
sensor, and runs "Materialize all" as the UI's button does, in a process of its own, against the
fake API.
"""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from eventsync_dagster.luma.tables import PER_EVENT
from eventsync_dagster.tables import TABLES, VENDORS
from eventsync_dagster_tests.conftest import REPO, count, free_port, graphql, start, stop, tail
from eventsync_dev.fake_api import FakeApi

STARTUP_SECONDS = 60
RUN_SECONDS = 90
ASSET_KEYS = {f"{t.vendor}/{t.name}" for t in TABLES}
CHECKS = {"primary_key_unique", "required_fields_present", "column_schema_change"}

PYTHON_ERROR = "fragment pythonError on PythonError { className message stack }\n"
METADATA = """
fragment metadata on MetadataEntry {
  __typename
  label
  ... on TextMetadataEntry { text }
  ... on JsonMetadataEntry { jsonString }
  ... on MarkdownMetadataEntry { mdStr }
}
"""

LOCATIONS = (
    PYTHON_ERROR
    + """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ...pythonError }
      }
    }
    ...pythonError
  }
}
"""
)

REPOSITORY = (
    PYTHON_ERROR
    + METADATA
    + """
query Repository {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        assetNodes {
          assetKey { path }
          groupName
          description
          kinds
          dependencyKeys { path }
          metadataEntries { ...metadata }
          assetChecksOrError {
            __typename
            ... on AssetChecks { checks { name blocking description } }
          }
        }
        schedules { name cronSchedule pipelineName description }
        sensors { name description targets { pipelineName } }
      }
    }
    ...pythonError
  }
}
"""
)

LAUNCH = (
    PYTHON_ERROR
    + """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
    ...pythonError
  }
}
"""
)

RUN = (
    PYTHON_ERROR
    + METADATA
    + """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      assetMaterializations {
        assetKey { path }
        metadataEntries {
          ...metadata
          ... on IntMetadataEntry { intRepr }
          ... on TableSchemaMetadataEntry { schema { columns { name type } } }
        }
      }
    }
    ...pythonError
  }
}
"""
)

RUN_EVENTS = (
    PYTHON_ERROR
    + """
query Events($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName assetKey { path } success severity }
        }
        ... on MessageEvent { message }
      }
    }
    ...pythonError
  }
}
"""
)


def location_loaded(url: str) -> bool:
    """True once the code location has loaded; a location that fails to load fails the test."""
    try:
        response = requests.post(f"{url}/graphql", json={"query": LOCATIONS}, timeout=10)
    except requests.RequestException:
        return False  # not serving yet
    if response.status_code != 200:
        return False
    workspace = response.json()["data"]["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    entries = workspace["locationEntries"]
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return False
    for entry in entries:
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", "\n".join(loaded.get("stack", []))
    return True


def wait_until_loaded(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not location_loaded(url):
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no code location loaded in {STARTUP_SECONDS} s:\n{tail(log)}")
        time.sleep(0.25)


@dataclass
class Dagster:
    url: str
    logs: list[Path]

    def tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{tail(log)}" for log in self.logs)


@pytest.fixture
def dagster(project_env: dict[str, str], tmp_path: Path) -> Iterator[Dagster]:
    """`dagster-webserver -w workspace.yaml` and the daemon, as `dg dev` runs them.

    Dagster 1.13's default instance queues runs (QueuedRunCoordinator): a launched run starts
    once the daemon dequeues it. Both inherit the project's environment, and so do the runs.
    They start outside the repo: Dagster's CLIs load `.env` from their working directory over
    the environment, and a developer's `.env` would point the runs at the real APIs. The daemon
    starts once the webserver has created the instance's storage (together, they race on it).
    """
    bin_dir = Path(sys.executable).parent
    workspace = str(REPO / "workspace.yaml")
    port = free_port()
    ui = Dagster(f"http://127.0.0.1:{port}", [tmp_path / "webserver.log", tmp_path / "daemon.log"])
    server = [str(bin_dir / "dagster-webserver"), "-w", workspace]
    server += ["-h", "127.0.0.1", "-p", str(port)]
    daemon = [str(bin_dir / "dagster-daemon"), "run", "-w", workspace]
    processes = [start(server, tmp_path, ui.logs[0])]
    try:
        wait_until_loaded(ui.url, processes[0], ui.logs[0])
        processes.append(start(daemon, tmp_path, ui.logs[1]))
        yield ui
    finally:
        stop(processes)


def unreadable(entries: list[dict[str, Any]]) -> list[str]:
    """Labels of metadata the UI would show as noise: Python objects it cannot serialize, or
    nothing at all (null, empty text, an empty list or map)."""
    return [
        entry["label"]
        for entry in entries
        if entry["__typename"] == "NullMetadataEntry"
        or "(unserializable)" in (entry.get("text") or "")
        or entry.get("text") == ""
        or entry.get("mdStr") == ""
        or entry.get("jsonString") in ("null", "[]", "{}")
    ]


def repository(url: str) -> dict[str, Any]:
    result = graphql(url, REPOSITORY)["repositoriesOrError"]
    assert result["__typename"] == "RepositoryConnection", result
    [repo] = result["nodes"]
    return repo


def launch(url: str, repo: dict[str, Any], job: str, assets: set[str]) -> str:
    selector = {
        "repositoryLocationName": repo["location"]["name"],
        "repositoryName": repo["name"],
        "jobName": job,
        "assetSelection": [{"path": key.split("/")} for key in sorted(assets)],
    }
    result = graphql(url, LAUNCH, executionParams={"selector": selector, "runConfigData": {}})
    launched = result["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def wait_for_run(ui: Dagster, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run = graphql(ui.url, RUN, runId=run_id)["runOrError"]
        assert run["__typename"] == "Run", run
        if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {run['status']} after {RUN_SECONDS} s\n{ui.tails()}")
        time.sleep(0.5)


def run_events(url: str, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = graphql(url, RUN_EVENTS, runId=run_id, cursor=cursor)["logsForRun"]
        assert page["__typename"] == "EventConnection", page
        events += page["events"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return events


def test_ui_shows_the_project_and_materializes_every_table(
    dagster: Dagster, fake_api: FakeApi, duckdb_path: Path
) -> None:
    fake_api.dataset.organization = True  # every table has rows, its calendars too
    repo = repository(dagster.url)
    assert repo["location"]["name"] == "eventsync_dagster"  # not the clone's folder name

    # Assets: keys, groups, kinds, descriptions, metadata, lineage and their checks.
    nodes = {"/".join(n["assetKey"]["path"]): n for n in repo["assetNodes"]}
    assert set(nodes) == ASSET_KEYS
    for key, node in nodes.items():
        vendor = key.split("/")[0]
        assert node["groupName"] == vendor, key
        metadata = {e["label"]: e for e in node["metadataEntries"]}
        assert unreadable(node["metadataEntries"]) == [], key
        assert metadata["dataset"]["text"] == vendor, key
        assert {"dlt", "duckdb"} <= set(node["kinds"]), key
        assert node["description"] and node["description"].strip(), key
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", (key, checks)
        assert {c["name"] for c in checks["checks"]} == CHECKS, key
        assert all(c["description"] for c in checks["checks"]), key
        blocking = {c["name"] for c in checks["checks"] if c["blocking"]}
        assert blocking == {"primary_key_unique", "required_fields_present"}, key
    dependencies = {
        key: {"/".join(d["path"]) for d in node["dependencyKeys"]} for key, node in nodes.items()
    }
    per_event = {f"luma/{t.name}" for t in PER_EVENT}
    assert all(dependencies[key] == {"luma/events"} for key in per_event)
    assert all(not deps for key, deps in dependencies.items() if key not in per_event)

    # Schedules and sensors, each on its vendor's job.
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert set(schedules) == {"luma_daily", "eventee_daily"}
    assert schedules["luma_daily"]["pipelineName"] == "luma_sync"
    assert schedules["eventee_daily"]["pipelineName"] == "eventee_sync"
    assert all(s["description"] and s["cronSchedule"] for s in schedules.values())
    sensors = {s["name"]: s for s in repo["sensors"]}
    assert set(sensors) == {"luma_change_sensor", "eventee_change_sensor"}
    for vendor in VENDORS:
        sensor = sensors[f"{vendor}_change_sensor"]
        assert [t["pipelineName"] for t in sensor["targets"]] == [f"{vendor}_sync"]
        assert sensor["description"]
    assert {"luma_sync", "eventee_sync", "warehouse_checks", "__ASSET_JOB"} <= {
        j["name"] for j in repo["jobs"]
    }

    # "Materialize all": the webserver queues the run, the daemon launches it in a process.
    run_id = launch(dagster.url, repo, "__ASSET_JOB", ASSET_KEYS)
    run = wait_for_run(dagster, run_id)
    events = run_events(dagster.url, run_id)
    messages = "\n".join(e["message"] for e in events if e.get("message"))
    assert run["status"] == "SUCCESS", f"{messages[-4000:]}\n{dagster.tails()}"

    assert count(duckdb_path, "luma.events") == len(fake_api.dataset.events)
    assert count(duckdb_path, "eventee.partners") == len(fake_api.dataset.partners)
    assert count(duckdb_path, "eventee.participants") == len(fake_api.dataset.participants)
    guests = sum(len(fake_api.dataset.guests(e["api_id"])) for e in fake_api.dataset.events)
    assert count(duckdb_path, "luma.event_guests") == guests

    # What the asset pages show of that run: rows per table and the dlt schema.
    metadata = {
        "/".join(m["assetKey"]["path"]): {e["label"]: e for e in m["metadataEntries"]}
        for m in run["assetMaterializations"]
    }
    assert set(metadata) == ASSET_KEYS
    for key, entries in metadata.items():
        assert unreadable(list(entries.values())) == [], key
        table = key.replace("/", ".")
        assert entries["dagster/row_count"]["intRepr"] == str(count(duckdb_path, table)), key
        columns = entries["dagster/column_schema"]["schema"]["columns"]
        assert {"_dlt_load_id", "_dlt_id"} <= {c["name"] for c in columns}, key
    guest_columns = metadata["luma/event_guests"]["dagster/column_schema"]["schema"]["columns"]
    assert {"event_api_id", "api_id"} <= {c["name"] for c in guest_columns}

    # Every check ran after its table's load, and passed.
    evaluations = {
        f"{'/'.join(e['evaluation']['assetKey']['path'])}:{e['evaluation']['checkName']}": e
        for e in events
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }
    assert set(evaluations) == {f"{key}:{check}" for key in ASSET_KEYS for check in CHECKS}
    assert [k for k, e in evaluations.items() if not e["evaluation"]["success"]] == []


def test_make_dev_serves_the_location_by_its_name_without_warnings(
    project_env: dict[str, str], tmp_path: Path
) -> None:
    """`make dev`'s command in the repo (where `dg` reads `pyproject.toml`): the location is
    `eventsync_dagster` whatever the clone's folder is called, and `dg dev` neither warns that a
    dagster.yaml goes unused nor that the venv does not match."""
    bin_dir = Path(sys.executable).parent
    port = free_port()
    log = tmp_path / "dg-dev.log"
    env = {**os.environ, "VIRTUAL_ENV": str(bin_dir.parent)}
    command = [str(bin_dir / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, REPO, log, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_loaded(url, process, log)
        assert repository(url)["location"]["name"] == "eventsync_dagster"
        # Read while it runs: stopping it makes its own warnings (a code server restarting).
        output = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())  # without the terminal's colours
    finally:
        stop([process])
    assert "will not be used" not in output, output
    assert "does not match" not in output, output
    assert " - WARNING - " not in output, output
