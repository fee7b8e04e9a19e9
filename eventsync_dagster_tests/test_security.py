"""Nothing leaked: API keys appear in no log, run record, dlt trace, warehouse or file; contacts
can be stored hashed (`EVENTSYNC_HASH_PII=1`); local secrets and state stay out of git."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dlt.common.versioned_state import decompress_state

from eventsync_dagster.ingest import _DECLARATIONS
from eventsync_dagster.luma.source import luma_source
from eventsync_dagster.pii import pii_hash
from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import (
    REPO,
    failure_messages,
    materialize,
    rows,
)
from eventsync_dev.fake_api import Dataset, FakeApi

RUN = uuid.uuid4().hex
LUMA_KEY, EVENTEE_TOKEN = f"LUMASECRET-{RUN}", f"EVENTEESECRET-{RUN}"
SALT = f"pepper-{RUN}"
CLI = [
    sys.executable, "-m", "dagster", "asset", "materialize",
    "-m", "eventsync_dagster.definitions", "--select", "*",
]  # fmt: skip


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """The fake with recognisable keys (the project's environment is pointed at it)."""
    dataset = Dataset(events=6, guests_per_event=4, participants=6)
    with FakeApi(dataset=dataset, luma_api_key=LUMA_KEY, eventee_api_token=EVENTEE_TOKEN) as api:
        yield api


def file_text(path: Path) -> bytes:
    """A file's bytes, decompressed if gzip (dlt's load packages are)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def files_containing(folders: list[Path], needles: list[str]) -> list[str]:
    hits = []
    for folder in folders:
        for path in (p for p in folder.rglob("*") if p.is_file()):
            text = file_text(path)
            hits += [f"{path}: {n}" for n in needles if n.encode() in text]
    return hits


def warehouse_values(path: Path) -> Iterator[str]:
    """Every value of every table as text, dlt's compressed pipeline state decompressed."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, name in tables:
            cursor = con.execute(f'SELECT * FROM "{schema}"."{name}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    yield str(value)
                    if name == "_dlt_pipeline_state" and column == "state":
                        yield json.dumps(decompress_state(value))


def test_api_keys_appear_in_no_log_run_record_trace_warehouse_or_file(
    project_env: dict[str, str],
    fake_api: FakeApi,
    duckdb_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    temporary = tmp_path / "tmp"  # where every process of this test keeps dlt's working folders
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    env = {**os.environ, "RUNTIME__LOG_LEVEL": "DEBUG"}  # dlt at its chattiest
    done = subprocess.run(CLI, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr

    # Plain dlt with the key as a source argument: its trace and state land beside the file.
    source = luma_source(api_key=LUMA_KEY, base_url=fake_api.luma_base_url)
    Warehouse(duckdb_path=str(tmp_path / "plain" / "w.duckdb")).sync(source)

    # A rejected run with recognisable wrong keys, recorded in the same instance (DAGSTER_HOME).
    wrong_luma, wrong_eventee = f"LUMAWRONG-{RUN}", f"EVENTEEWRONG-{RUN}"
    monkeypatch.setenv("LUMA_API_KEY", wrong_luma)
    monkeypatch.setenv("EVENTEE_API_TOKEN", wrong_eventee)
    instance = dg.DagsterInstance.get()
    result = materialize("luma/events", "eventee/partners", instance=instance)
    assert sorted(failure_messages(result)) == [
        "EVENTEE_API_TOKEN was rejected by Eventee (401)",
        "LUMA_API_KEY was rejected by Luma (401)",
    ]
    captured = capfd.readouterr()
    output += captured.out + captured.err + str(list(result.all_events))
    output += "".join(
        str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)
    )

    # The recognisable parts: the whole keys, and their random part in case one were escaped.
    needles = [LUMA_KEY, EVENTEE_TOKEN, wrong_luma, wrong_eventee, RUN]
    home = Path(project_env["DAGSTER_HOME"])
    assert len(instance.get_runs()) == 2 and any(home.rglob("*.db"))  # runs are on disk
    # dlt worked in folders of its own under TMPDIR (here in tmp_path), all removed afterwards.
    assert temporary.is_dir() and not list(temporary.glob("eventsync-dlt-*"))
    folders = [tmp_path, Path(_DECLARATIONS.name)]
    assert files_containing(folders, needles) == []  # DAGSTER_HOME, the warehouse, dlt, cwd
    assert [n for n in needles if n in output] == []
    for path in (duckdb_path, tmp_path / "plain" / "w.duckdb"):
        leaked = {n for value in warehouse_values(path) for n in needles if n in value}
        assert leaked == set(), path


def test_gitignore_keeps_secrets_and_local_state_out_of_git() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [
        ".dlt/secrets.toml",
        ".env",
        "data/eventsync.duckdb",
        "data/dlt_pipelines/eventsync_luma/state.json",
        ".venv/bin/python",
        ".dagster_home/dagster.yaml",
        ".dagster_home/storage/runs.db",
    ]
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", *paths],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(ignored) == sorted(paths)
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--", *paths],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == []


# -- PII ------------------------------------------------------------------------------------


def test_pii_hash_normalises_so_one_person_hashes_the_same_everywhere() -> None:
    assert pii_hash("  Ada.Novak@Example.COM ", "email", "s") == pii_hash(
        "ada.novak@example.com", "email", "s"
    )
    assert pii_hash("ada.novak@example.com", "email", "s") == (
        hashlib.sha256(b"sada.novak@example.com").hexdigest()
    )
    assert pii_hash("+420 777-000 001", "phone", "s") == pii_hash("+420777000001", "phone", "s")
    assert pii_hash("ada@example.com", "email", "s") != pii_hash("ada@example.com", "email", "t")


def contacts(api: FakeApi) -> set[str]:
    data = api.dataset
    guests = [g for e in data.events for g in data.guests(e["api_id"])]
    values = {g[f] for g in guests for f in ("email", "user_email", "phone_number")}
    values |= {p[f] for p in data.participants for f in ("email", "phone")}
    values |= {s[f] for s in data.content["speakers"] for f in ("email", "phone")}
    values |= {r[f] for r in data.registrations for f in ("email", "phone")}
    values |= {p["email"] for p in data.people}
    return {str(v).strip().lower() for v in values if v}


def test_hashed_pii_leaves_no_raw_contact_in_the_warehouse_and_joins_across_tables(
    project_env: dict[str, str],
    fake_api: FakeApi,
    duckdb_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTSYNC_HASH_PII", "1")
    monkeypatch.setenv("EVENTSYNC_PII_SALT", SALT)
    data = fake_api.dataset
    event = data.events[-1]["api_id"]
    guest = data.guests(event)[0]
    guest["phone_number"] = "+420 600 123 456"
    # The same person registered at Eventee, typed differently.
    data.participants.append(
        {"email": f"  {guest['email'].upper()} ", "first_name": "Same", "last_name": "Person",
         "company": None, "phone": guest["phone_number"].replace(" ", "")}
    )  # fmt: skip
    raw = contacts(fake_api)

    keys = ("luma/events", "luma/event_guests", "luma/people", "eventee/participants",
            "eventee/speakers", "eventee/registrations")  # fmt: skip
    result = materialize(*keys)
    assert result.success, failure_messages(result)

    secrets = {*raw, SALT.lower()}  # the salt is a secret too
    leaked = {v for value in warehouse_values(duckdb_path) for v in secrets if v in value.lower()}
    assert leaked == set()
    dlt_files = [duckdb_path.parent / "dlt_pipelines"]
    assert files_containing(dlt_files, [*sorted(raw), SALT]) == []  # nor dlt's load packages

    email = hashlib.sha256((SALT + guest["email"].strip().lower()).encode()).hexdigest()
    phone = hashlib.sha256((SALT + guest["phone_number"].replace(" ", "")).encode()).hexdigest()
    assert rows(
        duckdb_path,
        "SELECT email, user_email, phone_number FROM luma.event_guests "
        f"WHERE api_id = '{guest['api_id']}'",
    ) == [(email, email, phone)]
    assert rows(
        duckdb_path,
        "SELECT p.first_name, p.phone FROM luma.event_guests g "
        "JOIN eventee.participants p ON p.email = g.email "
        f"WHERE g.api_id = '{guest['api_id']}'",
    ) == [("Same", phone)]
    assert rows(duckdb_path, "SELECT count(*) FROM eventee.participants") == [
        (len(data.participants),)
    ]
    person = hashlib.sha256((SALT + data.people[0]["email"]).encode()).hexdigest()
    assert rows(duckdb_path, f"SELECT count(*) FROM luma.people WHERE email = '{person}'") == [(1,)]

    # The hashed primary key merges like the raw one: a second run adds no participant.
    assert materialize("eventee/participants").success
    assert rows(duckdb_path, "SELECT count(*) FROM eventee.participants") == [
        (len(data.participants),)
    ]


def test_hashing_without_a_salt_names_the_variable_before_any_request(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_HASH_PII", "1")
    monkeypatch.delenv("EVENTSYNC_PII_SALT", raising=False)
    result = materialize("eventee/participants")
    assert not result.success
    (message,) = failure_messages(result)
    assert message.startswith("EVENTSYNC_PII_SALT is not set: EVENTSYNC_HASH_PII=1")
    assert "\n" not in message
    assert sum(fake_api.counts.values()) == 0
