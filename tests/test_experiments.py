"""A/B analysis (models/experiments.py) against hand-computed values, scipy and independent
numerical integration to 1e-6 or better; A/A simulations for the error rates (and why peeking
at a fixed-sample test needs the sequential one); CUPED; SRM; the CSV entry point.

Literal reference values marked "statsmodels 0.15" were computed once with
statsmodels.stats.proportion.proportions_ztest / confint_proportions_2indep(method="wald") and
CompareMeans.ttest_ind / tconfint_diff(usevar="unequal"); the tests do not import statsmodels.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from models import experiments as ex
from training.experiment_csv import ExperimentDataError, analyze_csv

# --- frequentist ---------------------------------------------------------------------------------


def test_two_proportion_z_by_hand_and_against_statsmodels() -> None:
    f = ex.two_proportion_ztest(120, 1000, 100, 1000, alpha=0.05)
    pooled = 220 / 2000  # the test's SE pools both arms under H0
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1000))
    assert f.statistic == pytest.approx(0.02 / se0, abs=1e-12)
    assert f.statistic == pytest.approx(1.4293008498232314, abs=1e-12)  # statsmodels 0.15
    assert f.p_value == pytest.approx(0.1529177818639462, abs=1e-12)  # statsmodels 0.15
    se = math.sqrt(0.12 * 0.88 / 1000 + 0.10 * 0.90 / 1000)  # the interval's SE does not pool
    z = 1.959963984540054
    assert f.abs_se == pytest.approx(se, abs=1e-15)
    assert f.abs_ci.low == pytest.approx(0.02 - z * se, abs=1e-12)
    assert f.abs_ci.low == pytest.approx(-0.007411481998019949, abs=1e-12)  # statsmodels 0.15
    assert f.abs_ci.high == pytest.approx(0.04741148199801993, abs=1e-12)  # statsmodels 0.15
    # relative lift 0.12/0.10 - 1 by the delta method:
    # Var = Var(p_t)/p_c² + p_t² Var(p_c)/p_c⁴ = 0.01056 + 0.01296 = 0.02352
    assert f.rel_lift == pytest.approx(0.2, abs=1e-12)
    assert f.rel_se == pytest.approx(math.sqrt(0.02352), abs=1e-12)
    assert f.rel_ci.low == pytest.approx(0.2 - z * math.sqrt(0.02352), abs=1e-12)
    assert not f.significant


def test_two_proportion_z_other_direction_and_alpha() -> None:
    f = ex.two_proportion_ztest(31, 410, 48, 395, alpha=0.1)
    assert f.statistic == pytest.approx(-2.1888025241514355, abs=1e-12)  # statsmodels 0.15
    assert f.p_value == pytest.approx(0.028611196199477995, abs=1e-12)
    assert f.abs_ci.low == pytest.approx(-0.08044054561728223, abs=1e-12)
    assert f.abs_ci.high == pytest.approx(-0.011377916871140127, abs=1e-12)
    assert f.significant


def test_welch_matches_scipy_and_statsmodels() -> None:
    a = np.array([12.0, 0, 0, 35.5, 8.25, 0, 19.0, 41.0, 3.5, 0])
    b = np.array([0.0, 5.0, 0, 0, 14.0, 2.5, 0, 9.75])
    f = ex.welch_ttest(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    assert f.statistic == pytest.approx(1.544377717061952, abs=1e-12)  # statsmodels 0.15
    assert f.p_value == pytest.approx(0.14929606094633577, abs=1e-12)
    assert f.df == pytest.approx(11.613816488230889, abs=1e-10)
    assert f.abs_ci.low == pytest.approx(-3.335989791611425, abs=1e-10)
    assert f.abs_ci.high == pytest.approx(19.373489791611426, abs=1e-10)
    rng = np.random.default_rng(5)
    for alpha in (0.05, 0.1, 0.01):
        x, y = rng.lognormal(3, 1, 400), rng.lognormal(3.1, 1.2, 650)
        ref = stats.ttest_ind(x, y, equal_var=False)
        ci = ref.confidence_interval(1 - alpha)
        f = ex.welch_ttest(x.mean(), x.var(ddof=1), 400, y.mean(), y.var(ddof=1), 650, alpha)
        assert f.statistic == pytest.approx(ref.statistic, abs=1e-9)
        assert f.p_value == pytest.approx(ref.pvalue, abs=1e-9)
        assert f.df == pytest.approx(ref.df, abs=1e-6)
        assert (f.abs_ci.low, f.abs_ci.high) == pytest.approx((ci.low, ci.high), abs=1e-9)
        rel, se = ex.relative_lift(x.mean(), x.var(ddof=1) / 400, y.mean(), y.var(ddof=1) / 650)
        assert f.rel_lift == pytest.approx(rel) and f.rel_se == pytest.approx(se)


def test_degenerate_inputs_give_nan_not_errors() -> None:
    f = ex.two_proportion_ztest(0, 100, 0, 100)
    assert math.isnan(f.statistic) and math.isnan(f.rel_lift) and not f.significant
    w = ex.welch_ttest(5.0, 0.0, 10, 5.0, 0.0, 10)
    assert math.isnan(w.p_value) and not w.significant


# --- Bayesian ------------------------------------------------------------------------------------


def _prob_greater_by_quad(a: int, b: int, c: int, d: int) -> float:
    """P(X > Y) = ∫ f_Y(y) (1 - F_X(y)) dy, adaptive quadrature."""
    m = c / (c + d)
    return integrate.quad(
        lambda y: stats.beta.pdf(y, c, d) * stats.beta.sf(y, a, b),
        0,
        1,
        points=[m],
        limit=500,
        epsabs=1e-13,
        epsrel=1e-12,
    )[0]


CASES = [
    (11, 91, 6, 96),
    (1, 1000, 1, 900),
    (501, 9501, 451, 9551),
    (3, 10, 30, 50),
    (61, 9, 40, 9),
]


@pytest.mark.parametrize("a,b,c,d", CASES)
def test_chance_to_beat_is_exact(a: int, b: int, c: int, d: int) -> None:
    p = ex.beta_prob_greater(a, b, c, d)
    assert p == pytest.approx(_prob_greater_by_quad(a, b, c, d), abs=1e-9)
    assert p + ex.beta_prob_greater(c, d, a, b) == pytest.approx(1.0, abs=1e-10)
    # the credible-interval machinery's CDF agrees at 0
    assert 1 - ex.BetaPair(a, b, c, d).diff_cdf(0.0) == pytest.approx(p, abs=1e-10)


def test_chance_to_beat_by_hand() -> None:
    # Beta(2,1) vs Beta(1,1): P(X > Y) = ∫ 2x · x dx = 2/3
    assert ex.beta_prob_greater(2, 1, 1, 1) == pytest.approx(2 / 3, abs=1e-15)
    # identical posteriors: 1/2
    assert ex.beta_prob_greater(7, 40, 7, 40) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("a,b,c,d", CASES[:4])
def test_expected_loss_is_exact(a: int, b: int, c: int, d: int) -> None:
    """E[max(p_c - p_t, 0)] = ∫ f_c(x) (x F_t(x) - m_t F_t⁺(x)) dx, F_t⁺ = CDF of Beta(a+1, b)."""
    m_t = a / (a + b)

    def inner(x: float) -> float:
        return x * stats.beta.cdf(x, a, b) - m_t * stats.beta.cdf(x, a + 1, b)

    ref = integrate.quad(
        lambda x: stats.beta.pdf(x, c, d) * inner(x),
        0,
        1,
        points=[c / (c + d)],
        limit=500,
        epsabs=1e-14,
        epsrel=1e-12,
    )[0]
    assert ex.beta_expected_loss(a, b, c, d) == pytest.approx(ref, abs=1e-10)


def test_beta_credible_intervals_invert_the_exact_cdf() -> None:
    b = ex.beta_binomial_bayes(120, 1000, 100, 1000, alpha=0.05)
    a_t, b_t, a_c, b_c = 121, 881, 101, 901

    def diff_cdf(d: float) -> float:  # P(p_t - p_c ≤ d), by adaptive quadrature over p_t
        return integrate.quad(
            lambda y: stats.beta.pdf(y, a_t, b_t) * stats.beta.sf(y - d, a_c, b_c),
            0,
            1,
            points=[0.12],
            limit=500,
            epsabs=1e-13,
        )[0]

    def ratio_cdf(r: float) -> float:  # P(p_t/p_c - 1 ≤ r)
        return integrate.quad(
            lambda x: stats.beta.pdf(x, a_c, b_c) * stats.beta.cdf((1 + r) * x, a_t, b_t),
            0,
            1,
            points=[0.1],
            limit=500,
            epsabs=1e-13,
        )[0]

    assert diff_cdf(b.abs_interval.low) == pytest.approx(0.025, abs=1e-8)
    assert diff_cdf(b.abs_interval.high) == pytest.approx(0.975, abs=1e-8)
    assert ratio_cdf(b.rel_interval.low) == pytest.approx(0.025, abs=1e-8)
    assert ratio_cdf(b.rel_interval.high) == pytest.approx(0.975, abs=1e-8)
    # E[(t - c)+] - E[(c - t)+] = E[t - c]
    assert b.expected_loss_control - b.expected_loss == pytest.approx(121 / 1002 - 101 / 1002)
    # and a seeded Monte Carlo agrees to its own precision (2M draws: ~2e-4 on these quantiles)
    rng = np.random.default_rng(0)
    pt, pc = rng.beta(a_t, b_t, 2_000_000), rng.beta(a_c, b_c, 2_000_000)
    lo, hi = np.quantile(pt - pc, [0.025, 0.975])
    assert (b.abs_interval.low, b.abs_interval.high) == pytest.approx((lo, hi), abs=3e-4)
    assert b.chance_to_beat == pytest.approx((pt > pc).mean(), abs=1e-3)


def test_beta_bayes_at_scale_is_fast_and_consistent() -> None:
    b = ex.beta_binomial_bayes(125_000, 2_500_000, 124_000, 2_500_000)
    se = math.sqrt(0.05 * 0.95 / 2_500_000 + 0.0496 * 0.9504 / 2_500_000)
    assert b.chance_to_beat == pytest.approx(stats.norm.cdf(0.0004 / se), abs=2e-3)
    assert b.abs_interval.low < 0.0004 < b.abs_interval.high


def test_normal_bayes_for_means() -> None:
    m_t, v_t, n_t, m_c, v_c, n_c = 10.4, 90.0, 900, 9.8, 100.0, 1000
    b = ex.normal_bayes(m_t, v_t, n_t, m_c, v_c, n_c, alpha=0.1)
    se = math.sqrt(v_t / n_t + v_c / n_c)
    assert b.chance_to_beat == pytest.approx(stats.norm.cdf(0.6 / se), abs=1e-12)
    loss = integrate.quad(lambda d: max(-d, 0.0) * stats.norm.pdf(d, 0.6, se), -10, 10)[0]
    assert b.expected_loss == pytest.approx(loss, abs=1e-9)
    z = stats.norm.isf(0.05)
    assert b.abs_interval.low == pytest.approx(0.6 - z * se, abs=1e-12)

    def ratio_cdf(r: float) -> float:  # P(μ_t ≤ (1 + r) μ_c), integrating over μ_c
        s_t, s_c = math.sqrt(v_t / n_t), math.sqrt(v_c / n_c)
        return integrate.quad(
            lambda y: stats.norm.pdf(y, m_c, s_c) * stats.norm.cdf((1 + r) * y, m_t, s_t),
            m_c - 12 * s_c,
            m_c + 12 * s_c,
            epsabs=1e-13,
        )[0]

    assert ratio_cdf(b.rel_interval.low) == pytest.approx(0.05, abs=1e-8)
    assert ratio_cdf(b.rel_interval.high) == pytest.approx(0.95, abs=1e-8)


# --- analyze: CUPED, SRM, segments, looks ------------------------------------------------------


def _world(n: int, seed: int = 0, lift: float = 0.0) -> dict[str, np.ndarray]:
    """Units in control / a / b with a pre-period covariate that predicts the outcome."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(["control", "a", "b"]), n)
    x = rng.gamma(2.0, 20.0, n)
    y = 5 + 0.8 * x + rng.normal(0, 15, n) + lift * (arm == "a")
    conv = (rng.random(n) < 0.08 + 0.002 * x).astype(float)
    return {"arm": arm, "x": x, "y": y, "conv": conv, "seg": rng.choice(["NA", "EMEA"], n)}


