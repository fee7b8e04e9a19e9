"""A daily refresh per vendor (one run per account), and the checks between syncs."""

import os

import dagster as dg

from eventsync_dagster.accounts import AccountsFileError, load_accounts
from eventsync_dagster.jobs import CHECKS_JOB, JOBS, account_run_config, account_tags

DEFAULT_CRON = "0 6 * * *"
DEFAULT_TIMEZONE = "UTC"


def _timezone() -> str:
    return os.environ.get("EVENTSYNC_TIMEZONE") or DEFAULT_TIMEZONE


def daily_schedule(vendor: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{vendor}_daily",
        job=JOBS[vendor],
        cron_schedule=os.environ.get("EVENTSYNC_DAILY_CRON") or DEFAULT_CRON,
        execution_timezone=_timezone(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Refresh every {vendor} table once a day, one run per account.",
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        try:
            accounts = load_accounts(vendor)
        except AccountsFileError as error:
            return dg.SkipReason(f"could not read the accounts: {error}")
        tick = context.scheduled_execution_time.isoformat()
        return [
            dg.RunRequest(
                run_key=f"{vendor}-{account.name}-{tick}",
                run_config=account_run_config(vendor, account.name),
                tags=account_tags(vendor, account.name),
            )
            for account in accounts
        ]

    return _daily


def daily_schedules() -> list[dg.ScheduleDefinition]:
    return [daily_schedule(vendor) for vendor in JOBS]


checks_schedule = dg.ScheduleDefinition(
    name="warehouse_checks_every_6_hours",
    job=CHECKS_JOB,
    cron_schedule="0 */6 * * *",
    execution_timezone=_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-runs every check between syncs, so a stale table warns without a load.",
)
