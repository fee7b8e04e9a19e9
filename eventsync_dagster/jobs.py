"""What the schedules and sensors run: a sync job per vendor, and a checks-only job."""

import dagster as dg

from eventsync_dagster.tables import VENDORS

RETRY = dg.RetryPolicy(max_retries=1, delay=60, backoff=dg.Backoff.EXPONENTIAL)
"""A step retry for what outlasts the HTTP retries (a vendor outage of a minute or two)."""

JOBS = {
    vendor: dg.define_asset_job(
        f"{vendor}_sync",
        selection=dg.AssetSelection.groups(vendor),
        description=f"Sync every {vendor} table into the warehouse, then check it.",
        op_retry_policy=RETRY,
    )
    for vendor in VENDORS
}


ACCOUNT_TAG = "eventsync/account"
"""Tag of every per-account run; the repo's run queue allows one run per value at a time."""


def account_run_config(vendor: str, account: str) -> dict[str, object]:
    """Run config that narrows a sync to one account: schedules and sensors launch one run per
    account, so one account's failure never holds back another's data."""
    return {"resources": {vendor: {"config": {"account": account}}}}


def account_tags(vendor: str, account: str) -> dict[str, str]:
    return {ACCOUNT_TAG: f"{vendor}/{account}"}


CHECKS_JOB = dg.define_asset_job(
    "warehouse_checks",
    selection=dg.AssetSelection.all_asset_checks(),
    description="Every table's checks without loading anything: freshness shows a missed sync.",
)
