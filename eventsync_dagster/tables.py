"""Every table of every vendor: the registry the checks, the docs and the tests read.

A vendor is one package (`luma/`, `eventee/`) with its specs in `tables.py`; it is listed here
once. Plain Python: importing it loads no Dagster.
"""

from __future__ import annotations

from eventsync_dagster.eventee import tables as eventee
from eventsync_dagster.luma import tables as luma
from eventsync_dagster.luma.routes import GENERATIONS, route
from eventsync_dagster.spec import Table

VENDORS: tuple[str, ...] = ("luma", "eventee")
TABLES: tuple[Table, ...] = (*luma.TABLES, *eventee.TABLES)
_BY_NAME = {(t.vendor, t.name): t for t in TABLES}


def table(vendor: str, name: str) -> Table:
    return _BY_NAME[(vendor, name)]


def vendor_tables(vendor: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.vendor == vendor)


def markdown_table() -> str:
    """The README's table list, so the docs cannot drift from the spec: the route each table is
    read from on either generation of Luma's routes (`LUMA_API_VERSION`), its key, and the
    requests it costs a calendar of 1,000 events (W: events in the guest refresh window)."""
    lines = [
        "| table | route (`legacy`) | route (`current`) | primary key | required (never null) "
        "| requests: full sync | daily refresh |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TABLES:
        legacy, current = (route(t, g).path if t.routes else t.endpoint for g in GENERATIONS)
        lines.append(
            f"| `{t.vendor}.{t.name}` | `{legacy}` | `{current}` "
            f"| {', '.join(f'`{c}`' for c in t.primary_key)} "
            f"| {', '.join(f'`{c}`' for c in t.not_null)} | {t.cost[0]} | {t.cost[1]} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
