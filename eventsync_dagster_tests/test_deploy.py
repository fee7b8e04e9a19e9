"""Beyond one machine: deploy/compose.yaml's topology without Docker, Dagster's storage in
PostgreSQL, other dlt destinations by config only.

The topology test reads the shipped files (compose.yaml, Dockerfile, workspace.yaml,
dagster.yaml) and starts each service as compose would, as local processes: the image's command,
each service's environment with its PostgreSQL URLs pointed at a test database, its bind mounts
written under a folder standing in for the containers' file system, hosts and ports moved to
free ones on 127.0.0.1. Only the user-code service gets the vendors' settings (compose's
`env_file`), so a run that lands shows it ran in the code server, as it does in compose.
"""

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg2
import pytest
import requests
import yaml

from eventsync_dagster.automation import ACCOUNT_TAG
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import (
    REPO,
    failure_messages,
    free_port,
    graphql,
    materialize,
    start,
    stop,
    tail,
)
from eventsync_dev.demo import demo_environment
from eventsync_dev.fake_api import Dataset, FakeApi

DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
SERVICES: dict[str, dict[str, Any]] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())[
    "services"
]


def instructions(name: str) -> list[str]:
    """Each argument of a Dockerfile instruction, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return re.findall(rf"^{name} (.*)$", text, re.MULTILINE)


IMAGE_ENV = dict(pair.split("=", 1) for line in instructions("ENV") for pair in line.split())
IMAGE_CMD: list[str] = json.loads(instructions("CMD")[-1])
WORKDIR = instructions("WORKDIR")[-1]
DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
PROJECT_VARIABLES = ("LUMA_", "EVENTEE_", "EVENTSYNC_", "SOURCES__", "DESTINATION", "DAGSTER_")
ACCOUNTS = """
[[luma]]
name = "default"

[[luma]]
name = "berlin"
credential_variable = "LUMA_API_KEY_BERLIN"
"""
SCHEDULED_AT = ".dagster/scheduled_execution_time"
"""The tag Dagster puts on a schedule's runs: the tick's minute, the same for both vendors."""
TOPOLOGY_SECONDS = 180
"""Bound on the whole bring-up: code server, UI, a schedule tick (within a minute) and its runs."""
LOCATIONS = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        displayMetadata { key value }
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


class Containers:
    """compose.yaml's services as processes: container paths under `root`, PostgreSQL's URLs
    (scheme kept, so the driver is the shipped one) pointed at `database`."""

    def __init__(self, root: Path, database: str) -> None:
        self.root = root
        self.database = urlsplit(database)

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def value(self, value: str) -> str:
        if value.startswith("postgresql"):
            scheme = urlsplit(value).scheme
            return urlunsplit((scheme, self.database.netloc, self.database.path, "", ""))
        assert "${" not in value, f"no local value for {value}"
        return str(self.path(value)) if value.startswith("/") else value

    def environment(self, service: str, dotenv: Mapping[str, str]) -> dict[str, str]:
        """The image's ENV, then `env_file` (given as `dotenv`), then `environment`, as compose
        does; none of the test's own project variables."""
        config = SERVICES[service]
        env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
        env |= {name: self.value(value) for name, value in IMAGE_ENV.items()}
        if "env_file" in config:
            env |= dotenv
        env |= {name: self.value(value) for name, value in config["environment"].items()}
        return env

    def mount(self, service: str, contents: Mapping[str, str]) -> None:
        """The service's volumes: a named volume is a folder, a bind mount a file, from
        `contents` by its source, else the shipped file itself."""
        for volume in SERVICES[service]["volumes"]:
            source, target = volume.split(":")[:2]
            path = self.path(target)
            if not source.startswith("."):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(contents.get(source) or (DEPLOY / source).read_text())

    def command(self, argv: list[str], options: Mapping[str, str]) -> list[str]:
        """A container's command here: the executable from this venv, the values of `options`
        replaced (each must be there), container paths made local."""
        assert set(options) <= set(argv), (argv, options)
        local = [str(BIN / argv[0])]
        for flag, arg in itertools.pairwise(argv):
            if flag in options:
                local.append(options[flag])
            else:
                local.append(str(self.path(arg)) if arg.startswith("/") else arg)
        return local


def workspace(host: str, port: int) -> str:
    """deploy/workspace.yaml, its gRPC server moved to `host`:`port`."""
    config = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (entry,) = config["load_from"]
    entry["grpc_server"] |= {"host": host, "port": port}
    return yaml.safe_dump(config)


