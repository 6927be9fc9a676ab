"""Campaign forecasts (models/forecast.py): the grid, the GLM, intervals against a known
process, the seasonal-naive baseline, metrics, measured effects and the budget alert."""

import math

import numpy as np
import pandas as pd
import pytest

from models import forecast as F

T0 = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday


def _campaign(cid: int, start: pd.Timestamp, days: float, offer: bool, audience: float, **kw):
    row = {
        "campaign_id": cid,
        "channel": "email",
        "starts_at": start,
        "ends_at": start + pd.Timedelta(days=days),
        "audience": audience,
        "holdout_fraction": 0.1 if offer else 0.0,
        "offered_share": 0.5 if offer else 0.0,
        "offer_value": 10.0 if offer else 0.0,
        "offer_cost": 6.0 if offer else 0.0,
        "discount_percent": 10.0 if offer else 0.0,
        "discount_fixed": 0.0,
        "budget": 5000.0 if offer else np.nan,
        "share_consumer": 0.6,
        "share_smb": 0.4,
    }
    return {**row, **kw}


def synthetic_history(n: int = 40, seed: int = 0, sigma: float = 0.1):
    """Weekly newsletters and a promotion every fourth week from a known log-linear process:
    business customers (smb) convert three times as often, so the audience mix matters."""
    rng = np.random.default_rng(seed)
    rows, days = [], []
    cid = 0
    for week in range(n):
        start = T0 + pd.Timedelta(weeks=week)
        kinds = [(False, 7.0)] + ([(True, 14.0)] if week % 4 == 0 else [])
        for offer, length in kinds:
            cid += 1
            audience = float(rng.integers(3000, 6000))
            smb = float(rng.uniform(0.1, 0.7))
            rows.append(
                _campaign(
                    cid, start, length, offer, audience, share_smb=smb, share_consumer=1 - smb
                )
            )
            level = math.exp(rng.normal(-(sigma**2) / 2, sigma)) * (1 + 2 * smb) / 1.8
            for d in range(int(length)):
                rate = (0.03 * math.exp(-0.15 * d)) if offer else 0.004 * (1 + d / 7)
                weekend = (start + pd.Timedelta(days=d)).dayofweek >= 5
                mu = audience * rate * level * (1.3 if weekend else 1.0)
                y = rng.poisson(mu)
                rev = float(rng.gamma(np.maximum(y, 1) * 4, 25.0)) if y else 0.0
                days.append({"campaign_id": cid, "day": d, "conversions": y, "revenue": rev})
    return pd.DataFrame(rows), pd.DataFrame(days)


def test_day_grid_counts_partial_last_day_and_dates() -> None:
    c = pd.DataFrame([_campaign(1, T0 + pd.Timedelta(hours=14), 2.5, False, 100.0)])
    g = F.day_grid(c)
    assert g["day"].tolist() == [0, 1, 2]
    assert g["exposure"].tolist() == [1.0, 1.0, 0.5]
    assert [d.date().isoformat() for d in g["date"]] == ["2026-01-05", "2026-01-06", "2026-01-07"]


def test_ridge_poisson_recovers_rates_with_exposure() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 2))
    exposure = rng.uniform(50, 500, 4000)
    y = rng.poisson(exposure * np.exp(-5 + 0.4 * X[:, 0] - 0.2 * X[:, 1]))
    coef = F.ridge_poisson(X, y.astype(float), exposure, alpha=0.0)
    assert coef == pytest.approx([-5, 0.4, -0.2], abs=0.05)


def test_forecast_beats_seasonal_naive_with_calibrated_totals() -> None:
    campaigns, daily = synthetic_history(44, seed=3)
    runs = F.backtest(campaigns, daily, 10, lambda: F.CampaignForecaster(n_draws=400, n_folds=3))
    model = F.score(runs["model"], campaigns, daily)
    naive = F.score(runs["naive"], campaigns, daily)
    assert model["campaigns"] == 10
    assert model["conversions_total_mape"] < 0.8 * naive["conversions_total_mape"]
    assert model["conversions_daily_wape"] < naive["conversions_daily_wape"]
    assert 0.6 <= model["conversions_total_coverage"] <= 1.0
    assert 0.7 <= model["conversions_daily_coverage"] <= 0.97


