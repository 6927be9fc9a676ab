"""Churn from an order history alone: (customer, date, amount) → training set → ScoreModel,
judged against the two rules people use without a model (days since the last order, BG/NBD).

For a data scientist with a CSV of orders and no feature store; `lodestar train churn --orders`
runs the same function. Pure pandas/numpy: no I/O, no MLflow.

Snapshots: every `snapshot_every_days` from the first order day, each customer with an order
on or before the snapshot (`as_of`) gets one row. Features use orders at or before `as_of`
only; the label `churned` is "no order in (as_of, as_of + horizon]", so only snapshots whose
whole horizon lies inside the data (up to the last order) are kept. Snapshot dates are counted
from the start of the data, so they do not move when later orders are appended.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from models.bgnbd import BGNBD, rfm_summary
from models.scoring import ScoreModel
from training.evaluate import classification_metrics

WINDOWS = (30, 90, 365)
LABEL = "churned"
DAY = pd.Timedelta(days=1)


def churn_features(amount: bool = True) -> list[str]:
    """The feature columns of `churn_dataset`, in order (revenue ones only with amounts)."""
    cols = [f"orders_{w}d" for w in WINDOWS]
    if amount:
        cols += [f"revenue_{w}d" for w in WINDOWS]
    cols += ["orders_total"]
    if amount:
        cols += ["revenue_total", "avg_order_value"]
    cols += [
        "days_since_first_order",
        "days_since_last_order",
        "gap_mean_days",
        "gap_std_days",
        "last_gap_days",
        "overdue_ratio",
    ]
    return cols


def _clean_orders(
    orders: pd.DataFrame, customer: str, when: str, amount: str | None
) -> pd.DataFrame:
    """customer, t (naive UTC timestamps), amount; sorted by customer then time."""
    wanted = [customer, when] + ([amount] if amount else [])
    missing = [c for c in wanted if c not in orders.columns]
    if missing:
        raise ValueError(
            f"orders is missing columns {missing}; it has {list(orders.columns)[:20]} "
            "(pass customer=, when=, amount= to name yours, or amount=None)"
        )
    t = pd.to_datetime(orders[when])
    if t.dt.tz is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    out = pd.DataFrame({"customer": orders[customer].to_numpy(), "t": t.to_numpy()})
    if amount:
        out["amount"] = pd.to_numeric(orders[amount]).to_numpy(dtype=float)
    bad = out["customer"].isna() | out["t"].isna()
    if bad.any():
        raise ValueError(f"{int(bad.sum())} orders have no {customer} or no {when}")
    if out.empty:
        raise ValueError("no orders")
    return out.sort_values(["customer", "t"], kind="stable").reset_index(drop=True)


def snapshot_dates(
    first: pd.Timestamp, last: pd.Timestamp, horizon_days: int, every_days: int
) -> pd.DatetimeIndex:
    """Midnights `every_days` apart from the day after the first order, up to the last one whose
    horizon ends by the last order."""
    start = first.normalize() + pd.Timedelta(days=every_days)
    end = last - pd.Timedelta(days=horizon_days)
    if end < start:
        return pd.DatetimeIndex([])
    return pd.date_range(start, end, freq=f"{every_days}D")


def _snapshot(o: pd.DataFrame, gap: np.ndarray, as_of: pd.Timestamp, amount: bool) -> pd.DataFrame:
    """Features at `as_of` from orders at or before it (`o` sorted by customer, time)."""
    past = (o["t"] <= as_of).to_numpy()
    p = o[past]
    g = p.groupby("customer", sort=True)
    first, last, n = g["t"].min(), g["t"].max(), g.size().astype(float)
    f = pd.DataFrame(index=first.index)
    age = (as_of - p["t"]) / DAY  # days before as_of, >= 0
    for w in WINDOWS:
        inside = (age < w).to_numpy()
        f[f"orders_{w}d"] = p[inside].groupby("customer").size().reindex(f.index, fill_value=0)
        if amount:
            f[f"revenue_{w}d"] = (
                p[inside].groupby("customer")["amount"].sum().reindex(f.index, fill_value=0.0)
            )
    f["orders_total"] = n
    if amount:
        f["revenue_total"] = g["amount"].sum()
        f["avg_order_value"] = f["revenue_total"] / n
    f["days_since_first_order"] = (as_of - first) / DAY
    f["days_since_last_order"] = (as_of - last) / DAY
    repeat = n > 1
    # gap to the previous order of the same customer: depends on earlier orders only
    gaps = pd.Series(gap[past], index=p["customer"].to_numpy())
    f["gap_mean_days"] = ((last - first) / DAY / (n - 1)).where(repeat)
    f["gap_std_days"] = gaps.groupby(level=0).std(ddof=0).reindex(f.index).where(repeat)
    f["last_gap_days"] = gaps.groupby(level=0).last().reindex(f.index).where(repeat)
    f["overdue_ratio"] = f["days_since_last_order"] / f["gap_mean_days"].where(
        f["gap_mean_days"] > 0
    )
    return f.astype(float)


def churn_dataset(
    orders: pd.DataFrame,
    *,
    horizon_days: int = 90,
    snapshot_every_days: int = 14,
    customer: str = "customer_id",
    when: str = "date",
    amount: str | None = "amount",
    active_within_days: int | None = None,
) -> pd.DataFrame:
    """One row per (customer, as_of) for customers with an order on or before `as_of`: RFM
    over 30/90/365 days and lifetime (orders, revenue, days since first/last order, average
    order value, gaps between orders), and `churned` = no order in (as_of, as_of + horizon].

    `amount=None` when the history has no amounts: the revenue features are left out.
    `active_within_days`: keep only customers whose last order is at most that many days
    before `as_of` (by default everyone who ever ordered, long-lapsed ones included, which
    makes churn easy to call for them and flatters every metric).
    """
    if horizon_days < 1 or snapshot_every_days < 1:
        raise ValueError("horizon_days and snapshot_every_days must be at least 1")
    o = _clean_orders(orders, customer, when, amount)
    t = o["t"].to_numpy()
    same = o["customer"].to_numpy()[1:] == o["customer"].to_numpy()[:-1]
    gap = np.full(len(o), np.nan)
    gap[1:] = np.where(same, (t[1:] - t[:-1]) / np.timedelta64(1, "D"), np.nan)
    cols = churn_features(amount is not None)
    frames = []
    horizon = pd.Timedelta(days=horizon_days)
    for as_of in snapshot_dates(o["t"].min(), o["t"].max(), horizon_days, snapshot_every_days):
        f = _snapshot(o, gap, as_of, amount is not None)
        if active_within_days is not None:
            f = f[f["days_since_last_order"] <= active_within_days]
        ahead = o[(o["t"] > as_of) & (o["t"] <= as_of + horizon)]["customer"].unique()
        f[LABEL] = (~f.index.isin(ahead)).astype(int)
        f.insert(0, "as_of", as_of)
        frames.append(f)
    if not frames:
        raise ValueError(
            f"the orders span {o['t'].min():%Y-%m-%d} .. {o['t'].max():%Y-%m-%d}: too short for "
            f"one snapshot plus a {horizon_days}-day horizon"
        )
    out = pd.concat(frames).rename_axis(customer).reset_index()
    return out[[customer, "as_of", *cols, LABEL]]


@dataclass
class ChurnResult:
    """The fitted model, holdout metrics for it and the two rules, and the holdout itself."""

    model: ScoreModel
    metrics: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    features: list[str]
    horizon_days: int
    rows: dict[str, int] = field(default_factory=dict)
    bgnbd: BGNBD | None = None

    def __str__(self) -> str:
        keys = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
        dates = self.holdout["as_of"]
        lines = [
            f"churn in {self.horizon_days} days: rows train/valid/holdout "
            f"{self.rows.get('train', 0):,}/{self.rows.get('valid', 0):,}/"
            f"{self.rows.get('holdout', 0):,}, holdout as_of {dates.min():%Y-%m-%d} .. "
            f"{dates.max():%Y-%m-%d}, churn rate {self.holdout['y'].mean():.1%}",
            f"  {'holdout':10}" + "".join(f"{k:>16}" for k in keys),
        ]
        for who, m in self.metrics.items():
            lines.append(f"  {who:10}" + "".join(f"{m.get(k, float('nan')):>16.4f}" for k in keys))
        return "\n".join(lines)


def _time_masks(
    as_of: pd.Series, holdout_fraction: float, horizon_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """train, valid, holdout by as_of. Training labels look `horizon_days` ahead, so training
    snapshots stop a horizon before the holdout starts (else they would know its outcomes)."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    dates = np.sort(as_of.unique())
    n_hold = max(1, int(round(holdout_fraction * len(dates))))
    hold_start = dates[-n_hold]
    fit_dates = dates[dates <= hold_start - np.timedelta64(horizon_days, "D")]
    if len(fit_dates) < 2:
        raise ValueError(
            f"{len(dates)} snapshot dates leave too few for training before a holdout of "
            f"{n_hold} and a {horizon_days}-day gap: use a longer history, a shorter horizon, "
            "more frequent snapshots or a smaller holdout_fraction"
        )
    # the last fifth of the training dates: early stopping and calibration on a later period
    valid_start = fit_dates[-max(1, int(round(0.2 * len(fit_dates))))]
    a = as_of.to_numpy()
    train = a < valid_start
    valid = (a >= valid_start) & (a <= fit_dates[-1])
    return train, valid, a >= hold_start


