"""A daily refresh per vendor; cron and timezone from the environment."""

import os

import dagster as dg

from eventsync_dagster.jobs import CHECKS_JOB, JOBS

DEFAULT_CRON = "0 6 * * *"
DEFAULT_TIMEZONE = "UTC"


def daily_schedules() -> list[dg.ScheduleDefinition]:
    return [
        dg.ScheduleDefinition(
            name=f"{vendor}_daily",
            job=job,
            cron_schedule=os.environ.get("EVENTSYNC_DAILY_CRON") or DEFAULT_CRON,
            execution_timezone=os.environ.get("EVENTSYNC_TIMEZONE") or DEFAULT_TIMEZONE,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"Refresh every {vendor} table once a day.",
        )
        for vendor, job in JOBS.items()
    ]


checks_schedule = dg.ScheduleDefinition(
    name="warehouse_checks_every_6_hours",
    job=CHECKS_JOB,
    cron_schedule="0 */6 * * *",
    execution_timezone=os.environ.get("EVENTSYNC_TIMEZONE") or DEFAULT_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-runs every check between syncs, so a stale table warns without a load.",
)