def test_cuped_matches_welch_on_adjusted_values_and_reduces_variance() -> None:
    w = _world(6000, lift=2.0)
    res = ex.analyze(w["arm"], {"rev": w["y"]}, control="control", covariate=w["x"])
    theta = np.cov(w["x"], w["y"])[0, 1] / w["x"].var(ddof=1)  # pooled over every arm
    adj = w["y"] - theta * (w["x"] - w["x"].mean())
    t, c = adj[w["arm"] == "a"], adj[w["arm"] == "control"]
    ref = stats.ttest_ind(t, c, equal_var=False)
    cu = res.comparison("a", "rev").cuped
    assert cu is not None
    assert cu.theta == pytest.approx(theta, rel=1e-9)
    assert cu.frequentist.statistic == pytest.approx(ref.statistic, abs=1e-8)
    assert cu.frequentist.p_value == pytest.approx(ref.pvalue, abs=1e-10)
    assert cu.mean_arm == pytest.approx(t.mean()) and cu.mean_control == pytest.approx(c.mean())
    yt, yc = w["y"][w["arm"] == "a"], w["y"][w["arm"] == "control"]
    raw = yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)
    adjusted = t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)
    assert cu.variance_reduction == pytest.approx(1 - adjusted / raw, abs=1e-9)
    rho = np.corrcoef(w["x"], w["y"])[0, 1]
    assert cu.correlation == pytest.approx(rho, abs=1e-9)
    assert cu.variance_reduction == pytest.approx(rho**2, abs=0.05)  # theory: ≈ ρ²
    assert cu.variance_reduction > 0.5
    raw_f = res.comparison("a", "rev").frequentist
    assert cu.frequentist.abs_ci.high - cu.frequentist.abs_ci.low < 0.75 * (
        raw_f.abs_ci.high - raw_f.abs_ci.low
    )


