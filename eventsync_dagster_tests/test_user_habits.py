"""The project behaves like users' other Dagster and dlt projects: dg, .env, dlt secrets, logs."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from eventsync_dagster_tests.conftest import (
    POSTGRES_URL,
    REPO,
    count,
    failure_messages,
    free_port,
    materialize,
)
from eventsync_dev.fake_api import FakeApi

PACKAGE = REPO / "eventsync_dagster"


def dg_instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def dg_cli(*args: str, project: Path) -> subprocess.CompletedProcess[str]:
    """`dg` in a copy of the project's root, so a developer's own `.env` (which Dagster's CLIs
    load from where they start, over the environment) cannot point a test at real vendors."""
    project.mkdir(exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", project)
    (project / "eventsync_dagster").symlink_to(PACKAGE)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    return subprocess.run(
        [str(Path(sys.executable).parent / "dg"), *args],
        cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_dg_check_defs(project_env: dict[str, str], tmp_path: Path) -> None:
    done = dg_cli("check", "defs", project=tmp_path / "project")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_dg_launch_assets_loads_the_selection(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    done = dg_cli("launch", "--assets", "luma/events", project=tmp_path / "project")
    assert done.returncode == 0, done.stderr[-2000:]
    assert count(duckdb_path, "luma.events") == len(fake_api.dataset.events)


def key_seen_by_a_run(cwd: Path, env: dict[str, str]) -> str:
    """Which Luma key a run started in `cwd` would send (checked in a fresh process)."""
    code = (
        "from eventsync_dagster.luma.defs import LumaResource as R; "
        "print(R().client(R().accounts()[0]).auth.api_key)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_credentials_precedence_env_over_dlt_secrets(
    project_env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "secrets.toml").write_text(
        '[sources.luma]\napi_key = "from-secrets-toml"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "LUMA_API_KEY"}
    assert key_seen_by_a_run(project, env) == "from-secrets-toml"
    assert key_seen_by_a_run(project, {**env, "LUMA_API_KEY": "from-env"}) == "from-env"


def test_dotenv_in_the_project_root_is_loaded_by_the_dagster_cli_and_wins(
    project_env: dict[str, str], fake_api: FakeApi, tmp_path: Path, duckdb_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(f"LUMA_API_KEY={fake_api.luma_api_key}\n")
    env = {**os.environ, "LUMA_API_KEY": "exported-but-overridden-by-dotenv"}
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize",
        "-m", "eventsync_dagster.definitions", "--select", "luma/events",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert count(duckdb_path, "luma.events") == len(fake_api.dataset.events)


def test_env_example_explains_every_variable_the_project_reads() -> None:
    read = {
        name
        for path in PACKAGE.rglob("*.py")
        for name in re.findall(r'"((?:LUMA|EVENTEE|EVENTSYNC)_[A-Z_]+)"', path.read_text())
    }
    example = (REPO / ".env.example").read_text()
    # Every line is commented out (`# NAME=default`), so a copy to .env changes nothing.
    assert not re.findall(r"^[A-Z_]+=", example, flags=re.MULTILINE)
    documented = set(re.findall(r"^# ([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read <= documented, sorted(read - documented)
    for name in documented:  # each one has an explanation right above it
        assert re.search(rf"^# (?!---)(?![A-Z_]+=)[^\n]+\n# {name}=", example, re.M), name


def test_progress_is_logged_as_the_sync_goes(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_PROGRESS_SECONDS", "0")  # at every step, to see them all
    instance = dg_instance()
    result = materialize("luma/events", "luma/event_guests", instance=instance)
    assert result.success, failure_messages(result)
    lines = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.step_key == "luma" and entry.user_message.startswith("luma:")
    ]
    guests_read = [int(m) for line in lines for m in re.findall(r"guests read (\d+)", line)]
    assert guests_read == sorted(guests_read) and len(set(guests_read)) == len(
        fake_api.dataset.events
    )
    assert "events done 12" in lines[-2] and "requests" in lines[-2]
    # The guests' round: the events were listed in the first one (1 request), and not again.
    assert lines[-1].startswith("luma: event_guests 48 rows; 12 requests, 0 throttled (429)")


def test_progress_is_not_logged_per_request_by_default(project_env: dict[str, str]) -> None:
    instance = dg_instance()
    result = materialize("luma/events", "luma/event_guests", instance=instance)
    assert result.success, failure_messages(result)
    lines = [
        e.user_message for e in instance.all_logs(result.run_id) if "requests," in e.user_message
    ]
    assert len(lines) <= 4  # a summary per step, and a progress line at most every 10 s


def test_make_stop_stops_the_tests_postgres_and_only_it() -> None:
    """`make test` leaves its PostgreSQL up for the next run; `make stop` ends it (a second one
    here, on another port and folder, so the server of a run in progress is left alone)."""
    if not POSTGRES_URL:
        pytest.skip("EVENTSYNC_TEST_POSTGRES is not set: PostgreSQL is not installed here")
    folder = Path(tempfile.gettempdir()) / f"eventsync-postgres-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "EVENTSYNC_PG_PORT": str(free_port()), "EVENTSYNC_PG_DIR": str(folder)}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=120
        )

    try:
        url = run("bash", "scripts/postgres.sh").stdout.strip()
        psycopg2.connect(url).close()
        assert run("bash", "scripts/postgres.sh").stdout.strip() == url  # reused
        assert f"stopped PostgreSQL at {url}" in run("make", "-s", "stop").stderr
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(url, connect_timeout=5)
        assert not folder.exists()
        psycopg2.connect(POSTGRES_URL).close()  # the tests' own server is still up
    finally:
        run("bash", "scripts/postgres.sh", "stop")