def test_forecast_shape_and_interval_order() -> None:
    campaigns, daily = synthetic_history(20, seed=4)
    model = F.CampaignForecaster(n_draws=300).fit(campaigns, daily)
    target = pd.DataFrame(
        [_campaign(99, T0 + pd.Timedelta(weeks=30), 10.0, True, 4000.0, share_enterprise=0.1)]
    )
    fc = model.predict(target)
    d = fc.daily
    assert len(d) == 10 and d["day"].tolist() == list(range(10))
    assert (d["conversions_low"] <= d["conversions"]).all()
    assert (d["conversions"] <= d["conversions_high"] + 1).all()
    assert (d["revenue_low"] <= d["revenue_high"]).all()
    t = fc.totals.iloc[0]
    assert t["conversions"] == pytest.approx(d["conversions"].sum())
    assert t["conversions_low"] < t["conversions"] < t["conversions_high"]
    # a promotion starts strong and fades, as the history did
    assert d["conversions"].iloc[0] > d["conversions"].iloc[9]


def test_noise_is_estimated_per_kind() -> None:
    campaigns, daily = synthetic_history(40, seed=5, sigma=0.05)
    model = F.CampaignForecaster(n_draws=200).fit(campaigns, daily)
    assert set(model.noise_.kind_sigma) == {"email:offer", "email:plain"}
    assert model.noise_.sigma_of("email:offer") < 0.25
    assert model.noise_.sigma_of("sms:plain") == model.noise_.campaign_sigma


def test_folds_spread_every_kind() -> None:
    campaigns, _ = synthetic_history(20, seed=0)
    offer = (campaigns["offered_share"] > 0).to_numpy()
    for train, test in F.campaign_folds(campaigns, 5):
        assert offer[train].any() and (~offer[train]).any()
        assert set(train).isdisjoint(test)


def test_seasonal_naive_copies_last_comparable_scaled_by_audience() -> None:
    history = pd.DataFrame(
        [
            _campaign(1, T0, 3.0, False, 1000.0),
            _campaign(2, T0 + pd.Timedelta(days=7), 3.0, True, 1000.0),
            _campaign(3, T0 + pd.Timedelta(days=14), 3.0, False, 2000.0),
        ]
    )
    daily = pd.DataFrame(
        {
            "campaign_id": [1, 1, 1, 2, 2, 2, 3, 3],
            "day": [0, 1, 2, 0, 1, 2, 0, 1],
            "conversions": [1, 1, 1, 50, 40, 30, 10, 20],
            "revenue": [10, 10, 10, 500, 400, 300, 100, 200],
        }
    )
    target = pd.DataFrame([_campaign(4, T0 + pd.Timedelta(days=21), 4.0, False, 1000.0)])
    fc = F.seasonal_naive(history, daily, target)
    # campaign 3 (plain, latest) halved; its day 2 had nothing (0), day 3 is past its length:
    # its mean day, (10 + 20 + 0) / 3 = 10, halved
    assert fc.daily["conversions"].tolist() == [5.0, 10.0, 0.0, 5.0]
    assert fc.daily["revenue"].tolist() == [50.0, 100.0, 0.0, 50.0]
    assert fc.totals["conversions"].iloc[0] == 20.0


def test_metrics_by_hand() -> None:
    assert F.mape([10, 0, 20], [12, 5, 15]) == pytest.approx((0.2 + 0.25) / 2)
    assert F.wape([10, 0, 20], [12, 5, 15]) == pytest.approx(12 / 30)
    assert F.coverage([1, 5, 10], [0, 6, 10], [2, 7, 10]) == pytest.approx(2 / 3)


