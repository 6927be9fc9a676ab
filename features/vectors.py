"""One shape for feature vectors, offline and online: the requested columns, in the requested
order, with dtypes fixed by the catalog, so a model sees the same thing in training and serving.

Numbers (and flags) are float64 with NaN for "no row"; text is object with None; timestamps are
datetime64[us, UTC]; arrays are Python lists (None when absent).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import TABLES

ON_DEMAND_VIEWS = frozenset({"customer_recency", "lead_age"})
_KINDS = {f"{t.name}:{c.name}": c.kind for t in TABLES.values() for c in t.columns}


def kind_of(ref: str) -> str:
    view = ref.split(":", 1)[0]
    if view in ON_DEMAND_VIEWS:
        return "float"
    try:
        return _KINDS[ref]
    except KeyError:
        raise KeyError(
            f"unknown feature {ref!r}; names are 'view:feature' from the catalog"
        ) from None


def column_of(ref: str) -> str:
    return ref.split(":", 1)[1]


def _column(values: Any, kind: str) -> Any:
    """One column in the catalog's dtype, from a Series or a list (None for missing)."""
    if kind in ("int", "float", "bool"):
        if isinstance(values, pd.Series):
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "ts":
        return pd.to_datetime(pd.Series(values), utc=True).astype("datetime64[us, UTC]").array
    out = np.empty(len(values), dtype=object)
    if kind in ("ints", "strs"):
        out[:] = [list(v) if isinstance(v, list | tuple | np.ndarray) else None for v in values]
    else:
        out[:] = [
            None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values
        ]
    return out


def conform(
    data: pd.DataFrame | Mapping[str, Sequence[Any]],
    refs: Sequence[str],
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """The feature columns for `refs`, in order, with the catalog's dtypes.

    `data` is a frame (training) or a mapping of column → list (the online reader): building
    the frame once from typed arrays keeps a one-entity read in the sub-millisecond range.
    """
    if index is None:
        index = (
            data.index
            if isinstance(data, pd.DataFrame)
            else pd.RangeIndex(len(next(iter(data.values()), [])))
        )
    n = len(index)
    columns = {}
    for ref in refs:
        col = column_of(ref)
        values = data[col] if col in data else [None] * n
        columns[col] = _column(values, kind_of(ref))
    return pd.DataFrame(columns, index=index)
