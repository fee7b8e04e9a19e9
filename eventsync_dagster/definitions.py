"""The code location: every asset, check, job, schedule and sensor, each resource bound once.

Policies that hold for the whole project are set here and nowhere else.
"""

import dagster as dg

from eventsync_dagster.assets import eventee_assets, luma_events_assets, luma_guests_assets
from eventsync_dagster.checks import CHECKS
from eventsync_dagster.jobs import CHECKS_JOB, JOBS
from eventsync_dagster.resources import EventeeResource, LumaResource, WarehouseResource
from eventsync_dagster.schedules import checks_schedule, daily_schedules
from eventsync_dagster.sensors import SENSORS

defs = dg.Definitions(
    assets=[luma_events_assets, luma_guests_assets, eventee_assets],
    asset_checks=CHECKS,
    jobs=[*JOBS.values(), CHECKS_JOB],
    schedules=[*daily_schedules(), checks_schedule],
    sensors=SENSORS,
    resources={
        "luma": LumaResource(),
        "eventee": EventeeResource(),
        "warehouse": WarehouseResource(),
    },
    # One process per run, steps one after another: DuckDB takes one writer per file, and
    # re-importing dagster and dlt per step costs seconds. Holds on any Dagster instance.
    executor=dg.in_process_executor,
)
