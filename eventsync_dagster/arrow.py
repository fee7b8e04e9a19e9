"""Pages handed to dlt as Arrow tables typed from the table spec, so dlt skips its normalize.

dlt's normalize of record pages re-reads every row, gives it a random id and writes it again: a
third of a large sync's time. An Arrow table goes to the load files as it is. What dlt does not do
for us, and this module does: the types come from the spec (timestamps and dates parsed, JSON
columns serialised as JSON text, since dlt has no Arrow type for JSON), and a page whose values
do not fit their declared types, or that carries fields the spec does not declare, stays a page
of records, so dlt types it as before (a new column, a variant column for a changed type).

The last step of a resource (`as_arrow`), after the row steps and PII hashing, where the
warehouse loads Arrow tables as they are (`Warehouse.loads_arrow`: DuckDB, Postgres); not for a
table that feeds a transformer, which reads records (`luma.events`). A vendor that starts sending
a field the spec lacks costs that table the speed, not the field, until the spec declares it.
"""

from __future__ import annotations

import logging
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.schema.typing import C_DLT_ID, C_DLT_LOAD_ID
from dlt.common.schema.utils import dlt_id_column, dlt_load_id_column
from dlt.extract.items_transform import ItemTransform
from dlt.extract.resource import DltResource

from eventsync_dagster.spec import BIGINT, BOOL, DATE, DOUBLE, JSON, TEXT, TIMESTAMP, Table

TYPES = {
    TEXT: pa.string(),
    BIGINT: pa.int64(),
    DOUBLE: pa.float64(),
    BOOL: pa.bool_(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
    JSON: pa.string(),
}
PARSED = (DATE, TIMESTAMP)
"""Sent as ISO 8601 text, parsed by Arrow's cast."""
REFUSED = {BIGINT: float, DOUBLE: bool}
"""Python values Arrow converts silently (4.5 into 4, True into 1.0) where dlt's record path
refuses them (and keeps them in a variant column)."""
NOT_ARROW = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    orjson.JSONEncodeError,
)


class DoesNotFit(ValueError):
    """A page that must stay records (see the module's docstring)."""


def _json_text(values: list[Any]) -> pa.Array:
    texts: list[str | None] = []
    for value in values:
        if value is None:
            texts.append(None)
        elif isinstance(value, dict | list):
            texts.append(orjson.dumps(value).decode())
        else:  # a scalar where an object or list belongs: dlt decides what it becomes
            raise DoesNotFit
    return pa.array(texts, pa.string())


def to_arrow(rows: list[dict[str, Any]], table: Table) -> pa.Table:
    """The page as an Arrow table with the spec's columns, or `DoesNotFit`.

    One `from_pylist` pass reads every plain column (timestamps and dates as text, then cast);
    the JSON columns are serialised first, as Arrow cannot read them from Python objects."""
    declared = table.columns
    present: set[str] = set()
    for row in rows:
        present.update(row)
    if not present <= declared.keys():
        raise DoesNotFit
    for name, column in declared.items():
        refused = REFUSED.get(column.data_type)
        if refused and name in present and any(isinstance(row.get(name), refused) for row in rows):
            raise DoesNotFit
    try:
        texts = {
            name: _json_text([row.get(name) for row in rows])
            for name, column in declared.items()
            if column.data_type == JSON and name in present
        }
    except NOT_ARROW as error:
        raise DoesNotFit from error
    staged = [
        pa.field(name, pa.string() if column.data_type in PARSED else TYPES[column.data_type])
        for name, column in declared.items()
        if name in present and name not in texts
    ]
    try:
        read = pa.Table.from_pylist(rows, schema=pa.schema(staged))
        fields, arrays = [], []
        for name, column in declared.items():
            if name in texts:
                array = texts[name]
            elif name not in present:  # e.g. `_deleted_at`, which the deletions set: null, in place
                array = pa.nulls(len(rows), TYPES[column.data_type])
            elif column.data_type in PARSED:
                array = read.column(name).cast(TYPES[column.data_type])
            else:
                array = read.column(name)
            nullable = name not in table.not_null
            if not nullable and array.null_count:
                raise DoesNotFit  # dlt's own path says what is wrong with it
            fields.append(pa.field(name, array.type, nullable=nullable))
            arrays.append(array)
    except NOT_ARROW as error:
        raise DoesNotFit from error
    # dlt's columns, in dlt's order: the load id, which dlt's extract writes into this column in
    # place, and the row id, so that dlt's normalize has nothing to add and imports the file as
    # it is instead of rewriting it.
    fields += [
        pa.field(C_DLT_LOAD_ID, pa.string(), nullable=False),
        pa.field(C_DLT_ID, pa.string(), nullable=False),
    ]
    arrays += [pa.nulls(len(rows), pa.string()), pa.array(generate_dlt_ids(len(rows)))]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class _ArrowPages(ItemTransform[Any, Any]):
    def __init__(self, table: Table) -> None:
        super().__init__(lambda item: item)
        self.table = table

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, list) or not item:
            return item
        try:
            return to_arrow(item, self.table)
        except DoesNotFit:
            return item


def as_arrow(resource: DltResource, table: Table) -> DltResource:
    # The hints dlt's normalize gives these columns when it adds them (a text precision, which
    # PostgreSQL keeps as varchar(64), the row id's uniqueness).
    resource.apply_hints(columns={C_DLT_LOAD_ID: dlt_load_id_column(), C_DLT_ID: dlt_id_column()})
    return resource.add_step(_ArrowPages(table))


class _JsonHintKept(logging.Filter):
    """dlt warns, once per Arrow table, that the spec's `json` type wins over the Arrow text the
    JSON columns travel as: that is what is asked for, and a sync would print it a thousand
    times. Only that warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "several column hints were different" not in record.getMessage()


logging.getLogger("dlt").addFilter(_JsonHintKept())
# Arrow tables get the columns record pages get: the load id (deletions and counts select by it),
# which dlt writes at extract, and a row id (tables loaded before keep their non-null `_dlt_id`),
# which `to_arrow` writes.
dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
dlt.config["normalize.parquet_normalizer.add_dlt_id"] = False
