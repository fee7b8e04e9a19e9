"""The change sensors, the daily schedules and the warehouse pool, against the fake API.

Sensors are evaluated as the daemon does (`evaluate_tick`, resources from the code location); the
last test runs the real `dagster-daemon` on a temporary DAGSTER_HOME and waits for the Luma
sensor to load an upstream change into DuckDB.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from eventsync_dagster.automation import ACCOUNT_TAG, daily_schedule, sync_job
from eventsync_dagster.definitions import defs
from eventsync_dagster.luma.defs import LumaResource
from eventsync_dagster.tables import TABLES, VENDORS
from eventsync_dagster_tests.conftest import count, rows
from eventsync_dev.fake_api import Dataset, FakeApi

LUMA, EVENTEE = "luma_change_sensor", "eventee_change_sensor"
EVENTS_PATH = "/v1/calendar/list-events"
EVENTEE_TABLES = {f"eventee/{t.name}" for t in TABLES if t.vendor == "eventee"}
LUMA_TABLES = {f"luma/{t.name}" for t in TABLES if t.vendor == "luma"}


# `evaluate_tick` is what the daemon calls on a tick; its result type is not exported.
def tick(name: str, cursor: str | None = None, **resources: object) -> SensorExecutionData:
    """One evaluation as the daemon runs it: the location's resources, the stored cursor."""
    context = dg.build_sensor_context(
        cursor=cursor, resources={**(defs.resources or {}), **resources}, definitions=defs
    )
    return defs.resolve_sensor_def(name).evaluate_tick(context)


