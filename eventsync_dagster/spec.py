"""The table-spec type: a synced table's key, required fields, typed columns and personal data.

Each vendor package declares its tables with it (`luma/tables.py`, `eventee/tables.py`). Sources
take their dlt hints from a spec, the asset checks its keys and required fields, the Dagster
translator its keys, descriptions and lineage, and the README's table list is generated from the
specs (`python -m eventsync_dagster.tables`). A new table is one spec entry plus its fake route.
Plain Python: importing it loads no Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from dlt.common.schema.typing import TColumnSchema, TDataType

# dlt data types. Nested objects and lists are kept as JSON columns rather than child tables: the
# vendors' nested shapes vary (a registration answer is a string, a bool, a list or null), and one
# JSON column per field keeps the table list stable while the vendors evolve.
TEXT, BIGINT, DOUBLE, BOOL, DATE, TIMESTAMP, JSON = (
    "text", "bigint", "double", "bool", "date", "timestamp", "json"
)  # fmt: skip
ACCOUNT = "account"
"""The column naming the account (calendar or event) a row came from: see accounts.py."""
DELETED_AT = "_deleted_at"
"""When the row vanished from a listing the sync read completely (null: still listed)."""
READ_ORDER = "_read_order"
"""The order a run read its rows in: where a listing repeats a key, the copy read last is kept."""
DEFAULT_ACCOUNT = "default"
EMAIL, PHONE = "email", "phone"
"""How a personal field is normalised before it is hashed (pii.py)."""


@dataclass(frozen=True)
class Column:
    """A declared column: its dlt type and what it holds (shown in the Dagster UI)."""

    data_type: str
    description: str


SYSTEM_COLUMNS: Mapping[str, Column] = MappingProxyType(
    {
        DELETED_AT: Column(
            TIMESTAMP,
            "When the row vanished from a listing the sync read completely; null while the "
            "vendor still lists it.",
        ),
        READ_ORDER: Column(
            BIGINT, "Order the loading run read its rows in; of repeated keys the last is kept."
        ),
    }
)
"""Columns every table has after its vendor's fields, written by the sync itself."""


@dataclass(frozen=True)
class Table:
    vendor: str
    """Dagster group, dlt source name and warehouse dataset (schema)."""
    name: str
    """dlt resource name and warehouse table name."""
    description: str
    endpoint: str
    """The route a sync reads by default (Luma's older generation where it has one)."""
    natural_key: tuple[str, ...]
    """The vendor's key; the warehouse key adds `account` (one deployment, several accounts)."""
    source_columns: Mapping[str, Column]
    """Every field the vendor documents, typed, so a table's columns and their order do not
    depend on the data; fields the vendor adds later land too, as dlt sees them."""
    required: tuple[str, ...] = ()
    """Fields the seeds mark as never null, besides the primary key."""
    references: Mapping[str, str] = field(default_factory=dict)
    """Columns that point at another table of the vendor (`"table.column"`), within an account."""
    preview: tuple[str, ...] = ()
    """Columns shown in the materialization's preview of new rows: never personal data."""
    personal: Mapping[str, str] = field(default_factory=dict)
    """Contact fields hashed under `EVENTSYNC_HASH_PII`, and how each is normalised (pii.py)."""
    routes: Mapping[str, str] = field(default_factory=dict)
    """Luma's route per API generation (`legacy`, `current`) where the vendor has generations;
    a table documented on one generation only lists that one, read whichever is chosen."""
    cost: tuple[str, str] = ("1", "1")
    """Requests a sync of a calendar of 1,000 events makes for it: full, and a daily refresh."""

    @property
    def upstream(self) -> tuple[str, ...]:
        """Tables this one is read through and joins to (lineage in Dagster)."""
        return tuple(dict.fromkeys(target.split(".")[0] for target in self.references.values()))

    @property
    def parent(self) -> tuple[str, str] | None:
        """(key column, parent table) when the table is listed per parent row (guests per
        event): a listing is then complete for one parent at a time."""
        for column, target in self.references.items():
            if column in self.natural_key:
                return column, target.split(".")[0]
        return None

    @property
    def primary_key(self) -> tuple[str, ...]:
        return (ACCOUNT, *self.natural_key)

    @property
    def columns(self) -> Mapping[str, Column]:
        """Every declared column, in warehouse order."""
        account = Column(TEXT, "The account (calendar or event) in the accounts file.")
        return {ACCOUNT: account, **self.source_columns, **SYSTEM_COLUMNS}

    @property
    def not_null(self) -> tuple[str, ...]:
        return self.primary_key + tuple(f for f in self.required if f not in self.primary_key)

    def dlt_resource_hints(self) -> dict[str, Any]:
        """What `dlt.resource` / `dlt.transformer` take for this table: merged on its key, with
        its declared columns."""
        return {
            "name": self.name,
            "primary_key": list(self.primary_key),
            "write_disposition": "merge",
            "columns": self.dlt_columns(),
        }

    def dlt_columns(self) -> dict[str, TColumnSchema]:
        """Column hints for dlt: types, descriptions, nullability of the key and required
        fields, and the read order that decides which copy of a repeated key is kept."""
        hints: dict[str, TColumnSchema] = {
            name: {
                "data_type": cast(TDataType, column.data_type),
                "nullable": name not in self.not_null,
                "description": column.description,
            }
            for name, column in self.columns.items()
        }
        hints[READ_ORDER]["dedup_sort"] = "desc"
        return hints


def columns(**declared: Column) -> Mapping[str, Column]:
    return MappingProxyType(declared)