def wait_for(what: str, done: Callable[[], Any], deadline: float, logs: list[Path]) -> Any:
    while not (result := done()):
        if time.monotonic() > deadline:
            pytest.fail(f"no {what}:\n" + "\n".join(f"--- {p.name}\n{tail(p)}" for p in logs))
        time.sleep(0.5)
    return result


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def healthy(command: list[str], env: Mapping[str, str]) -> bool:
    return subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0


def location(url: str) -> dict[str, Any] | None:
    """The one code location, once loaded (a load error fails the test)."""
    try:
        workspace = graphql(url, LOCATIONS)["workspaceOrError"]
    except requests.RequestException:
        return None  # not serving yet
    assert workspace["__typename"] == "Workspace", workspace
    (entry,) = workspace["locationEntries"]
    if entry["loadStatus"] != "LOADED":
        return None
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    return dict(entry)


def test_the_compose_files_name_each_other_consistently() -> None:
    config = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (entry,) = config["load_from"]
    server = entry["grpc_server"]
    assert server["host"] in SERVICES and "command" not in SERVICES[server["host"]]
    assert str(server["port"]) == IMAGE_CMD[IMAGE_CMD.index("-p") + 1]
    assert server["location_name"] == "eventsync_dagster"
    home = IMAGE_ENV["DAGSTER_HOME"]
    for name in DAGSTER_SERVICES:
        mounts = dict(v.split(":")[:2] for v in SERVICES[name]["volumes"])
        assert mounts["./dagster.yaml"] == f"{home}/dagster.yaml", name
        if name != "user_code":
            assert SERVICES[name]["command"][-2:] == ["-w", mounts["./workspace.yaml"]], name
    assert (
        dict(v.split(":")[:2] for v in SERVICES["user_code"]["volumes"])["../accounts.toml"]
        == f"{WORKDIR}/accounts.toml"
    )  # read from where the code server runs
    # Only the code server holds vendor keys and the warehouse: schedules, sensors, runs run there.
    assert [name for name, s in SERVICES.items() if "env_file" in s] == ["user_code"]