def fit_churn_from_orders(
    orders: pd.DataFrame,
    *,
    horizon_days: int = 90,
    snapshot_every_days: int = 14,
    customer: str = "customer_id",
    when: str = "date",
    amount: str | None = "amount",
    active_within_days: int | None = None,
    holdout_fraction: float = 0.25,
    random_state: int = 0,
    model: ScoreModel | None = None,
) -> ChurnResult:
    """Build `churn_dataset`, fit a ScoreModel on the earlier snapshots and evaluate it on the
    last `holdout_fraction` of snapshot dates, beside the recency rule (days since the last
    order, mapped to a probability by a logistic fit on the training rows: ranking unchanged)
    and BG/NBD P(no order in the horizon) with parameters fitted on the training period.

    `orders` is e.g. `pd.read_csv("orders.csv")` with columns customer_id, date, amount.
    `model`: an unfitted ScoreModel to use instead of the default one (cloned).
    """
    ds = churn_dataset(
        orders,
        horizon_days=horizon_days,
        snapshot_every_days=snapshot_every_days,
        customer=customer,
        when=when,
        amount=amount,
        active_within_days=active_within_days,
    )
    cols = churn_features(amount is not None)
    tr, va, ho = _time_masks(ds["as_of"], holdout_fraction, horizon_days)
    X, y = ds[cols], ds[LABEL].to_numpy()
    for part, mask in (("training", tr | va), ("holdout", ho)):
        if len(np.unique(y[mask])) < 2:
            raise ValueError(f"the {part} snapshots have only one outcome: nothing to learn")
    est = clone(model) if model is not None else ScoreModel(random_state=random_state)
    est.fit(X[tr], y[tr], eval_set=(X[va], y[va]))
    est.set_grade_thresholds(X[ho])
    p_model = est.predict_proba(X[ho])[:, 1]

    recency = LogisticRegression().fit(_log_days(ds.loc[tr | va]), y[tr | va])
    p_recency = recency.predict_proba(_log_days(ds.loc[ho]))[:, 1]

    fitted_until = ds.loc[tr | va, "as_of"].max()
    bg = BGNBD(penalizer=0.001).fit(rfm_summary(orders, fitted_until, customer=customer, when=when))
    p_bgnbd = np.empty(int(ho.sum()))
    hold = ds.loc[ho, [customer, "as_of"]].reset_index(drop=True)
    for as_of, idx in hold.groupby("as_of").groups.items():
        rfm = rfm_summary(orders, as_of, customer=customer, when=when)
        p = pd.Series(bg.p_no_order(rfm, horizon_days), index=rfm.index)
        p_bgnbd[np.asarray(idx)] = p.reindex(hold.loc[idx, customer]).to_numpy()

    holdout = hold.assign(y=y[ho], p_model=p_model, p_recency=p_recency, p_bgnbd=p_bgnbd)
    metrics = {
        "model": classification_metrics(holdout["y"], p_model),
        "recency": classification_metrics(holdout["y"], p_recency),
        "bg_nbd": classification_metrics(holdout["y"], p_bgnbd),
    }
    return ChurnResult(
        model=est,
        metrics=metrics,
        holdout=holdout,
        features=cols,
        horizon_days=horizon_days,
        rows={"train": int(tr.sum()), "valid": int(va.sum()), "holdout": int(ho.sum())},
        bgnbd=bg,
    )


def _log_days(ds: pd.DataFrame) -> np.ndarray:
    return np.log1p(ds[["days_since_last_order"]].to_numpy(dtype=float))
