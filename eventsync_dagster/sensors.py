"""Change sensors: a cheap poll of each vendor, a run only when the upstream changed.

The cursor keeps the last fingerprint; the run key is the new fingerprint, so one change is
refreshed once however often the sensor ticks. A vendor error skips the tick with its reason
instead of crashing the sensor into a retry loop.
"""

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import dagster as dg

from eventsync_dagster.jobs import JOBS
from eventsync_dagster.resources import EventeeResource, LumaResource
from eventsync_dagster.sources.eventee import records
from eventsync_dagster.sources.http import SourceError
from eventsync_dagster.sources.luma import PAGE_SIZE, list_events
from eventsync_dagster.tables import EVENTEE_CONTENT_TABLES

DEFAULT_INTERVAL_SECONDS = 300


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def luma_snapshot(luma: LumaResource) -> tuple[str, str]:
    """The first page of events (the newest): a new, changed or removed event shows there.

    Luma has no `updated_at`, so the fingerprint covers every field of those events.
    """
    page = next(list_events(luma.client(), PAGE_SIZE), [])
    return fingerprint(page), f"{len(page)} events on the first page"


def eventee_snapshot(eventee: EventeeResource) -> tuple[str, str]:
    """All of `/content` plus partners and participants: three requests, like a sync's reads."""
    client = eventee.client()
    content = client.get_json("/content")
    partners = records(client.get_json("/partners"), "/partners")
    participants = records(client.get_json("/participants"), "/participants")
    sizes = {name: len(content.get(name) or []) for name in EVENTEE_CONTENT_TABLES}
    sizes |= {"partners": len(partners), "participants": len(participants)}
    summary = ", ".join(f"{n} {name}" for name, n in sizes.items())
    return fingerprint([content, partners, participants]), summary


def evaluate(
    context: dg.SensorEvaluationContext, vendor: str, snapshot: Callable[[], tuple[str, str]]
) -> dg.SensorResult | dg.SkipReason:
    try:
        current, summary = snapshot()
    except SourceError as error:
        return dg.SkipReason(f"could not poll {vendor}: {error}")
    if context.cursor is None:
        return dg.SensorResult(
            skip_reason=f"first poll: recorded {vendor}'s state ({summary})", cursor=current
        )
    if context.cursor == current:
        return dg.SkipReason(f"{vendor} unchanged since the last refresh ({summary})")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{vendor}-{current}", tags={"change": summary})],
        cursor=current,
    )


def _interval() -> int:
    return int(os.environ.get("EVENTSYNC_SENSOR_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS)


@dg.sensor(
    job=JOBS["luma"],
    minimum_interval_seconds=_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes Luma events and their guests when the calendar's events change.",
)
def luma_change_sensor(
    context: dg.SensorEvaluationContext, luma: LumaResource
) -> dg.SensorResult | dg.SkipReason:
    return evaluate(context, "luma", lambda: luma_snapshot(luma))


@dg.sensor(
    job=JOBS["eventee"],
    minimum_interval_seconds=_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes every Eventee table when programme, partners or participants change.",
)
def eventee_change_sensor(
    context: dg.SensorEvaluationContext, eventee: EventeeResource
) -> dg.SensorResult | dg.SkipReason:
    return evaluate(context, "eventee", lambda: eventee_snapshot(eventee))


SENSORS = [luma_change_sensor, eventee_change_sensor]
