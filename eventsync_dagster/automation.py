"""What runs a vendor's sync on its own: its job, daily schedule and change sensor, built the same
way for every vendor, plus the checks-only job.

Schedules and sensors launch one run per account (run config and tag), so one account's failure
never holds back another's data and the run queue keeps one run per account at a time.

The change sensor's cursor keeps, per account, the last fingerprint and how many changes were
seen; the run key is the new fingerprint with that count, so one change is refreshed once however
often the sensor ticks, while a change back to an earlier state is still refreshed (Dagster never
reuses a run key). A vendor error skips that account with its reason instead of crashing the
sensor into a retry loop.

Accounts are polled at once, and a tick stops waiting after `EVENTSYNC_SENSOR_TICK_SECONDS`
(Dagster cancels a tick at 60 s and would lose every account's result); the accounts it did not
hear back from in time are polled first on the next tick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

import dagster as dg

from eventsync_dagster.accounts import Account, AccountsFileError, load_accounts
from eventsync_dagster.http import HttpSettings, SourceError, VendorClient
from eventsync_dagster.resources import VendorResource, http_settings
from eventsync_dagster.settings import Settings, SettingsError, load_lenient
from eventsync_dagster.settings import load as load_settings
from eventsync_dagster.spec import DEFAULT_ACCOUNT

ACCOUNT_TAG = "eventsync/account"
"""Tag of every per-account run; the repo's run queue allows one run per value at a time."""

Poll = Callable[[VendorClient, Account, Settings], tuple[Any, str]]
"""A vendor's cheap change poll (`<vendor>/poll.py`): one account's upstream state, a summary."""
Seen = dict[str, tuple[str, int]]
"""Per account: the last fingerprint and how many changes were seen."""
POLLERS = 8
"""Accounts polled at the same time by one tick."""


def account_run_config(vendor: str, account: str) -> dict[str, object]:
    """Run config that narrows a sync to one account."""
    return {"resources": {vendor: {"config": {"account": account}}}}


def account_tags(vendor: str, account: str) -> dict[str, str]:
    return {ACCOUNT_TAG: f"{vendor}/{account}"}


def sync_job(vendor: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"{vendor}_sync",
        selection=dg.AssetSelection.groups(vendor),
        description=f"Sync every {vendor} table into the warehouse, then check it.",
    )


def daily_schedule(vendor: str, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    settings, _ = load_lenient()  # a bad cron or zone falls back: the definitions always load

    @dg.schedule(
        name=f"{vendor}_daily",
        job=job,
        cron_schedule=settings.daily_cron,
        execution_timezone=settings.timezone,
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


def poll_http(settings: Settings) -> HttpSettings:
    """The run's HTTP policy, capped so a hung vendor skips the tick within Dagster's 60 s."""
    runs = http_settings(settings)
    return replace(
        runs,
        timeout=min(runs.timeout, 10.0),
        max_attempts=min(runs.max_attempts, 3),
        max_retry_delay=min(runs.max_retry_delay, 10.0),
    )


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_cursor(cursor: str | None) -> tuple[Seen, list[str]]:
    """The cursor's fingerprints, and the accounts the last tick could not poll in time.

    Older cursors: a map of accounts alone, or a single fingerprint (from before accounts).
    """
    if not cursor:
        return {}, []
    try:
        state = json.loads(cursor)
    except ValueError:
        return {DEFAULT_ACCOUNT: (cursor, 0)}, []
    if "fingerprint" in state:
        state = {DEFAULT_ACCOUNT: state}
    late = state.get("late", []) if "accounts" in state else []
    accounts = state.get("accounts", state)
    seen = {name: (str(s["fingerprint"]), int(s["changes"])) for name, s in accounts.items()}
    return seen, late


def write_cursor(seen: Seen, late: list[str]) -> str:
    accounts = {name: {"fingerprint": f, "changes": n} for name, (f, n) in seen.items()}
    return json.dumps({"accounts": accounts, "late": late})


def evaluate(
    context: dg.SensorEvaluationContext, resource: VendorResource, poll: Poll
) -> dg.SensorResult:
    """Poll each account; a run per changed account, for that account alone."""
    vendor = resource.vendor
    try:
        settings = load_settings()
        accounts = resource.accounts()
    except (AccountsFileError, SettingsError) as error:
        return dg.SensorResult(skip_reason=f"could not read the settings: {error}")
    seen, late = read_cursor(context.cursor)
    accounts = tuple(sorted(accounts, key=lambda a: a.name not in late))
    http = poll_http(settings)
    pool = ThreadPoolExecutor(min(POLLERS, len(accounts)), thread_name_prefix=f"{vendor}-poll")

    def poll_one(account: Account) -> tuple[Any, str]:
        return poll(resource.client(account, http), account, settings)

    futures: dict[str, Future[tuple[Any, str]]] = {
        account.name: pool.submit(poll_one, account) for account in accounts
    }
    wait(futures.values(), timeout=settings.sensor_tick_seconds)
    pool.shutdown(wait=False, cancel_futures=True)  # what is still polling ends on its own
    runs: list[dg.RunRequest] = []
    reasons: list[str] = []
    still_late: list[str] = []
    for account in accounts:
        label = vendor if len(accounts) == 1 else f"{vendor}[{account.name}]"
        future = futures[account.name]
        if not future.done() or future.cancelled():
            still_late.append(account.name)
            reasons.append(
                f"{label} not polled within {settings.sensor_tick_seconds:g}s: first next tick"
            )
            continue
        try:
            state, summary = future.result()
            current = fingerprint(state)
        except SourceError as error:
            reasons.append(f"could not poll {label}: {error}")
            continue
        last, changes = seen.get(account.name, (None, 0))
        if last is None:
            reasons.append(f"first poll: recorded {label}'s state ({summary})")
        elif last == current:
            reasons.append(f"{label} unchanged since the last refresh ({summary})")
        else:
            changes += 1
            runs.append(
                dg.RunRequest(
                    run_key=f"{vendor}-{account.name}-{changes}-{current}",
                    run_config=account_run_config(vendor, account.name),
                    tags={"change": summary, **account_tags(vendor, account.name)},
                )
            )
        seen[account.name] = (current, changes)
    cursor = write_cursor(seen, still_late)
    if runs:
        return dg.SensorResult(run_requests=runs, cursor=cursor)
    return dg.SensorResult(skip_reason="; ".join(reasons), cursor=cursor)


def change_sensor(
    vendor: str, job: dg.UnresolvedAssetJobDefinition, poll: Poll, description: str
) -> dg.SensorDefinition:
    settings, _ = load_lenient()

    @dg.sensor(
        name=f"{vendor}_change_sensor",
        job=job,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={vendor},
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return evaluate(context, getattr(context.resources, vendor), poll)

    return _sensor


CHECKS_JOB = dg.define_asset_job(
    "warehouse_checks",
    selection=dg.AssetSelection.all_asset_checks(),
    description="Every table's checks without loading anything.",
)
