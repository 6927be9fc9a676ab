"""Who is labelled, when, and with what: the entity frames each model trains on.

A label's time is the moment a prediction would have been made (a lead's arrival, a weekly
as-of date); the label looks only forward from it, and only rows whose whole horizon lies inside
the data are kept. The simulator's oracle probability is joined when ground truth exists.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from serving.core.db import read_sql_frame

HORIZONS = {"lead_scoring": 30, "conversion": 14, "churn": 90}


@dataclass(frozen=True)
class Labelled:
    entity: str  # "lead" or "customer"
    # keys, event_timestamp, label, and the simulator's oracle and knowable-oracle probabilities
    # (NaN without ground truth)
    frame: pd.DataFrame


def lead_labels(engine: Engine, data_end: datetime, truth_dir: Path | None) -> Labelled:
    horizon = timedelta(days=HORIZONS["lead_scoring"])
    leads = read_sql_frame(
        engine, "SELECT id AS lead_id, customer_id, created_at, status, closed_at FROM leads"
    )
    leads = leads[leads["created_at"] <= pd.Timestamp(data_end - horizon)]
    converted = (leads["status"] == "converted") & (
        leads["closed_at"] <= leads["created_at"] + horizon
    )
    frame = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].astype("int64"),
            "customer_id": leads["customer_id"].astype("int64"),
            "event_timestamp": leads["created_at"],
            "label": converted.astype(int),
        }
    )
    truth = truth_dir / "leads.parquet" if truth_dir else None
    if truth and truth.exists():
        cols = {"p_convert_30d": "oracle", "p_convert_30d_knowable": "oracle_knowable"}
        oracle = pd.read_parquet(truth, columns=["lead_id", *cols])
        frame = frame.merge(oracle.rename(columns=cols), on="lead_id", how="left")
    else:
        frame["oracle"] = frame["oracle_knowable"] = np.nan
    return Labelled("lead", frame.reset_index(drop=True))


def as_of_dates(start: datetime, end: datetime, truth_dir: Path | None) -> list[pd.Timestamp]:
    """Weekly dates in [start, end]: the simulator's snapshot dates when it wrote them."""
    snapshots = truth_dir / "customer_snapshots.parquet" if truth_dir else None
    if snapshots and snapshots.exists():
        dates = pd.read_parquet(snapshots, columns=["as_of"])["as_of"].unique()
        dates = pd.to_datetime(pd.Series(dates), utc=True)
    else:
        dates = pd.Series(pd.date_range(pd.Timestamp(start).ceil("D"), end, freq="7D", tz="UTC"))
    return sorted(d for d in dates if pd.Timestamp(start) <= d <= pd.Timestamp(end))


def _orders(engine: Engine) -> pd.DataFrame:
    return read_sql_frame(engine, "SELECT customer_id, ordered_at FROM orders")


def _oracle(frame: pd.DataFrame, truth_dir: Path | None, column: str) -> pd.DataFrame:
    snapshots = truth_dir / "customer_snapshots.parquet" if truth_dir else None
    if snapshots and snapshots.exists():
        cols = {
            "as_of": "event_timestamp",
            column: "oracle",
            f"{column}_knowable": "oracle_knowable",
        }
        truth = pd.read_parquet(snapshots, columns=["customer_id", *cols])
        truth["as_of"] = pd.to_datetime(truth["as_of"], utc=True)
        frame = frame.merge(
            truth.rename(columns=cols), on=["customer_id", "event_timestamp"], how="left"
        )
    else:
        frame["oracle"] = frame["oracle_knowable"] = np.nan
    return frame


def _ordered_within(orders: pd.DataFrame, frame: pd.DataFrame, days: int) -> np.ndarray:
    """For each (customer, t): any order in (t, t + days]?"""
    o = orders.sort_values("ordered_at")
    by_customer = {
        c: g["ordered_at"].dt.tz_convert(None).to_numpy() for c, g in o.groupby("customer_id")
    }
    out = np.zeros(len(frame), dtype=int)
    horizon = np.timedelta64(days, "D")
    for k, (c, t) in enumerate(zip(frame["customer_id"], frame["event_timestamp"], strict=True)):
        times = by_customer.get(c)
        if times is None:
            continue
        t64 = t.tz_convert(None).to_datetime64()
        i = np.searchsorted(times, t64, side="right")
        out[k] = int(i < len(times) and times[i] <= t64 + horizon)
    return out


def customer_labels(
    engine: Engine,
    model: str,
    data_start: datetime,
    data_end: datetime,
    truth_dir: Path | None,
    *,
    max_rows: int = 150_000,
    seed: int = 0,
) -> Labelled:
    """conversion: any order in the next 14 days. churn: an active customer (an order in the
    past year) with no order in the next 90 days."""
    days = HORIZONS[model]
    warmup = timedelta(days=28 if model == "conversion" else 56)
    dates = as_of_dates(data_start + warmup, data_end - timedelta(days=days), truth_dir)
    if not dates:
        raise ValueError(
            f"the data ({data_start:%Y-%m-%d}..{data_end:%Y-%m-%d}) is too short "
            f"for a {days}-day {model} label"
        )
    customers = read_sql_frame(engine, "SELECT id AS customer_id, created_at FROM customers")
    orders = _orders(engine)
    rows = []
    for d in dates:
        ids = customers.loc[customers["created_at"] <= d, "customer_id"]
        if model == "churn":
            past = orders[
                (orders["ordered_at"] <= d) & (orders["ordered_at"] > d - pd.Timedelta(days=365))
            ]
            ids = ids[ids.isin(past["customer_id"].unique())]
        rows.append(
            pd.DataFrame({"customer_id": ids.astype("int64").to_numpy(), "event_timestamp": d})
        )
    frame = pd.concat(rows, ignore_index=True)
    if len(frame) > max_rows:  # a sample keeps training time bounded at any scale
        frame = (
            frame.sample(max_rows, random_state=seed)
            .sort_values(["event_timestamp", "customer_id"])
            .reset_index(drop=True)
        )
    ordered = _ordered_within(orders, frame, days)
    frame["label"] = ordered if model == "conversion" else 1 - ordered
    frame = _oracle(frame, truth_dir, "p_order_14d" if model == "conversion" else "p_churn_90d")
    return Labelled("customer", frame)
