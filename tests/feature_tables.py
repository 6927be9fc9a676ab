"""Write small hand-made feature tables in the catalog's layout, for feature-store tests."""

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalog import TABLES

DEFAULTS: dict[str, Any] = {
    "int": 0,
    "float": 0.0,
    "str": None,
    "bool": False,
    "ts": pd.NaT,
    "ints": None,
    "strs": None,
}


def frame(table: str, rows: list[dict[str, Any]], created: datetime) -> pd.DataFrame:
    """Rows with every catalog column (missing ones at their default), right dtypes."""
    t = TABLES[table]
    keys = [t.key] + (["customer_id"] if table == "lead_activity" else [])
    out = pd.DataFrame(
        [
            {
                **{k: r[k] for k in keys},
                "event_timestamp": r["event_timestamp"],
                **{
                    c.name: r.get(c.name, DEFAULTS[c.kind]) for c in t.columns if c.name not in keys
                },
            }
            for r in rows
        ]
    )
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    out["created"] = pd.Timestamp(created).tz_convert("UTC")
    out["created"] = out["created"].astype("datetime64[us, UTC]")
    for c in t.columns:
        if c.kind == "ts":
            out[c.name] = (pd.to_datetime(out[c.name], utc=True).dt.floor("s")
                           .astype("datetime64[us, UTC]"))
        elif c.kind == "int":
            out[c.name] = out[c.name].astype("int64")
        elif c.kind == "ints":
            out[c.name] = [list(v) if v is not None else [0] * 168 for v in out[c.name]]
        elif c.kind == "strs":
            out[c.name] = [list(v) if v is not None else [] for v in out[c.name]]
    return out


def write(
    features_dir: Path,
    table: str,
    rows: list[dict[str, Any]],
    created: datetime,
    name: str = "rows",
) -> Path:
    d = features_dir / table
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.parquet"
    frame(table, rows, created).to_parquet(path, index=False)
    return path
