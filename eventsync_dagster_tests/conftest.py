"""Fixtures: the fake API on 127.0.0.1, a project environment pointing at it, a temp warehouse."""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests

from eventsync_dagster.warehouse import Warehouse, query
from eventsync_dev.demo import demo_environment
from eventsync_dev.fake_api import Dataset, FakeApi

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("EVENTSYNC_TEST_POSTGRES")
"""A PostgreSQL server for the destination tests (`make test` starts one: scripts/postgres.sh)."""


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with FakeApi(dataset=Dataset(events=12, guests_per_event=4, participants=6)) as api:
        yield api


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "eventsync.duckdb"


@pytest.fixture
def project_env(
    fake_api: FakeApi, duckdb_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment a user would set, pointed at the fake API, with quick retries."""
    for name in list(os.environ):
        if name.startswith(("LUMA_", "EVENTEE_", "EVENTSYNC_", "SOURCES__", "DESTINATION")):
            monkeypatch.delenv(name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "instance" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **demo_environment(fake_api),
        "EVENTSYNC_DUCKDB_PATH": str(duckdb_path),
        "EVENTSYNC_RETRY_BACKOFF_FACTOR": "0.05",
        "EVENTSYNC_STEP_RETRY_DELAY_SECONDS": "0",
        # The fake announces no limit unless a test sets one, and without an announcement the
        # budget would pace at 180 a minute. Rate-limit tests set their own.
        "LUMA_REQUESTS_PER_MINUTE": "100000",
        "EVENTSYNC_BUDGET_DIR": str(tmp_path / "budgets"),
        "DAGSTER_HOME": str(home),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # nothing may depend on the working directory being the repo
    return env


def rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def count(path: Path, table: str) -> int:
    return rows(path, f"SELECT count(*) FROM {table}")[0][0]


def materialize(
    *keys: str, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """A real in-process run of the project's definitions, as the UI launches one.

    With no keys, every asset; checks of the selected assets run in the same run.
    """
    from eventsync_dagster.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey.from_user_string(k) for k in keys] or None,
        raise_on_error=False,
    )


def most_at_once(*apis: FakeApi) -> int:
    """The largest number of requests any moment saw being answered, over these servers."""
    edges = sorted(
        (t, step)
        for api in apis
        for start, end in api.intervals
        for t, step in ((start, 1), (end, -1))
    )
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    return peak


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each failed step's message, without the exception class Dagster puts before it."""
    return [
        event.step_failure_data.error.message.strip().removeprefix(
            "dagster._core.definitions.events.Failure: "
        )
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error
    ]


def step_retries(result: dg.ExecuteInProcessResult) -> int:
    """How often steps were sent back for a retry (transient failures only)."""
    return sum(event.is_step_up_for_retry for event in result.all_events)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """Check evaluations by "asset_key:check_name"."""
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in evaluations}


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Materialization metadata (raw values) by asset key."""
    return {
        e.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.all_events
        if e.is_step_materialization
    }


def run_checks(*keys: str, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Only the checks of these assets, as the UI's "Execute checks" runs them."""
    from eventsync_dagster.definitions import defs

    selected = {
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.to_user_string() in keys
    }
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection=selected)
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def execute(path: Path, *statements: str) -> None:
    """Corrupt the warehouse by hand, as a bug or a person might."""
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a fresh, empty database on the test server, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("EVENTSYNC_TEST_POSTGRES is not set: `make test` starts PostgreSQL")
    import psycopg2

    name = f"eventsync_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(params=["duckdb", "postgres"])
def destination(
    request: pytest.FixtureRequest, project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The same test against DuckDB and against a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv("EVENTSYNC_DESTINATION", "postgres")
        url = request.getfixturevalue("postgres_database")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    return str(request.param)


def warehouse_sql(vendor: str, statement: str) -> list[Sequence[Any]]:
    """A statement on whichever warehouse the environment names, through dlt's SQL client."""
    with Warehouse.from_env().sql(vendor) as sql:
        return query(sql, statement.format(dataset=sql.fully_qualified_dataset_name()))


# -- Dagster's processes: webserver, daemon, code server ---------------------------------------


def free_port() -> int:
    """A free port for a server a test starts a while later (PostgreSQL after its initdb, the
    webserver after its imports). Taken below Linux's ephemeral range (32768 up), so nothing
    binding port 0 meanwhile (a fake API, a gRPC server, an outgoing connection) can take it,
    and from a block of its own per pytest-xdist worker, so two workers never pick the same."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    start = 10_000 + 1_000 * (worker % 20)
    block = range(start, start + 1_000)
    for port in random.sample(block, len(block)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {block.start}-{block.stop - 1}")


def start(
    command: list[str], cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A process (default: with the test's environment) in a process group of its own."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """End processes and all they started (code servers, runs): each one's process group.

    Dagster's processes may ignore SIGTERM: SIGKILL follows a short grace, for the whole group
    even when its leader has exited.
    """
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        for process in processes:
            with contextlib.suppress(ProcessLookupError):  # that whole group is gone
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]