def test_cuped_variance_reduction_over_simulated_experiments() -> None:
    """Across 200 simulated experiments the CUPED estimate of the lift varies less, and stays
    centred on the truth (θ from pooled data does not bias it)."""
    raw, adjusted = [], []
    for seed in range(200):
        w = _world(1500, seed=seed, lift=1.0)
        c = ex.analyze(w["arm"], {"rev": w["y"]}, control="control", covariate=w["x"])
        comp = c.comparison("a", "rev")
        assert comp.cuped is not None
        raw.append(comp.frequentist.abs_lift)
        adjusted.append(comp.cuped.frequentist.abs_lift)
    assert np.var(adjusted) < 0.5 * np.var(raw)
    assert np.mean(adjusted) == pytest.approx(1.0, abs=3 * np.std(adjusted) / math.sqrt(200))


def test_srm_check_matches_scipy_and_is_loud() -> None:
    obs = {"holdout": 1040, "control": 4420, "a": 4540}
    weights = {"holdout": 0.1, "control": 0.45, "a": 0.45}
    rng = np.random.default_rng(1)

    def run(sizes: dict[str, int]) -> ex.ExperimentResult:
        arm = np.repeat(list(sizes), list(sizes.values()))
        y = rng.normal(size=arm.size)
        return ex.analyze(arm, {"y": y}, control="control", weights=weights)

    res = run(obs)
    ref = stats.chisquare([1040, 4420, 4540], [1000, 4500, 4500])
    assert res.srm.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert res.srm.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.srm.df == 2 and not res.srm_mismatch and res.warnings == []
    res = run({**obs, "a": 4000})  # an injected mismatch: one arm lost a tenth of its units
    assert res.srm_mismatch and res.srm.p_value < 0.001
    assert res.warnings[0].startswith("SAMPLE RATIO MISMATCH")
    # units in a group the design leaves empty: a mismatch outright
    srm = ex.srm_check({"control": 50, "a": 50, "holdout": 3}, {"control": 1, "a": 1})
    assert srm.mismatch and srm.p_value == 0.0


