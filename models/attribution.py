"""Multi-touch attribution of orders to campaigns and channels, and ROI per channel.

A touchpoint is a moment a campaign reached a customer (an exposure's send, or its click). An
order is credited to the campaigns that touched its customer within `lookback` before it (a
touch at the very moment of the order counts; a later one does not). A campaign touching one
order several times (sent, then clicked) is one touchpoint of that order: its time is its
latest touch before the order, except that first-touch ranks campaigns by their earliest.

Each attributed order hands out exactly one conversion and its whole revenue:
- first_touch: all to the campaign that touched first;
- last_touch: all to the one that touched last;
- linear: equal shares;
- time_decay: shares ∝ 2^(−age / half_life), age = order time − touch time.
Ties (two campaigns touching at the same instant) go to the lower campaign id. Revenue shares
are rounded to cents, the rounding remainder going to the largest share, so an order's shares
add up to its amount to the cent. Orders with no touch in the lookback are unattributed.

ROI = (attributed revenue − cost) / cost, None without a cost. See `campaign_costs` for what
counts as cost. Pure: frames in, frames out; serving/analytics/attribution.py reads the DB.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODELS = ("first_touch", "last_touch", "linear", "time_decay")
TOUCH_COLUMNS = ("customer_id", "at", "campaign_id", "channel")
ORDER_COLUMNS = ("order_id", "customer_id", "at", "revenue")
CREDIT_COLUMNS = ("order_id", "campaign_id", "channel", "credit", "revenue")
DEFAULT_LOOKBACK = pd.Timedelta(days=30)
DEFAULT_HALF_LIFE = pd.Timedelta(days=7)
_CHUNK_ORDERS = 20_000


def _check(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lack columns: {', '.join(missing)}")
    out = frame[list(columns)].copy()
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out


def touchpoints(
    touches: pd.DataFrame, orders: pd.DataFrame, lookback: pd.Timedelta
) -> pd.DataFrame:
    """Per (order, campaign): channel, first and last touch time within the lookback."""
    touches = _check(touches, TOUCH_COLUMNS, "touches").dropna(subset=["at"])
    orders = _check(orders, ORDER_COLUMNS, "orders")
    parts = []
    for k in range(0, len(orders), _CHUNK_ORDERS):
        pairs = orders.iloc[k : k + _CHUNK_ORDERS].merge(
            touches, on="customer_id", suffixes=("_order", "_touch")
        )
        age = pairs["at_order"] - pairs["at_touch"]
        pairs = pairs[(age >= pd.Timedelta(0)) & (age <= lookback)]
        parts.append(
            pairs.groupby(["order_id", "campaign_id"], as_index=False).agg(
                channel=("channel", "first"),
                order_at=("at_order", "first"),
                revenue_order=("revenue", "first"),
                first=("at_touch", "min"),
                last=("at_touch", "max"),
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=[
                "order_id",
                "campaign_id",
                "channel",
                "order_at",
                "revenue_order",
                "first",
                "last",
            ]
        )
    return pd.concat(parts, ignore_index=True)


def attribute(
    touches: pd.DataFrame,
    orders: pd.DataFrame,
    model: str,
    lookback: pd.Timedelta = DEFAULT_LOOKBACK,
    half_life: pd.Timedelta = DEFAULT_HALF_LIFE,
) -> pd.DataFrame:
    """Credits: one row per (attributed order, credited campaign) with its share and revenue.

    touches : customer_id, at, campaign_id, channel (one row per send or click).
    orders : order_id, customer_id, at, revenue.
    """
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}; use one of: {', '.join(MODELS)}")
    if lookback <= pd.Timedelta(0):
        raise ValueError("lookback must be positive")
    if model == "time_decay" and half_life <= pd.Timedelta(0):
        raise ValueError("half_life must be positive")
    tp = touchpoints(touches, orders, lookback)
    if tp.empty:
        return empty_credits()
    tp = tp.sort_values(["order_id", "campaign_id"], kind="stable").reset_index(drop=True)
    if model in ("first_touch", "last_touch"):
        col, ascending = ("first", True) if model == "first_touch" else ("last", False)
        ranked = tp.sort_values(
            ["order_id", col, "campaign_id"], ascending=[True, ascending, True], kind="stable"
        )
        tp = ranked.drop_duplicates("order_id").reset_index(drop=True)
        tp["credit"] = 1.0
    elif model == "linear":
        tp["credit"] = 1.0 / tp.groupby("order_id")["campaign_id"].transform("size")
    else:
        age = (tp["order_at"] - tp["last"]) / half_life
        weight = np.power(0.5, age.to_numpy(float))
        tp["credit"] = weight / tp.assign(w=weight).groupby("order_id")["w"].transform("sum")
    tp["revenue"] = _split_cents(tp)
    return tp[list(CREDIT_COLUMNS)].reset_index(drop=True)


def empty_credits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": pd.Series(dtype="int64"),
            "campaign_id": pd.Series(dtype="int64"),
            "channel": pd.Series(dtype="object"),
            "credit": pd.Series(dtype="float64"),
            "revenue": pd.Series(dtype="float64"),
        }
    )


def _split_cents(tp: pd.DataFrame) -> np.ndarray:
    """credit × order revenue in cents; each order's remainder goes to its largest share."""
    order = tp["order_id"].to_numpy()
    cents = np.round(tp["revenue_order"].to_numpy(float) * 100)
    share = np.round(tp["credit"].to_numpy() * cents)
    owed = cents - pd.Series(share).groupby(order).transform("sum").to_numpy()
    ranked = tp.assign(pos=np.arange(len(tp))).sort_values(
        ["order_id", "credit", "campaign_id"], ascending=[True, False, True], kind="stable"
    )
    top = ranked.drop_duplicates("order_id")["pos"].to_numpy()
    share[top] += owed[top]
    return share / 100


