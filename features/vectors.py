"""One shape for feature vectors, offline and online: the requested columns, in the requested
order, with dtypes fixed by the catalog, so a model sees the same thing in training and serving.

Numbers (and flags) are float64 with NaN for "no row"; text is object with None; timestamps are
datetime64[us, UTC]; arrays are Python lists (None when absent).
"""

from collections.abc import Sequence

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


def conform(df: pd.DataFrame, refs: Sequence[str]) -> pd.DataFrame:
    """The feature columns of `df` for `refs`, in order, with the catalog's dtypes."""
    out = pd.DataFrame(index=df.index)
    for ref in refs:
        col, kind = column_of(ref), kind_of(ref)
        values = df[col] if col in df.columns else pd.Series(None, index=df.index, dtype=object)
        if kind in ("int", "float", "bool"):
            out[col] = pd.to_numeric(
                values.astype(object).where(values.notna(), np.nan), errors="coerce"
            ).astype("float64")
        elif kind == "ts":
            out[col] = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
        elif kind in ("ints", "strs"):
            out[col] = [
                list(v) if isinstance(v, list | tuple | np.ndarray) else None for v in values
            ]
        else:
            out[col] = values.astype(object).where(values.notna(), None)
    return out
