"""Campaign forecasts (models/forecast.py): the grid, the GLM, intervals against a known
process, the seasonal-naive baseline, metrics, measured effects and the budget alert."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

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
    assert 0.7 <= model["conversions_daily_coverage"] <= 0.9
    for key in ("conversions_total", "conversions_daily", "revenue_total", "revenue_daily"):
        assert model[f"{key}_interval_score"] < naive[f"{key}_interval_score"]


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
    # on a bound an actual counts its credit: 1 (strictly inside) + 0.25 (on low) + 0 + 0.5
    assert F.coverage(
        [1, 0, 9, 3], [0, 0, 0, 1], [2, 5, 8, 3], [1, 0.25, 1, 1], [1, 1, 1, 0.5]
    ) == pytest.approx(1.75 / 4)


def test_interval_score_by_hand() -> None:
    actual, low, high = [5, 0, 12], [2, 1, 3], [8, 4, 10]
    # width, plus 2 / (1 - 0.8) = 10 per unit outside: 6; 3 + 10 * 1; 7 + 10 * 2
    assert F.interval_score(actual, low, high, level=0.8) == pytest.approx((6 + 13 + 27) / 3)
    # a 50% interval is penalised 4 per unit outside
    assert F.interval_score(actual, low, high, level=0.5) == pytest.approx((6 + 7 + 15) / 3)


def test_endpoint_credit_makes_coverage_of_poisson_counts_the_level() -> None:
    """Poisson(1.5): the 80% interval [0, 3] holds 93% of outcomes, the credits make it 80%."""
    mu = 1.5
    low, high = poisson.ppf(0.1, mu), poisson.ppf(0.9, mu)
    assert (low, high) == (0, 3)
    c_low = F.endpoint_credit(poisson.cdf(low - 1, mu), poisson.cdf(low, mu), 0.8)
    c_high = F.endpoint_credit(poisson.cdf(high - 1, mu), poisson.cdf(high, mu), 0.8)
    assert c_low == pytest.approx((math.exp(-mu) - 0.1) / math.exp(-mu))
    p = poisson.pmf(np.arange(4), mu)
    assert p.sum() == pytest.approx(0.934, abs=1e-3)
    assert c_low * p[0] + p[1] + p[2] + c_high * p[3] == pytest.approx(0.8)
    # the interval whose closed form holds nearest 80%, [0, 2], scores worse than the quantiles
    y = np.arange(60)
    w = poisson.pmf(y, mu)

    def expected_score(lo: int, hi: int) -> float:
        return sum(wi * F.interval_score([yi], [lo], [hi]) for yi, wi in zip(y, w, strict=True))

    assert expected_score(0, 3) == pytest.approx(3.898, abs=1e-3)
    assert expected_score(0, 2) == pytest.approx(4.810, abs=1e-3)
    # a forecast of exactly 0: the whole band sits on the one value
    assert F.endpoint_credit(np.array(0.0), np.array(1.0), 0.8) == pytest.approx(0.8)


def test_a_right_forecast_of_small_counts_covers_its_level() -> None:
    """Days drawn from the forecast's own Poisson(1.5): credit-counted coverage is 0.8, while
    the plain share inside the whole-number interval overshoots (0.93)."""
    rng = np.random.default_rng(0)
    campaigns = pd.DataFrame(
        [_campaign(i, T0 + pd.Timedelta(days=i), 20.0, False, 1000.0) for i in range(60)]
    )
    means = F.day_grid(campaigns).assign(conversions=1.5, value=40.0, kind="email:plain")
    noise = F.Noise(campaign_sigma=0.0, day_dispersion=0.0, value_sigma=0.0, value_cv2=0.0)
    fc = F.simulate(means, noise, level=0.8, n_draws=4000, seed=1)
    assert set(fc.daily["conversions_low"]) == {0} and set(fc.daily["conversions_high"]) == {3}
    y = rng.poisson(1.5, len(means))
    daily = means[["campaign_id", "day"]].assign(conversions=y, revenue=40.0 * y)
    s = F.score(fc, campaigns, daily)
    assert s["days"] == 1200
    assert s["conversions_daily_coverage"] == pytest.approx(0.8, abs=0.03)
    assert s["conversions_daily_coverage_inclusive"] == pytest.approx(0.934, abs=0.03)
    assert s["revenue_daily_coverage"] == pytest.approx(0.8, abs=0.03)
    assert 0.65 <= s["conversions_total_coverage"] <= 0.95  # 60 totals of Poisson(30)


def _campaign_totals(mu: float, sigma: float, n: int, seed: int, kind: str) -> pd.DataFrame:
    """n campaigns of `kind` with predicted total mu, actual Poisson(mu × a mean-1 lognormal)."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(-(sigma**2) / 2, sigma, n) if sigma > 0 else np.ones(n)
    return pd.DataFrame({"y": rng.poisson(mu * level), "mu": mu, "mu2": mu**2 / 7, "kind": kind})


