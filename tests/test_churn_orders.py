"""Churn from an order history alone (training/churn_orders.py): labels by hand, no snapshot
without its whole horizon, no leakage from later orders, and a model at least as good as the
recency rule on a synthetic history with a known hazard.
"""

import numpy as np
import pandas as pd
import pytest

from models.scoring import ScoreModel
from training.churn_orders import (
    ChurnResult,
    churn_dataset,
    churn_features,
    fit_churn_from_orders,
)

START = pd.Timestamp("2023-01-01")


def simulate_orders(n_customers: int = 3000, days: int = 730, seed: int = 0) -> pd.DataFrame:
    """BG/NBD-style history: customers join over the first 80% of the period with a first
    order, then order at a Poisson rate of their own (gamma across customers, one order a month
    on average) and, after each order, leave for good with a probability of their own (beta
    across customers). Amounts: a lognormal level per customer times noise."""
    rng = np.random.default_rng(seed)
    now = rng.uniform(0, days * 0.8, n_customers)
    rate = rng.gamma(2.0, 1 / 60, n_customers)
    leave = rng.beta(1.0, 6.0, n_customers)
    level = rng.lognormal(4.0, 0.5, n_customers)
    who, when = [np.arange(n_customers)], [now.copy()]
    alive = rng.random(n_customers) >= leave
    while alive.any():
        i = np.flatnonzero(alive)
        now[i] += rng.exponential(1 / rate[i])
        inside = now[i] < days
        alive[i[~inside]] = False
        i = i[inside]
        who.append(i)
        when.append(now[i].copy())
        alive[i[rng.random(len(i)) < leave[i]]] = False
    who, when = np.concatenate(who), np.concatenate(when)
    return pd.DataFrame(
        {
            "customer_id": [f"c{c:05d}" for c in who],
            "date": START + pd.to_timedelta(np.floor(when), unit="D"),
            "amount": np.round(level[who] * rng.lognormal(0.0, 0.3, len(who)), 2),
        }
    ).sort_values("date", kind="stable", ignore_index=True)


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return simulate_orders()


@pytest.fixture(scope="module")
def dataset(orders) -> pd.DataFrame:
    return churn_dataset(orders)


# -- a tiny history, by hand ------------------------------------------------------------------

TINY = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a", "b", "c", "d"],
        "date": [
            "2024-01-01",
            "2024-01-20",
            "2024-03-01",
            "2024-01-05",
            "2024-02-10",
            "2024-04-30",
        ],
        "amount": [10.0, 30.0, 20.0, 5.0, 7.0, 1.0],
    }
)


def test_tiny_history_by_hand():
    ds = churn_dataset(TINY, horizon_days=30, snapshot_every_days=10)
    # every 10 days from 10 days after the first order, while as_of + 30 <= the last order
    assert ds["as_of"].drop_duplicates().dt.strftime("%m-%d").tolist() == [
        "01-11",
        "01-21",
        "01-31",
        "02-10",
        "02-20",
        "03-01",
        "03-11",
        "03-21",
        "03-31",
    ]
    label = ds.set_index(["customer_id", ds["as_of"].dt.strftime("%m-%d")])["churned"]
    assert label[("a", "01-11")] == 0  # orders on 01-20, inside (01-11, 02-10]
    assert label[("a", "01-21")] == 1  # next order 03-01, after 02-20
    assert label[("a", "01-31")] == 0  # 03-01 is inside (01-31, 03-01]: the end is included
    assert label[("a", "03-01")] == 1  # the order on as_of is history, not future
    assert label[("b", "01-11")] == 1
    assert label[("c", "02-10")] == 1  # c's first order is on as_of: c is in, and churns
    assert ("c", "01-31") not in label.index  # no order yet: not a customer yet
    assert "d" not in set(ds["customer_id"])  # first order after the last as_of

    a = ds[(ds["customer_id"] == "a") & (ds["as_of"] == "2024-01-31")].iloc[0]
    expected = {
        "orders_30d": 1,  # 01-20; 01-01 is exactly 30 days back, outside (as_of - 30, as_of]
        "orders_90d": 2,
        "orders_total": 2,
        "revenue_30d": 30.0,
        "revenue_total": 40.0,
        "avg_order_value": 20.0,
        "days_since_first_order": 30,
        "days_since_last_order": 11,
        "gap_mean_days": 19,
        "gap_std_days": 0,
        "last_gap_days": 19,
        "overdue_ratio": 11 / 19,
    }
    assert a[list(expected)].astype(float).to_dict() == pytest.approx(expected)
    b = ds[(ds["customer_id"] == "b") & (ds["as_of"] == "2024-01-31")].iloc[0]
    assert b[["gap_mean_days", "last_gap_days", "overdue_ratio"]].isna().all()  # one order