def test_injected_srm_is_caught_in_simulation() -> None:
    """A logging bug that drops 5% of arm b's units: caught in nearly every run at n = 60,000;
    with no bug, flagged about once in a thousand runs (p < 0.001)."""
    rng = np.random.default_rng(11)
    design = {"control": 1.0, "a": 1.0, "b": 1.0}
    flagged, false_alarms = 0, 0
    for _ in range(1000):
        sizes = rng.multinomial(60_000, [1 / 3] * 3)
        clean = dict(zip(design, sizes.tolist(), strict=True))
        false_alarms += ex.srm_check(clean, design).mismatch
        buggy = {**clean, "b": clean["b"] - int(rng.binomial(clean["b"], 0.05))}
        flagged += ex.srm_check(buggy, design).mismatch
    assert flagged >= 950 and false_alarms <= 5


def test_segments_equal_the_analysis_of_each_subset() -> None:
    w = _world(4000, seed=3)
    metrics = {"conv": w["conv"], "rev": w["y"]}
    res = ex.analyze(w["arm"], metrics, control="control", covariate=w["x"], segment=w["seg"])
    assert res.metrics == {"conv": "proportion", "rev": "mean"}
    assert [s.segment for s in res.segments or []] == ["EMEA", "NA"]
    for seg in res.segments or []:
        m = w["seg"] == seg.segment
        sub = ex.analyze(
            w["arm"][m],
            {k: v[m] for k, v in metrics.items()},
            control="control",
            covariate=w["x"][m],
        )
        assert seg.n == m.sum()
        for mine, ref in zip(seg.comparisons, sub.comparisons, strict=True):
            assert mine.frequentist.p_value == pytest.approx(ref.frequentist.p_value, rel=1e-9)
            assert mine.cuped is not None and ref.cuped is not None
            assert mine.cuped.theta == pytest.approx(ref.cuped.theta, rel=1e-9)
            assert mine.bayesian.chance_to_beat == pytest.approx(ref.bayesian.chance_to_beat)


