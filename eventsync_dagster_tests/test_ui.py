"""The UI as users see it: `dagster-webserver` on loopback, asked through its GraphQL API.

One webserver serves the whole test (starting one takes seconds): it loads `workspace.yaml` from
the repo, shows every asset, check, schedule and sensor, and runs "Materialize all" the way the
UI's button does, in a subprocess of its own, against the fake API.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from eventsync_dagster.fake_api import FakeApi
from eventsync_dagster_tests.conftest import REPO, count

STARTUP_SECONDS = 60
RUN_SECONDS = 90
TABLES = {
    "luma": ("events", "event_guests"),
    "eventee": (
        "halls", "days", "lectures", "speakers", "workshops", "pauses", "tracks", "partners",
        "participants",
    ),
}  # fmt: skip
ASSET_KEYS = {f"{vendor}/{name}" for vendor, names in TABLES.items() for name in names}
CHECKS = {"primary_key_unique", "required_fields_present", "schema_drift", "freshness"}

ERROR = "... on PythonError { message stack } ... on Error { message }"

REPOSITORY = (
    """
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
          assetChecksOrError {
            __typename
            ... on AssetChecks { checks { name blocking description } }
          }
        }
        schedules { name cronSchedule pipelineName description }
        sensors { name description targets { pipelineName } }
      }
    }
    %s
  }
}
"""
    % ERROR
)  # noqa: UP031

LAUNCH = (
    """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    %s
  }
}
"""
    % ERROR
)  # noqa: UP031

RUN = (
    """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      assetMaterializations {
        assetKey { path }
        metadataEntries {
          __typename
          label
          ... on IntMetadataEntry { intRepr }
          ... on TableSchemaMetadataEntry { schema { columns { name type } } }
        }
      }
    }
    %s
  }
}
"""
    % ERROR
)  # noqa: UP031

CHECK_EVALUATIONS = (
    """
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
    %s
  }
}
"""
    % ERROR
)  # noqa: UP031


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the webserver, its code server and any run it launched: its whole process group."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGKILL:
            return
    # The leader may be gone while a child lingers: the group gets a SIGKILL either way.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(f"dagster-webserver did not answer in {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture
def webserver(project_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`dagster-webserver -w workspace.yaml` in the repo, with the project's environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    command = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(url, process, log)
        yield url
    finally:
        stop(process)


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


def wait_for_run(url: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run = graphql(url, RUN, runId=run_id)["runOrError"]
        assert run["__typename"] == "Run", run
        if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {run['status']} after {RUN_SECONDS} s")
        time.sleep(0.5)


def run_events(url: str, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = graphql(url, CHECK_EVALUATIONS, runId=run_id, cursor=cursor)["logsForRun"]
        assert page["__typename"] == "EventConnection", page
        events += page["events"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return events


def test_ui_shows_the_project_and_materializes_every_table(
    webserver: str, fake_api: FakeApi, duckdb_path: Path
) -> None:
    repo = repository(webserver)

    # Assets: keys, groups, kinds, descriptions, lineage and their checks.
    nodes = {"/".join(n["assetKey"]["path"]): n for n in repo["assetNodes"]}
    assert set(nodes) == ASSET_KEYS
    for key, node in nodes.items():
        vendor = key.split("/")[0]
        assert node["groupName"] == vendor, key
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
    assert dependencies["luma/event_guests"] == {"luma/events"}
    assert all(not deps for key, deps in dependencies.items() if key != "luma/event_guests")

    # Schedules and sensors, each on its vendor's job.
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert set(schedules) == {"luma_daily", "eventee_daily", "warehouse_checks_every_6_hours"}
    assert schedules["luma_daily"]["pipelineName"] == "luma_sync"
    assert schedules["eventee_daily"]["pipelineName"] == "eventee_sync"
    assert all(s["description"] and s["cronSchedule"] for s in schedules.values())
    sensors = {s["name"]: s for s in repo["sensors"]}
    assert set(sensors) == {"luma_change_sensor", "eventee_change_sensor"}
    for vendor in TABLES:
        sensor = sensors[f"{vendor}_change_sensor"]
        assert [t["pipelineName"] for t in sensor["targets"]] == [f"{vendor}_sync"]
        assert sensor["description"]
    assert {"luma_sync", "eventee_sync", "warehouse_checks", "__ASSET_JOB"} <= {
        j["name"] for j in repo["jobs"]
    }

    # "Materialize all": the webserver launches the run in a subprocess of its own.
    run_id = launch(webserver, repo, "__ASSET_JOB", ASSET_KEYS)
    run = wait_for_run(webserver, run_id)
    events = run_events(webserver, run_id)
    assert run["status"] == "SUCCESS", [e.get("message") for e in events]

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
