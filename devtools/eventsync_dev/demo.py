"""`make demo`: the whole sync through the `dagster` CLI against the bundled fake API.

No keys and no network: the fake API serves both vendors on 127.0.0.1, the assets load into the
default DuckDB file, and the rows per table are printed at the end. Run it twice: the counts stay
the same (merge on primary keys).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from eventsync_dagster.tables import VENDORS, vendor_tables
from eventsync_dagster.warehouse import Warehouse, row_counts
from eventsync_dev.fake_api import FakeApi
from eventsync_dev.fake_api.options import HelpFormatter, add_data_options, dataset


def demo_environment(api: FakeApi) -> dict[str, str]:
    """Points the project at the fake API with its keys (they are the fake's, not secrets)."""
    return {
        "LUMA_API_KEY": api.luma_api_key,
        "LUMA_BASE_URL": api.luma_base_url,
        "EVENTEE_API_TOKEN": api.eventee_api_token,
        "EVENTEE_BASE_URL": api.eventee_base_url,
    }


def table_counts(warehouse: Warehouse) -> dict[str, int]:
    counts: dict[str, int] = {}
    for vendor in VENDORS:
        with warehouse.sql(vendor) as sql:
            tables = (t.name for t in vendor_tables(vendor))
            counts |= {f"{vendor}.{t}": n for t, n in row_counts(sql, tables).items()}
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventsync_dev.demo", description=__doc__, formatter_class=HelpFormatter
    )
    add_data_options(parser)
    args = parser.parse_args(argv)
    warehouse = Warehouse.from_env()
    with FakeApi(dataset=dataset(args)) as api, tempfile.TemporaryDirectory() as elsewhere:
        print(f"fake API on {api.luma_base_url}", flush=True)
        env = {
            **os.environ,
            **demo_environment(api),
            "EVENTSYNC_DUCKDB_PATH": str(Path(warehouse.duckdb_path).resolve()),
        }
        command = [
            sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "eventsync_dagster.definitions", "--select", "*",
        ]  # fmt: skip
        # Started elsewhere: Dagster's CLI loads `.env` from where it starts, over the
        # environment, and a developer's real keys and hosts have no place in the demo.
        done = subprocess.run(command, env=env, cwd=elsewhere, check=False)
        if done.returncode:
            print("the run failed: see the log above", file=sys.stderr)
            return done.returncode
        print(f"{sum(api.counts.values())} requests served")
    counts = table_counts(warehouse)
    width = max(map(len, counts))
    print(f"\n{'table':<{width}}  rows")
    for name, n in counts.items():
        print(f"{name:<{width}}  {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