def test_looks_give_the_running_minimum_of_the_msprt() -> None:
    w = _world(5000, seed=4, lift=1.5)
    look = np.arange(5000) // 500  # ten batches in arrival order
    res = ex.analyze(w["arm"], {"rev": w["y"]}, control="control", look=look)
    seq = res.comparison("a", "rev").sequential
    ps, lows, highs = [], [], []
    for k in range(10):
        m = look <= k
        t, c = w["y"][m & (w["arm"] == "a")], w["y"][m & (w["arm"] == "control")]
        p, lo, hi, _ = ex.sequential_looks(
            "mean", t.size, t.mean(), t.var(ddof=1), c.size, c.mean(), c.var(ddof=1)
        )
        ps.append(float(p))
        lows.append(float(lo))
        highs.append(float(hi))
    assert seq.looks == 10
    assert seq.p_value == pytest.approx(min(ps), rel=1e-9)
    assert seq.confidence_sequence.low == pytest.approx(max(lows), rel=1e-9)
    assert seq.confidence_sequence.high == pytest.approx(min(highs), rel=1e-9)


def test_msprt_by_hand() -> None:
    # Δ = 0.3, V = 0.01, τ = 0.2 → r = 4: Λ = 5^-1/2 · exp(0.09·4 / (2·0.01·5)) = e^3.6/√5
    p, half = ex.msprt(0.3, 0.01, 0.2, alpha=0.05)
    assert float(p) == pytest.approx(math.sqrt(5) * math.exp(-3.6), abs=1e-12)
    assert float(half) == pytest.approx(
        math.sqrt(0.01 * 5 / 4 * (math.log(5) + 2 * math.log(20))), abs=1e-12
    )
    p, half = ex.msprt(0.0, 0.0, 0.2)
    assert float(p) == 1.0 and math.isinf(float(half))


# --- A/A simulations ---------------------------------------------------------------------------


def test_aa_z_test_false_positive_rate_is_alpha() -> None:
    rng = np.random.default_rng(2024)
    x = rng.binomial(4000, 0.1, size=(1000, 2))
    p = np.array([ex.two_proportion_ztest(a, 4000, c, 4000).p_value for a, c in x])
    assert 0.02 <= (p <= 0.05).mean() <= 0.08


def test_aa_peeking_sequential_holds_alpha_naive_does_not() -> None:
    """1,000 A/A tests, 20 looks of 500 units per arm each. Stopping at the first look with
    p ≤ 0.05 inflates the fixed-sample z-test's error several times over; the mSPRT's
    always-valid p-value keeps it under alpha however often it is checked."""
    rng = np.random.default_rng(7)
    reps, looks, batch = 1000, 20, 500
    x = rng.binomial(batch, 0.1, size=(reps, looks, 2)).cumsum(axis=1)
    n = np.broadcast_to(batch * np.arange(1, looks + 1), (reps, looks))
    m_t, m_c = x[..., 0] / n, x[..., 1] / n
    p, lo, hi, _ = ex.sequential_looks("proportion", n, m_t, None, n, m_c, None, alpha=0.05)
    seq_fpr = (p.min(axis=1) <= 0.05).mean()
    cs_miss = 1 - ((lo.max(axis=1) <= 0) & (hi.min(axis=1) >= 0)).mean()
    z_p = np.array(
        [
            [
                ex.two_proportion_ztest(x[r, k, 0], n[r, k], x[r, k, 1], n[r, k]).p_value
                for k in range(looks)
            ]
            for r in range(reps)
        ]
    )
    naive_fpr = (z_p.min(axis=1) <= 0.05).mean()
    final_fpr = (z_p[:, -1] <= 0.05).mean()
    assert seq_fpr <= 0.05 + 0.02  # Ville: ≤ alpha, plus Monte Carlo slack
    assert cs_miss <= 0.05 + 0.02
    assert 0.02 <= final_fpr <= 0.08  # one look: fine
    assert naive_fpr > 0.12 and naive_fpr > 2.5 * final_fpr  # peeking: not fine