def test_columns_and_names_of_your_own():
    renamed = TINY.rename(columns={"customer_id": "account", "date": "ts", "amount": "eur"})
    ds = churn_dataset(
        renamed,
        horizon_days=30,
        snapshot_every_days=10,
        customer="account",
        when="ts",
        amount="eur",
    )
    assert list(ds.columns) == ["account", "as_of", *churn_features(), "churned"]
    no_amounts = churn_dataset(TINY.drop(columns="amount"), horizon_days=30, amount=None)
    assert "revenue_total" not in no_amounts.columns
    with pytest.raises(ValueError, match=r"missing columns \['amount'\]"):
        churn_dataset(TINY.drop(columns="amount"), horizon_days=30)
    with pytest.raises(ValueError, match="too short"):
        churn_dataset(TINY, horizon_days=365)


def test_reads_the_csv_the_cli_reads(tmp_path, orders, dataset):
    path = tmp_path / "orders.csv"
    orders.to_csv(path, index=False)
    from_csv = churn_dataset(pd.read_csv(path))
    pd.testing.assert_frame_equal(from_csv, dataset)


# -- on the synthetic history -----------------------------------------------------------------


def test_every_as_of_has_its_whole_horizon(orders, dataset):
    last_order = orders["date"].max()
    as_of = dataset["as_of"].drop_duplicates()
    assert (as_of + pd.Timedelta(days=90) <= last_order).all()
    assert as_of.max() + pd.Timedelta(days=90 + 14) > last_order  # and no snapshot is wasted
    assert (as_of.diff().dropna() == pd.Timedelta(days=14)).all()
    # one row per customer and date, for customers who had ordered by then
    assert not dataset.duplicated(["customer_id", "as_of"]).any()
    first = orders.groupby("customer_id")["date"].min()
    assert (first.reindex(dataset["customer_id"]).to_numpy() <= dataset["as_of"].to_numpy()).all()


def test_features_ignore_later_orders(orders, dataset):
    """Append orders after a cut-off (for known and new customers, and past the end of the
    data): features up to the cut-off do not move, only labels that look past it may."""
    rng = np.random.default_rng(1)
    cut = dataset["as_of"].drop_duplicates().iloc[20]
    known = rng.choice(orders["customer_id"].unique(), 500)
    later = pd.DataFrame(
        {
            "customer_id": [*known, *(f"new{i}" for i in range(100))],
            "date": cut + pd.to_timedelta(rng.integers(0, 400, 600), unit="D"),
            "amount": rng.uniform(1, 500, 600).round(2),
        }
    )
    later["date"] += pd.Timedelta(seconds=1)  # strictly after the cut-off, even on its day
    grown = churn_dataset(pd.concat([orders, later], ignore_index=True))

    key = ["customer_id", "as_of"]
    before = dataset[dataset["as_of"] <= cut].set_index(key)
    after = grown[grown["as_of"] <= cut].set_index(key)
    assert before.index.equals(after.index)
    features = churn_features()
    pd.testing.assert_frame_equal(after[features], before[features])
    assert (after["churned"] != before["churned"]).any()  # the appended orders did land


@pytest.fixture(scope="module")
def result(orders, tmp_path_factory) -> ChurnResult:
    """Fitted on the orders as `lodestar train churn --orders orders.csv` reads them."""
    path = tmp_path_factory.mktemp("churn") / "orders.csv"
    orders.to_csv(path, index=False)
    fast = ScoreModel(n_estimators=300, learning_rate=0.1, random_state=0, n_jobs=1)
    return fit_churn_from_orders(pd.read_csv(path), model=fast)


def test_model_beats_the_recency_rule(result):
    auc = {who: m["roc_auc"] for who, m in result.metrics.items()}
    assert auc["model"] >= auc["recency"] - 0.01, auc
    assert auc["model"] > 0.8 and auc["bg_nbd"] > 0.8, auc
    # the model is calibrated on a later period; the recency rule only ranks
    assert result.metrics["model"]["brier"] < result.metrics["recency"]["brier"]


def test_result_holdout_and_split(result, dataset):
    ho = result.holdout
    assert list(ho.columns) == ["customer_id", "as_of", "y", "p_model", "p_recency", "p_bgnbd"]
    for col in ("p_model", "p_recency", "p_bgnbd"):
        assert ho[col].between(0, 1).all(), col
    dates = np.sort(dataset["as_of"].unique())
    assert ho["as_of"].min() == dates[-round(0.25 * len(dates))]  # the last quarter of dates
    assert len(ho) == result.rows["holdout"] == (dataset["as_of"] >= ho["as_of"].min()).sum()
    # training labels end before the holdout starts: train and valid stop a horizon earlier
    trained = result.rows["train"] + result.rows["valid"]
    stop = ho["as_of"].min() - pd.Timedelta(days=90)
    assert trained == (dataset["as_of"] <= stop).sum()
    text = str(result)
    assert all(who in text for who in ("model", "recency", "bg_nbd", "roc_auc"))
    assert result.model.grades(dataset.tail(5)[result.features]).shape == (5,)