def test_the_deployed_instance_queues_runs_as_the_repo_instance_does() -> None:
    deployed = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    local = yaml.safe_load((REPO / "instance" / "dagster.yaml").read_text())
    limits = "tag_concurrency_limits"
    assert deployed["run_queue"][limits] == local["run_queue"][limits]
    assert deployed["run_monitoring"] == local["run_monitoring"]
    assert deployed["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}


def test_the_compose_topology_runs_a_schedule_tick_per_account_into_postgres(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code server, the webserver and the daemon apart, sharing PostgreSQL: the daily
    schedule's tick (every minute here) queues one run per account, and every run lands."""
    containers = Containers(tmp_path / "containers", postgres_database)
    grpc_port, web_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    local = {"-h": "127.0.0.1"}
    logs = [tmp_path / f"{name}.log" for name in DAGSTER_SERVICES]
    deadline = time.monotonic() + TOPOLOGY_SECONDS
    with FakeApi(dataset=Dataset(events=4, guests_per_event=2, participants=3)) as api:
        dotenv = {  # compose's ../.env: the vendors, their keys, a schedule that fires soon
            **demo_environment(api),
            "LUMA_API_KEY_BERLIN": api.luma_api_key,
            "EVENTSYNC_DAILY_CRON": "* * * * *",
            "LUMA_REQUESTS_PER_MINUTE": "100000",
            "EVENTSYNC_BUDGET_DIR": str(tmp_path / "budgets"),
        }
        for name in DAGSTER_SERVICES:
            containers.mount(
                name,
                {
                    "./workspace.yaml": workspace("127.0.0.1", grpc_port),
                    "../accounts.toml": ACCOUNTS,
                },
            )
        env = {name: containers.environment(name, dotenv) for name in DAGSTER_SERVICES}
        processes = []
        try:
            server = containers.command(IMAGE_CMD, local | {"-p": str(grpc_port)})
            processes.append(start(server, containers.path(WORKDIR), logs[0], env["user_code"]))
            # compose starts the webserver and the daemon once user_code's healthcheck passes
            # (run once the port is open: each try starts a Python of its own).
            check = SERVICES["user_code"]["healthcheck"]["test"][1:]  # after "CMD"
            check = containers.command(check, {"-p": str(grpc_port)})
            wait_for("code server's port", lambda: listening(grpc_port), deadline, logs)
            wait_for(
                "healthy code server", lambda: healthy(check, env["user_code"]), deadline, logs
            )
            # The daemon first: the schedule's first tick is the first minute after it looks.
            daemon = containers.command(SERVICES["daemon"]["command"], {})
            processes.append(start(daemon, containers.path(WORKDIR), logs[2], env["daemon"]))
            web = containers.command(
                SERVICES["webserver"]["command"], local | {"-p": str(web_port)}
            )
            processes.append(start(web, containers.path(WORKDIR), logs[1], env["webserver"]))

            entry = wait_for("loaded code location", lambda: location(url), deadline, logs)
            assert entry["name"] == "eventsync_dagster"
            origin = {m["key"]: m["value"] for m in entry["displayMetadata"]}
            assert (origin["host"], origin["port"]) == ("127.0.0.1", str(grpc_port))

            monkeypatch.setenv("DAGSTER_POSTGRES_URL", env["daemon"]["DAGSTER_POSTGRES_URL"])
            home = containers.path(IMAGE_ENV["DAGSTER_HOME"])
            with dg.DagsterInstance.from_config(str(home)) as instance:

                def first_tick() -> list[dg.DagsterRun]:
                    """The runs of the first minute the schedules ticked, once all have ended."""
                    runs = [r for r in instance.get_runs() if SCHEDULED_AT in r.tags]
                    first = min((r.tags[SCHEDULED_AT] for r in runs), default=None)
                    tick = [r for r in runs if r.tags[SCHEDULED_AT] == first]
                    return tick if len(tick) == 3 and all(r.is_finished for r in tick) else []

                runs = wait_for("finished runs of the first tick", first_tick, deadline, logs)
                assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
                enqueued = {
                    r.run_id
                    for r in runs
                    if instance.all_logs(r.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
                }
        finally:
            stop(processes)

    assert {(r.job_name, r.tags[ACCOUNT_TAG], r.status.value) for r in runs} == {
        ("luma_sync", "luma/default", "SUCCESS"),
        ("luma_sync", "luma/berlin", "SUCCESS"),
        ("eventee_sync", "eventee/default", "SUCCESS"),
    }, "\n".join(tail(log) for log in logs)
    assert enqueued == {r.run_id for r in runs}  # each went through the run queue
    guests = sum(len(api.dataset.guests(e["api_id"])) for e in api.dataset.events)
    with psycopg2.connect(postgres_database) as con, con.cursor() as cur:
        cur.execute("SELECT account, count(*) FROM luma.events GROUP BY account")
        assert dict(cur.fetchall()) == {"default": 4, "berlin": 4}
        cur.execute("SELECT account, count(*) FROM luma.event_guests GROUP BY account")
        assert dict(cur.fetchall()) == {"default": guests, "berlin": guests}
        cur.execute("SELECT count(*) FROM eventee.participants")
        assert cur.fetchall() == [(3,)]
        cur.execute("SELECT count(*) FROM public.runs")  # Dagster's own storage, same server
        assert cur.fetchall()[0][0] >= 3
    assert not list(home.rglob("*.db"))  # no SQLite storage on any "machine"


def test_the_postgres_instance_keeps_runs_in_postgres(
    project_env: dict[str, str],
    postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "postgres_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres ships psycopg2.
    url = postgres_database.replace("postgresql://", "postgresql+psycopg2://")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    with dg.DagsterInstance.get() as instance:
        result = materialize("eventee/partners", instance=instance)
        assert result.success, failure_messages(result)
    shutil.rmtree(home / "storage", ignore_errors=True)  # nothing of it lives on local disk
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey(["eventee", "partners"]))


def test_the_kubernetes_example_is_complete_instance_config() -> None:
    config = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert "eventsync-keys" in launcher["config"]["env_secrets"]
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}


@pytest.mark.parametrize("destination", ["motherduck", "snowflake", "bigquery"])
def test_other_destinations_by_config_only(destination: str) -> None:
    # No credentials and no network here: what can be checked is that the configuration alone
    # builds the pipeline and picks a loader file format the destination takes.
    warehouse = Warehouse(destination=destination)
    with warehouse.pipeline("luma") as pipeline:
        assert pipeline.destination.destination_name == destination
        assert pipeline.dataset_name == "luma"
    assert warehouse.loader_file_format == "jsonl"
