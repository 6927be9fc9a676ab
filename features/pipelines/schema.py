"""The Arrow schema of each feature table, derived from the catalog, and assembling its rows.

One function maps a catalog kind to its Arrow type; every file is written with the schema built
here, so dtypes cannot drift between tables, days or incremental runs. Timestamps are
microseconds in UTC: DuckDB 2.0 (and so Feast's DuckDB offline store) rejects nanoseconds.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import Table

TIMESTAMP = pa.timestamp("us", tz="UTC")
NULL_US = np.iinfo(np.int64).min  # "no timestamp" in int64 microsecond arrays

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "ts": TIMESTAMP,
    "ints": pa.list_(pa.int64()),
    "strs": pa.list_(pa.string()),
}
_NOT_NULL = {"int", "bool"}  # counts are 0 when nothing happened, never null


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type a catalog kind is stored as."""
    try:
        return _ARROW_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown column kind {kind!r}") from None


def table_schema(table: Table) -> pa.Schema:
    """Entity key, event_timestamp, created, then the catalog's columns in catalog order."""
    fields = [
        pa.field(table.key, pa.int64(), nullable=False),
        pa.field("event_timestamp", TIMESTAMP, nullable=False),
        pa.field("created", TIMESTAMP, nullable=False),
    ]
    fields += [
        pa.field(c.name, arrow_type(c.kind), nullable=c.kind not in _NOT_NULL)
        for c in table.columns
    ]
    return pa.schema(fields)


def timestamps(us: np.ndarray) -> pa.Array:
    """int64 epoch microseconds (NULL_US = null) as a UTC timestamp array."""
    us = np.asarray(us, dtype=np.int64)
    missing = us == NULL_US
    return pa.array(us, TIMESTAMP, mask=missing if missing.any() else None)


def int_lists(matrix: np.ndarray) -> pa.Array:
    """A 2-D integer array as a list<int64> column, one row per list (all the same length)."""
    n, width = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    values = np.ascontiguousarray(matrix, dtype=np.int64).reshape(-1)  # one copy at most
    return pa.ListArray.from_arrays(offsets, pa.array(values))


def _column(kind: str, values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        values = values.cast(arrow_type(kind))
        # Feast's online store keeps UnixTimestamp values in whole seconds: so do we, or a
        # model would see microseconds in training and not in serving.
        return pc.floor_temporal(values, unit="second") if kind == "ts" else values
    if kind == "ts":
        us = np.asarray(values, dtype=np.int64)
        return timestamps(np.where(us == NULL_US, us, us - us % 1_000_000))
    if kind == "ints":
        return int_lists(np.asarray(values))
    if kind == "float":
        values = np.asarray(values, dtype=np.float64)
        nan = np.isnan(values)
        return pa.array(values, pa.float64(), mask=nan if nan.any() else None)
    if kind in ("int", "bool"):
        return pa.array(np.asarray(values), arrow_type(kind))
    return pa.array(values, arrow_type(kind))


def assemble(
    table: Table,
    key: np.ndarray,
    event_us: np.ndarray,
    created_us: int,
    values: Mapping[str, Any],
) -> pa.Table:
    """One file's rows as an Arrow table with exactly the table's schema.

    `values` maps every catalog column to numpy values (int64 microseconds for `ts`, NULL_US
    for null; NaN for a null float; a 2-D array for `ints`) or to an Arrow array.
    """
    schema = table_schema(table)
    n = len(key)
    missing = set(table.column_names()) - set(values)
    if missing:
        raise ValueError(f"{table.name}: no values for {sorted(missing)}")
    arrays = [
        pa.array(np.asarray(key, dtype=np.int64), pa.int64()),
        timestamps(event_us),
        pa.array(np.full(n, created_us, dtype=np.int64), TIMESTAMP),
    ]
    arrays += [_column(c.kind, values[c.name]) for c in table.columns]
    for field, array in zip(schema, arrays, strict=True):
        if len(array) != n:
            raise ValueError(f"{table.name}.{field.name}: {len(array)} values for {n} rows")
        if not field.nullable and array.null_count:
            raise ValueError(f"{table.name}.{field.name}: nulls in a non-null column")
    return pa.Table.from_arrays(arrays, schema=schema)