def job_assets(job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {k.to_user_string() for k in job.asset_layer.selected_asset_keys}


def one_run(data: SensorExecutionData, job: str = "luma_sync") -> dg.RunRequest:
    """The one run a tick asks for: the sensor's whole job (no selection of its own)."""
    assert data.skip_message is None
    assert data.run_requests is not None and len(data.run_requests) == 1
    (request,) = data.run_requests
    assert request.job_name in (None, job) and request.asset_selection is None
    return request


def skipped(data: SensorExecutionData) -> str:
    assert not data.run_requests
    assert data.skip_message
    return data.skip_message


# -- Luma ---------------------------------------------------------------------------------


def test_luma_sensor_records_first_skips_unchanged_and_runs_events_and_guests_once(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    sensor = defs.resolve_sensor_def(LUMA)
    assert sensor.job_name == "luma_sync"
    assert job_assets("luma_sync") == LUMA_TABLES
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    first = tick(LUMA)
    assert skipped(first).startswith("first poll: recorded luma's state")
    assert first.cursor
    # Cheap: one page of events and of each calendar-wide listing, nothing per event.
    assert dict(fake_api.counts) == {
        EVENTS_PATH: 1,
        "/v1/calendar/list-people": 1,
        "/v1/calendar/list-person-tags": 1,
        "/v1/calendars/event-tags/list": 1,
    }

    same = tick(LUMA, first.cursor)
    assert skipped(same).startswith("luma unchanged since the last refresh")
    assert same.cursor == first.cursor

    upcoming = fake_api.dataset.events[-1]["api_id"]
    fake_api.dataset.update_event(upcoming, name="Renamed upstream")
    changed = tick(LUMA, first.cursor)
    request = one_run(changed)
    assert request.run_key and request.run_key.startswith("luma-")
    assert changed.cursor and changed.cursor != first.cursor

    # The same change does not trigger twice.
    assert skipped(tick(LUMA, changed.cursor)).startswith("luma unchanged")

    fake_api.dataset.add_event()
    added = tick(LUMA, changed.cursor)
    assert one_run(added).run_key not in (None, request.run_key)
    assert fake_api.counts["/v1/event/get-guests"] == 0


def test_a_reverted_then_redone_change_is_refreshed_each_time(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    """Run keys are unique for ever in Dagster: a key reused for a later change drops its run."""
    event = fake_api.dataset.events[-1]
    original = event["name"]
    cursor = tick(LUMA).cursor
    keys = []
    for name in ("Postponed", original, "Postponed", original):
        fake_api.dataset.update_event(event["api_id"], name=name)
        data = tick(LUMA, cursor)
        keys.append(one_run(data).run_key)
        # A tick the daemon evaluates again (its cursor not saved) asks for the same run.
        assert one_run(tick(LUMA, cursor)).run_key == keys[-1]
        cursor = data.cursor
    assert len(set(keys)) == 4, keys


def test_luma_sensor_sees_a_new_event_on_a_calendar_of_many_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Luma lists events oldest first: the poll must look where new events appear."""
    with FakeApi(dataset=Dataset(events=250, guests_per_event=1, participants=1)) as api:
        monkeypatch.setenv("LUMA_API_KEY", api.luma_api_key)
        monkeypatch.setenv("LUMA_BASE_URL", api.luma_base_url)
        luma = LumaResource()
        first = tick(LUMA, luma=luma)
        assert skipped(first).startswith("first poll")
        api.dataset.add_event()
        added = tick(LUMA, first.cursor, luma=luma)
        one_run(added)
        assert api.counts[EVENTS_PATH] == 2  # still one request per poll
        # The price: a change to an event that ended long ago waits for the daily refresh.
        api.dataset.update_event(api.dataset.events[0]["api_id"], name="Renamed long after")
        assert "unchanged" in skipped(tick(LUMA, added.cursor, luma=luma))


# -- Eventee ------------------------------------------------------------------------------


def test_eventee_sensor_runs_every_eventee_table_when_content_or_people_change(
    project_env: dict[str, str], fake_api: FakeApi
) -> None:
    sensor = defs.resolve_sensor_def(EVENTEE)
    assert sensor.job_name == "eventee_sync"
    assert job_assets("eventee_sync") == EVENTEE_TABLES

    first = tick(EVENTEE)
    assert skipped(first).startswith("first poll: recorded eventee's state")
    assert set(fake_api.counts) == {
        f"/public/v1/{p}"
        for p in ("content", "partners", "participants", "groups", "reviews", "registrations")
    }
    assert skipped(tick(EVENTEE, first.cursor)).startswith("eventee unchanged")

    fake_api.dataset.content["lectures"][0]["name"] = "Moved to hall B"
    lecture = tick(EVENTEE, first.cursor)
    key = one_run(lecture, "eventee_sync").run_key
    assert key and key.startswith("eventee-")
    assert skipped(tick(EVENTEE, lecture.cursor)).startswith("eventee unchanged")

    fake_api.dataset.participants.append(
        {"email": "late.comer@attendee.example.com", "first_name": "Late", "last_name": "Comer"}
    )
    people = tick(EVENTEE, lecture.cursor)
    assert one_run(people, "eventee_sync").run_key != key
    assert "7 participants" in one_run(people, "eventee_sync").tags["change"]


# -- vendor errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sensor", "variable", "message"),
    [
        (LUMA, "LUMA_API_KEY", "could not poll luma: LUMA_API_KEY was rejected by Luma (401)"),
        (
            EVENTEE,
            "EVENTEE_API_TOKEN",
            "could not poll eventee: EVENTEE_API_TOKEN was rejected by Eventee (401)",
        ),
    ],
)
def test_rejected_credentials_skip_with_the_reason_and_keep_the_cursor(
    project_env: dict[str, str],
    fake_api: FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    sensor: str,
    variable: str,
    message: str,
) -> None:
    cursor = tick(sensor).cursor
    fake_api.reset_counts()
    monkeypatch.setenv(variable, "revoked-3f9c")
    rejected = tick(sensor, cursor)
    assert skipped(rejected) == message
    assert rejected.cursor == cursor
    assert sum(fake_api.counts.values()) == 1  # a 401 is not retried
    # With the key fixed, nothing changed upstream: no refresh is owed.
    monkeypatch.setenv(variable, project_env[variable])
    assert "unchanged" in skipped(tick(sensor, cursor))


@pytest.mark.parametrize(("sensor", "path"), [(LUMA, EVENTS_PATH), (EVENTEE, "/public/v1/content")])
def test_server_errors_after_retries_skip_naming_the_status(
    project_env: dict[str, str],
    fake_api: FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    sensor: str,
    path: str,
) -> None:
    monkeypatch.setenv("EVENTSYNC_REQUEST_MAX_ATTEMPTS", "2")
    cursor = tick(sensor).cursor
    fake_api.faults.status_burst = 2
    fake_api.faults.burst_status = 502
    failed = tick(sensor, cursor)
    reason = skipped(failed)
    assert reason.startswith(f"could not poll {sensor.split('_')[0]}: ")
    assert f"502 for {path.removeprefix('/public/v1')} after 2 attempts" in reason
    assert fake_api.statuses[(path, 502)] == 2
    assert failed.cursor == cursor
    assert "unchanged" in skipped(tick(sensor, cursor))  # the outage over, no spurious run


def test_missing_key_skips_naming_the_variable_before_any_request(
    project_env: dict[str, str], fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMA_API_KEY")
    assert skipped(tick(LUMA)).startswith("could not poll luma: LUMA_API_KEY is not set")
    assert sum(fake_api.counts.values()) == 0


# -- schedules and the pool ---------------------------------------------------------------


def test_daily_schedules_run_each_vendors_job_at_6_utc_and_start_running() -> None:
    jobs = {"luma_daily": "luma_sync", "eventee_daily": "eventee_sync"}
    for name, job_name in jobs.items():
        schedule = defs.resolve_schedule_def(name)
        assert schedule.job_name == job_name
        assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 3, 2, 6, tzinfo=UTC)
        )
        (request,) = schedule.evaluate_tick(context).run_requests or []
        assert request.asset_selection is None  # the whole job: every table of the vendor
    assert job_assets("luma_sync") == LUMA_TABLES
    assert job_assets("eventee_sync") == EVENTEE_TABLES


def daily_schedules() -> list[dg.ScheduleDefinition]:
    """The schedules as the definitions build them when they load (settings read then)."""
    return [daily_schedule(vendor, sync_job(vendor)) for vendor in VENDORS]


def test_daily_schedules_take_cron_and_timezone_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTSYNC_DAILY_CRON", "30 2 * * 1-5")
    monkeypatch.setenv("EVENTSYNC_TIMEZONE", "Europe/Prague")
    found = {s.name: (s.job_name, s.cron_schedule, s.execution_timezone) for s in daily_schedules()}
    assert found == {
        "luma_daily": ("luma_sync", "30 2 * * 1-5", "Europe/Prague"),
        "eventee_daily": ("eventee_sync", "30 2 * * 1-5", "Europe/Prague"),
    }
    monkeypatch.setenv("EVENTSYNC_DAILY_CRON", "")  # set but empty: the default
    monkeypatch.delenv("EVENTSYNC_TIMEZONE")
    assert {(s.cron_schedule, s.execution_timezone) for s in daily_schedules()} == {
        ("0 6 * * *", "UTC")
    }


def test_the_repo_instance_queues_one_run_per_account_and_bounds_every_run(
    project_env: dict[str, str],
) -> None:
    # The run queue keeps one run per account at a time (the per-account runs of a schedule tick
    # and a sensor's change run never overlap on one account); no pool limit, so a killed step
    # holds no slot, and a run whose process died is failed after the maximum runtime.
    with dg.DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit is None
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        assert limits == [
            {"key": ACCOUNT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds > 0


# -- the real daemon ----------------------------------------------------------------------


@contextlib.contextmanager
def daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`dagster-daemon run` in its own process group, which is killed whatever happens."""
    command = [
        str(Path(sys.executable).with_name("dagster-daemon")), "run",
        "-m", "eventsync_dagster.definitions",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):  # run workers, code server, tails
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_daemon_sensor_launches_a_run_that_loads_an_upstream_change(
    project_env: dict[str, str], fake_api: FakeApi, duckdb_path: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "EVENTSYNC_SENSOR_INTERVAL_SECONDS": "3"}
    log = tmp_path / "daemon.log"
    deadline = time.monotonic() + 120

    def wait_for(what: str, done: Callable[[], object]) -> None:
        while not done():
            assert process.poll() is None, f"the daemon exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {what}:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)

    with (
        daemon(env, log) as process,
        dg.DagsterInstance.from_config(project_env["DAGSTER_HOME"]) as instance,
    ):
        # The first tick only records: wait until the first page was answered, then change it.
        wait_for("first tick", lambda: fake_api.statuses[(EVENTS_PATH, 200)] >= 1)
        new = fake_api.dataset.add_event()
        renamed = fake_api.dataset.events[-2]["api_id"]
        fake_api.dataset.update_event(renamed, name="Renamed upstream")

        def luma_runs() -> list[dg.DagsterRun]:
            # By tag: a 06:00 UTC schedule tick during the test would add a luma_sync run.
            runs = dg.RunsFilter(job_name="luma_sync", tags={"dagster/sensor_name": LUMA})
            return list(instance.get_runs(runs))

        wait_for("finished luma_sync run", lambda: any(r.is_finished for r in luma_runs()))
        (run,) = luma_runs()  # several ticks saw the change while it ran: one run
        assert run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
        assert run.tags["dagster/run_key"].startswith("luma-")
    new_id = new["api_id"]
    assert rows(duckdb_path, f"SELECT name FROM luma.events WHERE api_id = '{new_id}'") == [
        (new["name"],)
    ]
    assert rows(duckdb_path, f"SELECT name FROM luma.events WHERE api_id = '{renamed}'") == [
        ("Renamed upstream",)
    ]
    guests = rows(
        duckdb_path, f"SELECT count(*) FROM luma.event_guests WHERE event_api_id = '{new_id}'"
    )
    assert guests == [(len(fake_api.dataset.guests(new_id)),)] and guests[0][0] > 0
    assert count(duckdb_path, "luma.events") == len(fake_api.dataset.events)