# --- input errors ------------------------------------------------------------------------------


def test_bad_inputs_are_clear() -> None:
    y = np.zeros(4)
    with pytest.raises(ValueError, match="only one arm"):
        ex.analyze(["a"] * 4, {"y": y}, control="a")
    with pytest.raises(ValueError, match="not among the arms"):
        ex.analyze(["a", "b"] * 2, {"y": y}, control="c")
    with pytest.raises(ValueError, match="missing or infinite"):
        ex.analyze(["a", "b"] * 2, {"y": [0, 1, np.nan, 1]}, control="a")
    with pytest.raises(ValueError, match="other than 0/1"):
        ex.analyze(["a", "b"] * 2, {"y": [0, 2, 1, 1]}, control="a", binary=["y"])
    with pytest.raises(ValueError, match="rows"):
        ex.analyze(["a", "b"] * 2, {"y": y}, control="a", covariate=[1, 2])
    with pytest.raises(ValueError, match="alpha"):
        ex.analyze(["a", "b"] * 2, {"y": y}, control="a", alpha=1.5)


# --- CSV -----------------------------------------------------------------------------------------


@pytest.fixture
def ab_csv(tmp_path: Path) -> Path:
    w = _world(3000, seed=9, lift=3.0)
    frame = pd.DataFrame(
        {
            "variant": w["arm"],
            "converted": w["conv"].astype(int),
            "revenue": np.where(w["conv"] == 1, w["y"].round(2), np.nan),
            "pre": w["x"].round(2),
            "region": np.where(w["seg"] == "NA", "NA", "EMEA"),  # "NA" must stay a region
        }
    )
    path = tmp_path / "ab.csv"
    frame.to_csv(path, index=False)
    return path


def test_analyze_csv_report(ab_csv: Path) -> None:
    report = analyze_csv(
        ab_csv,
        arm="variant",
        outcome="converted",
        covariate="pre",
        revenue="revenue",
        segment="region",
    )
    r = report.result
    assert r.control == "control" and r.metrics == {"converted": "proportion", "revenue": "mean"}
    assert [s.segment for s in r.segments or []] == ["EMEA", "NA"]
    text = str(report)
    assert "converted (conversion rate)" in text and "revenue (mean per unit)" in text
    assert "CUPED" in text and "region = NA" in text and "equal weights assumed" in text
    assert "blank 'revenue' counted as 0" in text
    frame = pd.read_csv(ab_csv, keep_default_na=False)
    conv = frame["converted"].to_numpy(float)
    direct = ex.analyze(frame["variant"], {"converted": conv}, control="control")
    assert r.comparison("a", "converted").frequentist.p_value == pytest.approx(
        direct.comparison("a", "converted").frequentist.p_value, rel=1e-12
    )


def test_analyze_csv_errors(ab_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ExperimentDataError, match="no column 'arm'.*variant, converted"):
        analyze_csv(ab_csv, arm="arm", outcome="converted")
    with pytest.raises(ExperimentDataError, match=r"must be numeric.*row \d+ has 'EMEA'"):
        analyze_csv(ab_csv, arm="variant", outcome="region", control="control")
    one = tmp_path / "one.csv"
    pd.DataFrame({"arm": ["x"] * 5, "y": [0, 1, 0, 1, 1]}).to_csv(one, index=False)
    with pytest.raises(ExperimentDataError, match="single value 'x'"):
        analyze_csv(one, arm="arm", outcome="y")
    with pytest.raises(ExperimentDataError, match="which arm is control"):
        analyze_csv(ab_csv, arm="region", outcome="converted")
    with pytest.raises(ExperimentDataError, match="not an arm"):
        analyze_csv(ab_csv, arm="variant", outcome="converted", control="zzz")
    report = analyze_csv(ab_csv, arm="region", outcome="pre", control="NA")
    assert report.result.metrics == {"pre": "mean"} and report.result.control == "NA"