def test_check_campaigns_rejects_bad_windows() -> None:
    bad = pd.DataFrame([_campaign(1, T0, 1.0, False, 10.0)])
    with pytest.raises(ValueError, match="after starts_at"):
        F.check_campaigns(bad.assign(ends_at=T0))
    with pytest.raises(ValueError, match="starts_at and ends_at"):
        F.check_campaigns(bad.assign(ends_at=pd.NaT))
    with pytest.raises(ValueError, match="audience"):
        F.check_campaigns(bad.assign(audience=0.0))
    with pytest.raises(ValueError, match="lacks columns: budget"):
        F.check_campaigns(bad.drop(columns="budget"))


def test_holdout_effect_by_hand() -> None:
    # 10 treated, 4 convert (revenue 10 each); 10 holdout, 2 convert (revenue 10 each)
    converted = [1] * 4 + [0] * 6 + [1] * 2 + [0] * 8
    revenue = [10.0 if c else 0.0 for c in converted]
    holdout = [False] * 10 + [True] * 10
    e = F.holdout_effect(converted, revenue, holdout, level=0.8)
    assert e.method == "holdout"
    assert e.conversions == pytest.approx((0.4 - 0.2) * 10)
    se = math.sqrt(0.4 * 0.6 / 10 + 0.2 * 0.8 / 10) * 10
    assert e.conversions_high - e.conversions == pytest.approx(1.2815516 * se, rel=1e-6)
    assert e.revenue == pytest.approx(20.0)
    assert (e.treated, e.baseline, e.treated_rate, e.baseline_rate) == (10, 10, 0.4, 0.2)
    with pytest.raises(ValueError, match="2 holdout"):
        F.holdout_effect([1, 0], [0, 0], [False, True])


def _days(start: pd.Timestamp, counts: list[float]) -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(counts), freq="D")
    return pd.DataFrame({"date": dates, "orders": counts, "revenue": [10.0 * c for c in counts]})


def test_pre_period_effect_weekday_counterfactual_and_trend() -> None:
    week = [10, 10, 10, 10, 10, 20, 20]  # Mon..Sun
    pre = _days(T0, week * 4)
    post = _days(T0 + pd.Timedelta(days=28), [12, 12, 12, 12, 12, 22, 22])
    e = F.pre_period_effect(pre, post)
    assert e.method == "pre_period" and e.baseline == 90.0 and e.treated == 104.0
    assert e.conversions == pytest.approx(14.0)
    assert e.revenue == pytest.approx(140.0)
    # everyone outside the audience also bought 10% more: the trend explains part of the rise
    c_pre = _days(T0, [100] * 28)
    c_post = _days(T0 + pd.Timedelta(days=28), [110] * 7)
    e2 = F.pre_period_effect(pre, post, control_pre=c_pre, control_post=c_post)
    assert e2.baseline == pytest.approx(99.0)
    assert e2.conversions == pytest.approx(5.0)
    with pytest.raises(ValueError, match="7 pre-period"):
        F.pre_period_effect(pre.head(3), post)


@pytest.mark.parametrize(
    ("spend", "hours", "alert"),
    [
        (52.0, 24, False),  # 5.2 % of a 1000 budget after 5 % of the window: +4 %, on pace
        (53.0, 24, True),  # +6 %
        (0.0, 0, False),
        (1100.0, 480, True),  # ended, over the budget
    ],
)
def test_budget_pace(spend: float, hours: int, alert: bool) -> None:
    start = T0
    end = T0 + pd.Timedelta(days=20)
    p = F.budget_pace(spend, 1000.0, start, end, start + pd.Timedelta(hours=hours))
    assert p.alert is alert
    if alert:
        assert "over the budget" in p.message


def test_budget_pace_edges() -> None:
    end = T0 + pd.Timedelta(days=10)
    assert F.budget_pace(10.0, None, T0, end, T0).message == "no budget set"
    early = F.budget_pace(2000.0, 1000.0, T0, end, T0 - pd.Timedelta(days=1))
    assert early.alert and early.projected_spend is None
    half = F.budget_pace(500.0, 1000.0, T0, end, T0 + pd.Timedelta(days=5))
    assert half.projected_spend == pytest.approx(1000.0) and not half.alert