def test_campaign_sigma_is_unbiased_for_small_counts() -> None:
    """Weeks of ~10 conversions with no campaign-level error: the log-ratio moments read
    σ_c ≈ 0.12 from Poisson noise alone; the count-scale moments see (nearly) none."""
    plain = _campaign_totals(10.0, 0.0, 400, 0, "email:plain")
    pooled, kinds = F.campaign_sigmas(plain, alpha=0.0)
    assert pooled < 0.08 and kinds["email:plain"] < 0.08
    # what the log-ratio moments expect of Poisson(10) alone
    y = np.arange(200)
    log_ratio2 = (poisson.pmf(y, 10.0) * np.log((y + 0.5) / 10.5) ** 2).sum()
    assert math.sqrt(log_ratio2 - 1 / 10.5) == pytest.approx(0.116, abs=0.001)
    # a real campaign-level error is recovered, on small and on large counts
    _, kinds = F.campaign_sigmas(_campaign_totals(10.0, 0.3, 400, 1, "a"), alpha=0.0)
    assert kinds["a"] == pytest.approx(0.3, abs=0.06)
    _, kinds = F.campaign_sigmas(_campaign_totals(1000.0, 0.1, 200, 2, "b"), alpha=0.0)
    assert kinds["b"] == pytest.approx(0.1, abs=0.02)


def test_campaign_sigma_of_a_kind_is_shrunk_toward_the_pooled_one() -> None:
    many = _campaign_totals(1000.0, 0.1, 200, 3, "email:offer")
    few = pd.DataFrame({"y": [1300.0, 700.0], "mu": 1000.0, "mu2": 0.0, "kind": "sms:offer"})
    per = pd.concat([many, few], ignore_index=True)
    pooled, kinds = F.campaign_sigmas(per, alpha=0.0)
    own = math.log1p((300**2 - 1000) / 1000**2)  # σ² of the two campaigns alone
    shrunk = (2 * own + F.MIN_KIND_CAMPAIGNS * math.log1p(math.expm1(pooled**2))) / (
        2 + F.MIN_KIND_CAMPAIGNS
    )
    assert pooled < kinds["sms:offer"] < math.sqrt(own)
    assert kinds["sms:offer"] == pytest.approx(math.sqrt(shrunk), rel=0.02)


def test_format_scores_table() -> None:
    keys = [
        f"{w}_{s}_{m}"
        for w in ("conversions", "revenue")
        for s in ("total", "daily")
        for m in ("mape", "coverage", "interval_score")
    ]
    model = {k: 1.0 for k in keys} | {"campaigns": 16.0, "days": 133.0}
    naive = {k: 2.0 for k in keys} | {"campaigns": 16.0, "days": 133.0}
    text = F.format_scores({"glm": model, "seasonal_naive": naive}, ["glm", "seasonal_naive"])
    assert text.startswith("16 held-out campaigns, 133 days")
    assert "conversions  seasonal_naive" in text and "revenue      glm" in text
    assert text.splitlines()[-1] == "glm beats seasonal_naive on 4 of 4 interval scores"


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
