"""The whole code location as users see it: asset keys, lineage, groups, checks, automation."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata import normalize_metadata

from eventsync_dagster.definitions import defs
from eventsync_dagster.tables import TABLES
from eventsync_dagster_tests.conftest import REPO

EXPECTED_ASSETS = {
    **{
        f"luma/{name}": set()
        for name in ("events", "people", "person_tags", "event_tags", "calendars")
    },
    **{
        f"luma/{name}": {"luma/events"}
        for name in ("event_guests", "ticket_types", "event_coupons", "event_blasts")
    },
    **{
        f"eventee/{name}": set()
        for name in (
            "halls", "days", "lectures", "speakers", "workshops", "pauses", "tracks",
            "partners", "participants", "groups", "reviews", "registrations",
        )
    },
}  # fmt: skip


def test_exact_asset_keys_and_deps() -> None:
    graph = defs.resolve_asset_graph()
    found = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert found == EXPECTED_ASSETS


def test_every_asset_has_group_kinds_owner_and_description() -> None:
    for spec in defs.resolve_all_asset_specs():
        vendor = spec.key.path[0]
        assert spec.group_name == vendor
        assert spec.kinds == {"dlt", "duckdb"}
        assert spec.owners == ["team:data-platform"]
        assert spec.description and len(spec.description) > 20


def test_three_checks_per_table_with_blocking_key_and_required_checks() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    names = ("primary_key_unique", "required_fields_present", "column_schema_change")
    assert checks == {(f"{t.vendor}/{t.name}", n) for t in TABLES for n in names}
    blocking = {
        (key.asset_key.to_user_string(), key.name)
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking
    }
    assert blocking == {
        (f"{t.vendor}/{t.name}", n)
        for t in TABLES
        for n in ("primary_key_unique", "required_fields_present")
    }


def test_daily_schedules_and_change_sensors() -> None:
    luma = defs.resolve_schedule_def("luma_daily")
    eventee = defs.resolve_schedule_def("eventee_daily")
    assert (luma.cron_schedule, luma.execution_timezone) == ("0 6 * * *", "UTC")
    assert luma.job_name == "luma_sync" and eventee.job_name == "eventee_sync"
    assert luma.default_status == dg.DefaultScheduleStatus.RUNNING
    job_assets = {
        name: {
            k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.selected_asset_keys
        }
        for name in ("luma_sync", "eventee_sync")
    }
    assert job_assets["luma_sync"] == {k for k in EXPECTED_ASSETS if k.startswith("luma/")}
    assert job_assets["eventee_sync"] == {k for k in EXPECTED_ASSETS if k.startswith("eventee/")}
    sensors = {
        name: defs.resolve_sensor_def(name)
        for name in ("luma_change_sensor", "eventee_change_sensor")
    }
    assert sensors["luma_change_sensor"].job_name == "luma_sync"
    assert sensors["eventee_change_sensor"].job_name == "eventee_sync"


def test_definitions_load_without_any_credentials() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    code = "from eventsync_dagster.definitions import defs; defs.resolve_asset_graph(); print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_readme_table_list_is_generated_from_the_spec() -> None:
    from eventsync_dagster.tables import markdown_table

    readme = (REPO / "README.md").read_text()
    listed = readme.split("<!-- tables:start -->\n")[1].split("\n<!-- tables:end -->")[0]
    assert listed == markdown_table()


def test_asset_metadata_shows_the_spec_schema_and_the_guest_to_event_link() -> None:
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    guests = specs["luma/event_guests"].metadata
    columns = {c.name: c for c in guests["dagster/column_schema"].columns}
    assert "references luma.events.api_id" in columns["event_api_id"].constraints.other
    assert "primary key" in columns["account"].constraints.other
    assert not columns["api_id"].constraints.nullable
    assert guests["joins event_api_id"].value == dg.AssetKey(["luma", "events"])
    assert columns["checked_in_at"].type == "timestamp"
    for spec in specs.values():  # every column described, from the spec
        described = spec.metadata["dagster/column_schema"].columns
        assert described and all(c.description for c in described), spec.key


def test_asset_metadata_is_all_readable_and_names_the_dataset() -> None:
    """What the UI shows of each asset: no Python object it can only call "(unserializable)"
    (dagster-dlt's source, pipeline and translator) and no empty value."""
    for spec in defs.resolve_all_asset_specs():
        shown = normalize_metadata(dict(spec.metadata), allow_invalid=True)
        texts = {k: str(v.value) for k, v in shown.items()}
        assert not [k for k, text in texts.items() if "unserializable" in text], spec.key
        assert not [k for k, text in texts.items() if text in ("", "None", "[]", "{}")], spec.key
        assert texts["dataset"] == spec.key.path[0]


def test_previews_never_show_personal_data() -> None:
    for t in TABLES:
        assert set(t.preview) <= set(t.columns), t.name
        # In a table of people, a name is theirs; elsewhere it names an event, a tag, a hall.
        personal = set(t.personal) | ({"name", "user_name", "email"} if t.personal else set())
        assert not set(t.preview) & personal, t.name


def test_vendor_sources_polls_and_the_warehouse_load_no_dagster() -> None:
    # Plain dlt users (and the benchmark) import these without Dagster's import cost.
    modules = [
        "eventsync_dagster.luma.source",
        "eventsync_dagster.luma.poll",
        "eventsync_dagster.eventee.source",
        "eventsync_dagster.eventee.poll",
        "eventsync_dagster.tables",
        "eventsync_dagster.warehouse",
    ]
    code = f"import sys; import {', '.join(modules)}; print('dagster' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


SNAPSHOT = Path(__file__).parent / "definitions_snapshot.json"


def definitions_snapshot() -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    return {
        "assets": {
            key: {
                "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
                "group": spec.group_name,
                "kinds": sorted(spec.kinds),
                "owners": list(spec.owners),
                "checks": sorted(k.name for k in graph.asset_check_keys if k.asset_key == spec.key),
            }
            for key, spec in sorted(specs.items())
        },
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs()),
        "schedules": {
            s.name: [s.job_name, s.cron_schedule, s.execution_timezone]
            for s in defs.schedules or []
            if isinstance(s, dg.ScheduleDefinition)
        },
        "sensors": {
            s.name: s.job_name for s in defs.sensors or [] if isinstance(s, dg.SensorDefinition)
        },
    }


def test_the_whole_definitions_match_the_snapshot() -> None:
    """A change to keys, lineage, groups, kinds, owners, checks, jobs, schedules or sensors shows
    up here; `EVENTSYNC_UPDATE_SNAPSHOT=1` rewrites the file after a deliberate change."""
    current = definitions_snapshot()
    if os.environ.get("EVENTSYNC_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())
