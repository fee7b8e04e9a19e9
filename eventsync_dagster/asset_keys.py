"""A table's Dagster asset key (`luma/events`), which its asset and its checks both name."""

import dagster as dg

from eventsync_dagster.spec import Table


def asset_key(t: Table) -> dg.AssetKey:
    return dg.AssetKey([t.vendor, t.name])