def campaign_costs(
    campaigns: pd.DataFrame,
    redemptions: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    now: pd.Timestamp,
) -> pd.DataFrame:
    """Cost per campaign for the period [start, end).

    campaigns : campaign_id, channel, starts_at, ends_at, spend. A campaign's recorded spend is
        spread evenly over its window (to `now` while it has no end) and the period gets the
        overlapping share; a campaign without a start has no window to spread over and counts
        no spend (its redemptions still count).
    redemptions : campaign_id, at, offer_cost: each coupon redemption of the campaign in the
        period costs its offer's cost (what one redemption costs us, on top of media spend).
    Returns campaign_id, channel, spend_cost, offer_cost, cost.
    """
    c = campaigns.copy()
    s = pd.to_datetime(c["starts_at"], utc=True)
    e = pd.to_datetime(c["ends_at"], utc=True).fillna(now)
    length = (e - s).dt.total_seconds()
    overlap = (e.clip(upper=end) - s.clip(lower=start)).dt.total_seconds().clip(lower=0)
    share = np.where(length > 0, overlap / length.where(length > 0, 1.0), 0.0)
    share = np.where(s.isna(), 0.0, share)
    c["spend_cost"] = np.round(c["spend"].fillna(0.0).to_numpy(float) * share, 2)
    r = redemptions.copy()
    r["at"] = pd.to_datetime(r["at"], utc=True)
    r = r[(r["at"] >= start) & (r["at"] < end)]
    offer = r.groupby("campaign_id")["offer_cost"].sum()
    c["offer_cost"] = np.round(offer.reindex(c["campaign_id"]).fillna(0.0).to_numpy(), 2)
    c["cost"] = c["spend_cost"] + c["offer_cost"]
    c["campaign_id"] = c["campaign_id"].astype("int64")
    return c[["campaign_id", "channel", "spend_cost", "offer_cost", "cost"]]


@dataclass
class Attribution:
    """Per channel and per campaign: conversions, revenue, cost, roi; plus what nothing touched."""

    model: str
    by_channel: pd.DataFrame
    by_campaign: pd.DataFrame
    orders: int
    revenue: float
    unattributed_orders: int
    unattributed_revenue: float


def roi(revenue: float, cost: float) -> float | None:
    return (revenue - cost) / cost if cost > 0 else None


def summarize(
    credits: pd.DataFrame, orders: pd.DataFrame, costs: pd.DataFrame, model: str
) -> Attribution:
    """Credits and costs → totals per campaign and channel, with ROI."""
    got = credits.groupby(["campaign_id", "channel"], as_index=False).agg(
        conversions=("credit", "sum"), revenue=("revenue", "sum")
    )
    by_campaign = got.merge(costs, on=["campaign_id", "channel"], how="outer")
    amounts = ["conversions", "revenue", "spend_cost", "offer_cost", "cost"]
    by_campaign[amounts] = by_campaign[amounts].astype(float).fillna(0.0)
    by_campaign = by_campaign[(by_campaign["conversions"] > 0) | (by_campaign["cost"] > 0)]
    by_campaign = by_campaign.sort_values("campaign_id").reset_index(drop=True)
    by_channel = by_campaign.groupby("channel", as_index=False)[amounts].sum()
    for frame in (by_campaign, by_channel):
        frame["revenue"] = frame["revenue"].round(2)
        frame["cost"] = frame["cost"].round(2)
        values = [roi(r, c) for r, c in zip(frame["revenue"], frame["cost"], strict=True)]
        frame["roi"] = pd.Series(values, index=frame.index, dtype=object)  # None stays None
    attributed = set(credits["order_id"].tolist())
    un = orders[~orders["order_id"].isin(attributed)]
    return Attribution(
        model,
        by_channel,
        by_campaign,
        int(len(orders)),
        float(round(orders["revenue"].sum(), 2)),
        int(len(un)),
        float(round(un["revenue"].sum(), 2)),
    )
