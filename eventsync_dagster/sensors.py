"""Change sensors: a cheap poll of each vendor, a run only when the upstream changed.

The cursor keeps the last fingerprint and how many changes were seen; the run key is the new
fingerprint with that count, so one change is refreshed once however often the sensor ticks (or
a tick is evaluated again), while a change back to an earlier state is still refreshed (Dagster
never reuses a run key). A vendor error skips the tick with its reason instead of crashing the
sensor into a retry loop.
"""

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dlt.sources.helpers.rest_client.paginators import SinglePagePaginator

from eventsync_dagster.accounts import Account, AccountsFileError
from eventsync_dagster.jobs import JOBS, account_run_config, account_tags
from eventsync_dagster.resources import EventeeResource, LumaResource, http_settings
from eventsync_dagster.sources.eventee import records
from eventsync_dagster.sources.http import HttpSettings, SourceError
from eventsync_dagster.sources.luma import EVENT_ENTRIES, EVENTS, PAGE_SIZE
from eventsync_dagster.tables import DEFAULT_ACCOUNT, EVENTEE_CONTENT_TABLES

DEFAULT_INTERVAL_SECONDS = 300


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def poll_http() -> HttpSettings:
    """The run's HTTP policy, capped so a hung vendor skips the tick within Dagster's 60 s."""
    runs = http_settings()
    return replace(
        runs,
        timeout=min(runs.timeout, 10.0),
        max_attempts=min(runs.max_attempts, 3),
        max_retry_delay=min(runs.max_retry_delay, 10.0),
    )


def luma_snapshot(luma: LumaResource, account: Account) -> tuple[str, str]:
    """One page of the events that still change: upcoming ones and those of the guest refresh
    window (`EVENTSYNC_GUEST_REFRESH_DAYS`); a new, changed or removed event shows there.

    Luma lists events by start, oldest first, so a calendar's plain first page never shows a new
    event once it has more than a page of them. The window starts at a UTC midnight, so it moves
    once a day (an event leaving it is a change, refreshed once). Luma has no `updated_at`, so the
    fingerprint covers every field of those events.
    """
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    after = (today - timedelta(days=luma.refresh_days())).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = next(
        luma.client(account, poll_http()).pages(
            EVENTS.endpoint,
            params={"after": after, "pagination_limit": PAGE_SIZE},
            paginator=SinglePagePaginator(),
            data_selector=EVENT_ENTRIES,
        ),
        [],
    )
    return fingerprint(page), f"{len(page)} events starting after {after[:10]}"


def eventee_snapshot(eventee: EventeeResource, account: Account) -> tuple[str, str]:
    """All of `/content` plus partners and participants: three requests, like a sync's reads."""
    client = eventee.client(account, poll_http())
    content = client.get_json("/content")
    partners = records(client.get_json("/partners"), "/partners")
    participants = records(client.get_json("/participants"), "/participants")
    sizes = {name: len(content.get(name) or []) for name in EVENTEE_CONTENT_TABLES}
    sizes |= {"partners": len(partners), "participants": len(participants)}
    summary = ", ".join(f"{n} {name}" for name, n in sizes.items())
    return fingerprint([content, partners, participants]), summary


Seen = dict[str, tuple[str, int]]
"""Per account: the last fingerprint and how many changes were seen."""


def read_cursor(cursor: str | None) -> Seen:
    """The cursor's state; a single fingerprint is a cursor from before accounts (`default`)."""
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {DEFAULT_ACCOUNT: (cursor, 0)}
    if "fingerprint" in state:
        state = {DEFAULT_ACCOUNT: state}
    return {name: (str(s["fingerprint"]), int(s["changes"])) for name, s in state.items()}


def write_cursor(seen: Seen) -> str:
    return json.dumps({name: {"fingerprint": f, "changes": n} for name, (f, n) in seen.items()})


def evaluate(
    context: dg.SensorEvaluationContext,
    vendor: LumaResource | EventeeResource,
    snapshot: Callable[[Account], tuple[str, str]],
) -> dg.SensorResult:
    """Poll each account; a run per changed account, for that account alone."""
    try:
        accounts = vendor.accounts()
    except AccountsFileError as error:
        return dg.SensorResult(skip_reason=f"could not read the accounts: {error}")
    seen = read_cursor(context.cursor)
    runs: list[dg.RunRequest] = []
    reasons: list[str] = []
    for account in accounts:
        label = vendor.vendor if len(accounts) == 1 else f"{vendor.vendor}[{account.name}]"
        try:
            current, summary = snapshot(account)
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
                    run_key=f"{vendor.vendor}-{account.name}-{changes}-{current}",
                    run_config=account_run_config(vendor.vendor, account.name),
                    tags={"change": summary, **account_tags(vendor.vendor, account.name)},
                )
            )
        seen[account.name] = (current, changes)
    if runs:
        return dg.SensorResult(run_requests=runs, cursor=write_cursor(seen))
    return dg.SensorResult(skip_reason="; ".join(reasons), cursor=write_cursor(seen))


def _interval() -> int:
    return int(os.environ.get("EVENTSYNC_SENSOR_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS)


@dg.sensor(
    job=JOBS["luma"],
    minimum_interval_seconds=_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes Luma events and their guests when the calendar's events change.",
)
def luma_change_sensor(context: dg.SensorEvaluationContext, luma: LumaResource) -> dg.SensorResult:
    return evaluate(context, luma, lambda account: luma_snapshot(luma, account))


@dg.sensor(
    job=JOBS["eventee"],
    minimum_interval_seconds=_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes every Eventee table when programme, partners or participants change.",
)
def eventee_change_sensor(
    context: dg.SensorEvaluationContext, eventee: EventeeResource
) -> dg.SensorResult:
    return evaluate(context, eventee, lambda account: eventee_snapshot(eventee, account))


SENSORS = [luma_change_sensor, eventee_change_sensor]
