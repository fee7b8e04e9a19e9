"""The code location: each vendor's definitions (`luma/defs.py`, `eventee/defs.py`, which run
each table's checks in its load step) and the schema-drift checks, with the policies that hold
for the whole project set here and nowhere else.
"""

import warnings
from datetime import timedelta

import dagster as dg

from eventsync_dagster.automation import CHECKS_JOB
from eventsync_dagster.checks import DRIFT_CHECKS
from eventsync_dagster.eventee import defs as eventee  # modules: the CLIs want one Definitions
from eventsync_dagster.luma import defs as luma
from eventsync_dagster.resources import WarehouseResource
from eventsync_dagster.settings import load_lenient

SETTINGS, _ = load_lenient()  # a bad value falls back here; runs validate and name it

FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=SETTINGS.freshness_hours))
"""Every table is expected to be synced within the window (the daily run plus slack)."""

with warnings.catch_warnings():  # `map_asset_specs` is a preview API; it is the one root hook
    warnings.simplefilter("ignore", dg.PreviewWarning)
    defs = dg.Definitions.merge(
        luma.defs,
        eventee.defs,
        dg.Definitions(
            asset_checks=DRIFT_CHECKS,
            jobs=[CHECKS_JOB],
            resources={"warehouse": WarehouseResource()},
            # One process per run, steps one after another: re-importing dagster and dlt per step
            # costs seconds, and accounts are read in parallel inside a step. Holds on any instance.
            executor=dg.in_process_executor,
        ),
    ).map_asset_specs(func=lambda spec: spec.replace_attributes(freshness_policy=FRESHNESS))
