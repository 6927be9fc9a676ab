"""A/B experiment analysis over per-unit rows: every arm against one control, per metric.

Input is one row per unit (customer): the group it was assigned to (arms, control and a holdout
are all just groups), its outcomes (a 0/1 conversion and/or a number such as revenue per user),
optionally a pre-period covariate, a segment and a look (the ordinal of the batch it arrived
in). `analyze` reduces them once to sufficient statistics per (segment, look, group) with
`np.bincount`, so 10M rows cost a few passes over the arrays, and every test below works on
those statistics. All tests are two-sided.

Frequentist
- Proportions: the two-proportion z-test with the pooled SE (the textbook test of p_t = p_c),
  and a Wald interval on the difference with the unpooled SE, `sqrt(p_t q_t/n_t + p_c q_c/n_c)`.
- Means: Welch's t-test (unequal variances, sample variances with ddof=1, Welch–Satterthwaite
  degrees of freedom) and its t interval; identical to `scipy.stats.ttest_ind(equal_var=False)`.
- Relative lift `m_t/m_c - 1` by the delta method on the two independent means:
  `Var ≈ Var(m_t)/m_c² + m_t² Var(m_c)/m_c⁴`, with the normal quantile (the delta method is an
  asymptotic argument, so a t quantile would add false precision).

Bayesian
- Proportions: Beta(1, 1) priors, so Beta(1 + x, 1 + n - x) posteriors. The chance to beat
  control P(p_t > p_c) is exact (Evan Miller's closed form for integer parameters, summed over
  the smallest of the four parameters). The expected loss of shipping the arm,
  E[max(p_c - p_t, 0)], is exact too: it is E[p_c; p_c > p_t] - E[p_t; p_c > p_t], and each
  term is a mean times a P(X > Y) with one parameter raised by one. Credible intervals on the
  absolute and relative lift invert the exact CDF of p_t - p_c (and of p_t/p_c - 1), a 1-D
  integral over the narrower posterior on a 200-node Gauss–Legendre rule (against the wider
  posterior's CDF, which is smooth on that scale), solved by Brent's method to 1e-12. The CDF
  agrees with adaptive quadrature to better than 1e-9, and at 0 with 1 - chance to beat
  (tested); a seeded Monte Carlo would need ~10^10 draws for that.
- Means (revenue per user): a normal approximation of each group's mean, N(ȳ, s²/n), i.e. a
  flat prior and the central limit theorem (revenue is skewed; with a few hundred units per
  group the approximation of the *mean* is good). Chance to beat Φ(Δ/se), expected loss
  se·φ(Δ/se) - Δ·Φ(-Δ/se), the credible interval on Δ is Δ ± z·se, and the one on the relative
  lift inverts P(μ_t ≤ s·μ_c) = Φ((s·m_c - m_t)/sqrt(v_t + s²·v_c)), which is exact for two
  normals whose means are positive (NaN otherwise).

CUPED (Deng et al. 2013): y' = y - θ(x - x̄) with θ = cov(x, y)/var(x) estimated once on the
pooled units of the scope (every group together: randomisation makes x independent of the
group, so pooling costs nothing and keeps θ from chasing one arm's noise). The adjusted lift is
tested with Welch's t on y' for both kinds of metric (y' is no longer 0/1), θ held fixed, so
the numbers equal `ttest_ind` on the adjusted arrays. `variance_reduction` is
1 - Var(adjusted lift)/Var(raw lift), both with ddof=1 group variances; about corr(x, y)².

Sample-ratio mismatch: a chi-square goodness-of-fit test of the group sizes against the designed
weights (holdout included). p < 0.001 sets `srm.mismatch` and puts a loud warning first in
`warnings`: a mismatch means assignment or logging is broken, and every other number is suspect.
A group that the design gives no weight but that holds units is a mismatch outright.

Sequential: the mixture sequential probability ratio test (mSPRT, Johari et al. 2017; in the
confidence-sequence form of Howard et al. 2021) for the difference in means, with a normal
mixture N(0, τ²) over the effect and plug-in variances. With Δ the observed difference and
V = Var(Δ) at a look, and r = τ²/V:

    Λ = (1 + r)^(-1/2) · exp(Δ² r / (2 V (1 + r))),   p = min(1, 1/Λ),
    confidence sequence  Δ ± sqrt(V (1 + r)/r · (log(1 + r) + 2 log(1/α))).

Under H0, Λ is a non-negative martingale, so by Ville's inequality P(Λ ever ≥ 1/α) ≤ α: the
p-value may be looked at after every batch, and acted on, without inflating the error. With
looks, the reported p-value is the running minimum over looks and the interval the running
intersection (both stay valid). Looks before every group of the pair has
`SEQUENTIAL_BURN_IN` units are skipped: plug-in variances of a handful of units are too noisy.
The mixing parameter is set on the standardised scale: τ = φ·σ̂, with σ̂ the pooled within-group
SD at that look and φ = `mixing_effect` (default 0.03, a Cohen's d). The test is most powerful
for effects around φσ and the sequence is tightest near n ≈ 16.4/φ² units per group at α = 0.05
(≈ 18,000 for φ = 0.03, marketing-sized); any φ keeps the error guarantee, it only moves where
the sequence is tightest.

Segments: the same analysis within each segment value (θ, SRM and all), when a segment column
is given. No correction for testing many segments is made; read them as exploration.
"""

import math
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special

Kind = Literal["proportion", "mean"]

SRM_P_THRESHOLD = 0.001
MIXING_EFFECT = 0.03
SEQUENTIAL_BURN_IN = 100
MIN_CONVERSIONS = 5  # np ≥ 5 on both sides: the usual condition for the z-test
_GL_X, _GL_W = np.polynomial.legendre.leggauss(200)
_TAIL = 1e-15  # posterior mass left outside the integration range, per side
_CHUNK = 1 << 20
UNKNOWN_SEGMENT = "(unknown)"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


_NAN_INTERVAL = Interval(math.nan, math.nan)


@dataclass(frozen=True)
class Frequentist:
    """A two-sided test of arm = control and (1 - alpha) intervals on the lift."""

    test: str
    statistic: float
    df: float | None  # Welch–Satterthwaite; None for the z-test
    p_value: float
    significant: bool
    abs_lift: float
    abs_se: float
    abs_ci: Interval
    rel_lift: float
    rel_se: float
    rel_ci: Interval


@dataclass(frozen=True)
class Bayesian:
    method: str
    chance_to_beat: float  # P(arm > control)
    expected_loss: float  # E[max(control - arm, 0)]: the cost of shipping the arm if it is worse
    expected_loss_control: float  # E[max(arm - control, 0)]: the cost of keeping control
    abs_interval: Interval
    rel_interval: Interval


@dataclass(frozen=True)
class Cuped:
    theta: float
    correlation: float  # pooled corr(covariate, outcome) in the scope
    variance_reduction: float  # 1 - Var(adjusted lift) / Var(raw lift)
    mean_arm: float  # adjusted means
    mean_control: float
    frequentist: Frequentist  # Welch t on the adjusted outcome


@dataclass(frozen=True)
class Sequential:
    method: str
    mixing_effect: float  # φ: τ = φ · pooled SD
    tau: float  # at the latest look
    p_value: float  # always valid: running minimum of 1/Λ over the looks
    significant: bool
    confidence_sequence: Interval  # running intersection over the looks
    looks: int  # looks that counted (after the burn-in)


@dataclass(frozen=True)
class Comparison:
    metric: str
    kind: Kind
    arm: str
    control: str
    n_arm: int
    n_control: int
    mean_arm: float
    mean_control: float
    frequentist: Frequentist
    bayesian: Bayesian
    sequential: Sequential
    cuped: Cuped | None


@dataclass(frozen=True)
class GroupSummary:
    arm: str
    n: int
    share: float
    designed_share: float
    means: dict[str, float]


@dataclass(frozen=True)
class SrmCheck:
    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    df: int
    p_value: float
    mismatch: bool
    weights_assumed: bool  # no design was given: equal weights were assumed


@dataclass(frozen=True)
class SegmentResult:
    segment: str
    n: int
    groups: list[GroupSummary]
    comparisons: list[Comparison]
    srm: SrmCheck
    warnings: list[str]


@dataclass(frozen=True)
class ExperimentResult:
    control: str
    alpha: float
    metrics: dict[str, Kind]
    n: int
    groups: list[GroupSummary]
    comparisons: list[Comparison]
    srm: SrmCheck
    warnings: list[str]
    segments: list[SegmentResult] | None = field(default=None)

    @property
    def srm_mismatch(self) -> bool:
        return self.srm.mismatch

    def comparison(self, arm: str, metric: str) -> Comparison:
        for c in self.comparisons:
            if c.arm == arm and c.metric == metric:
                return c
        raise KeyError(f"no comparison of arm {arm!r} on {metric!r}")


# --- frequentist (scipy.special's ufuncs rather than scipy.stats: the same numbers, without
# the distribution objects' per-call overhead, which dominates simulations of many tests)


def _crit(alpha: float) -> float:
    return float(-special.ndtri(alpha / 2))


def relative_lift(
    mean_arm: float, var_mean_arm: float, mean_control: float, var_mean_control: float
) -> tuple[float, float]:
    """m_t/m_c - 1 and its delta-method SE, from the means and the variances of the means."""
    if mean_control == 0 or not np.isfinite(mean_control):
        return math.nan, math.nan
    rel = mean_arm / mean_control - 1
    var = var_mean_arm / mean_control**2 + mean_arm**2 * var_mean_control / mean_control**4
    return rel, math.sqrt(var)


def _rel_part(
    m_t: float, vm_t: float, m_c: float, vm_c: float, z: float
) -> tuple[float, float, Interval]:
    rel, se = relative_lift(m_t, vm_t, m_c, vm_c)
    return rel, se, Interval(rel - z * se, rel + z * se)


def two_proportion_ztest(
    x_arm: float, n_arm: float, x_control: float, n_control: float, alpha: float = 0.05
) -> Frequentist:
    """Pooled-SE z-test of p_arm = p_control; unpooled Wald interval; delta-method relative."""
    p_t, p_c = x_arm / n_arm, x_control / n_control
    diff = p_t - p_c
    pooled = (x_arm + x_control) / (n_arm + n_control)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_arm + 1 / n_control))
    z_stat = diff / se0 if se0 > 0 else math.nan
    p_value = float(2 * special.ndtr(-abs(z_stat))) if se0 > 0 else math.nan
    vm_t, vm_c = p_t * (1 - p_t) / n_arm, p_c * (1 - p_c) / n_control
    se = math.sqrt(vm_t + vm_c)
    z = _crit(alpha)
    rel, rel_se, rel_ci = _rel_part(p_t, vm_t, p_c, vm_c, z)
    return Frequentist(
        test="two-proportion z (pooled SE)",
        statistic=z_stat,
        df=None,
        p_value=p_value,
        significant=bool(p_value <= alpha),
        abs_lift=diff,
        abs_se=se,
        abs_ci=Interval(diff - z * se, diff + z * se),
        rel_lift=rel,
        rel_se=rel_se,
        rel_ci=rel_ci,
    )


def welch_ttest(
    mean_arm: float,
    var_arm: float,
    n_arm: float,
    mean_control: float,
    var_control: float,
    n_control: float,
    alpha: float = 0.05,
) -> Frequentist:
    """Welch's t-test from group means and ddof=1 variances; t interval, delta-method relative."""
    vm_t, vm_c = var_arm / n_arm, var_control / n_control
    diff = mean_arm - mean_control
    se = math.sqrt(vm_t + vm_c) if n_arm > 1 and n_control > 1 else math.nan
    if se > 0:
        df = (vm_t + vm_c) ** 2 / (vm_t**2 / (n_arm - 1) + vm_c**2 / (n_control - 1))
        t_stat = diff / se
        p_value = float(2 * special.stdtr(df, -abs(t_stat)))
        q = float(-special.stdtrit(df, alpha / 2))
    else:
        df = t_stat = p_value = q = math.nan
    rel, rel_se, rel_ci = _rel_part(mean_arm, vm_t, mean_control, vm_c, _crit(alpha))
    return Frequentist(
        test="Welch t",
        statistic=t_stat,
        df=df,
        p_value=p_value,
        significant=bool(p_value <= alpha),
        abs_lift=diff,
        abs_se=se,
        abs_ci=Interval(diff - q * se, diff + q * se),
        rel_lift=rel,
        rel_se=rel_se,
        rel_ci=rel_ci,
    )


# --- Bayesian: Beta-Binomial -------------------------------------------------------------------


def _sum_form(p: int, q: int, r: int, s: int) -> float:
    """P(Beta(p, q) > Beta(r, s)) = Σ_{i<p} B(r+i, s+q) / ((q+i) B(1+i, q) B(r, s))."""
    total = 0.0
    for start in range(0, p, _CHUNK):
        i = np.arange(start, min(p, start + _CHUNK), dtype=np.float64)
        log_terms = (
            special.betaln(r + i, s + q)
            - np.log(q + i)
            - special.betaln(1 + i, q)
            - special.betaln(r, s)
        )
        total += float(np.exp(log_terms).sum())
    return total


def beta_prob_greater(a: int, b: int, c: int, d: int) -> float:
    """P(X > Y) for independent X ~ Beta(a, b), Y ~ Beta(c, d) with integer parameters, exactly.

    The closed form sums one term per unit of a parameter; by symmetry (complement, and 1 - X)
    it can sum over whichever of a, b, c, d is smallest, which is the conversions in practice.
    """
    a, b, c, d = (int(v) for v in (a, b, c, d))
    if min(a, b, c, d) < 1:
        raise ValueError("Beta parameters must be integers ≥ 1")
    smallest = min(a, b, c, d)
    if smallest == a:
        p = _sum_form(a, b, c, d)
    elif smallest == c:
        p = 1 - _sum_form(c, d, a, b)
    elif smallest == d:
        p = _sum_form(d, c, b, a)
    else:
        p = 1 - _sum_form(b, a, d, c)
    return min(1.0, max(0.0, p))


def beta_expected_loss(a_arm: int, b_arm: int, a_control: int, b_control: int) -> float:
    """E[max(p_c - p_t, 0)] exactly: E[p_c; p_c > p_t] - E[p_t; p_c > p_t], where each term is
    a posterior mean times P(X > Y) with that variable's first parameter raised by one."""
    m_c = a_control / (a_control + b_control)
    m_t = a_arm / (a_arm + b_arm)
    first = m_c * beta_prob_greater(a_control + 1, b_control, a_arm, b_arm)
    second = m_t * beta_prob_greater(a_control, b_control, a_arm + 1, b_arm)
    return max(0.0, first - second)


def _beta_sd(a: float, b: float) -> float:
    return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes over the central 1 - 2e-15 of Beta(a, b), weights times the pdf."""
    lo = float(special.betaincinv(a, b, _TAIL))
    hi = float(special.betaincinv(a, b, 1 - _TAIL))
    x = lo + (hi - lo) * (_GL_X + 1) / 2
    logpdf = (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - special.betaln(a, b)
    return x, _GL_W * (hi - lo) / 2 * np.exp(logpdf)


class BetaPair:
    """Posteriors Beta(a_t, b_t) of the arm and Beta(a_c, b_c) of control, and the exact CDFs
    of their difference and ratio."""

    def __init__(self, a_t: float, b_t: float, a_c: float, b_c: float) -> None:
        self.a_t, self.b_t, self.a_c, self.b_c = a_t, b_t, a_c, b_c
        self.sd_t, self.sd_c = _beta_sd(a_t, b_t), _beta_sd(a_c, b_c)
        self._t, self._c = _beta_nodes(a_t, b_t), _beta_nodes(a_c, b_c)

    def diff_cdf(self, d: float) -> float:
        """P(p_t - p_c ≤ d), integrating over the narrower posterior."""
        if self.sd_c <= self.sd_t:
            x, w = self._c
            f = special.betainc(self.a_t, self.b_t, np.clip(x + d, 0.0, 1.0))
        else:
            y, w = self._t
            f = special.betaincc(self.a_c, self.b_c, np.clip(y - d, 0.0, 1.0))
        return float(np.clip(w @ f, 0.0, 1.0))

    def ratio_cdf(self, r: float) -> float:
        """P(p_t / p_c - 1 ≤ r) = P(p_t ≤ s·p_c), s = 1 + r > 0."""
        s = 1.0 + r
        if s <= 0:
            return 0.0
        if self.sd_c * s <= self.sd_t:
            x, w = self._c
            f = special.betainc(self.a_t, self.b_t, np.clip(s * x, 0.0, 1.0))
        else:
            y, w = self._t
            f = special.betaincc(self.a_c, self.b_c, np.clip(y / s, 0.0, 1.0))
        return float(np.clip(w @ f, 0.0, 1.0))


def _invert(
    cdf: Callable[[float], float], q: float, guess: float, scale: float, lo: float, hi: float
) -> float:
    """The x with cdf(x) = q: bracket around guess ± 10·scale within [lo, hi], widening while
    needed, then Brent's method."""

    def fn(x: float) -> float:
        return cdf(x) - q

    left, right = max(lo, guess - 10 * scale), min(hi, guess + 10 * scale)
    while fn(left) > 0 and left > lo:
        left = max(lo, guess - 2 * (guess - left) - scale)
    while fn(right) < 0 and right < hi:
        right = min(hi, guess + 2 * (right - guess) + scale)
    if fn(left) > 0 or fn(right) < 0:
        return math.nan
    return float(optimize.brentq(fn, left, right, xtol=1e-12, rtol=1e-12, maxiter=200))


def beta_binomial_bayes(
    x_arm: int, n_arm: int, x_control: int, n_control: int, alpha: float = 0.05
) -> Bayesian:
    """Beta(1, 1) priors: exact chance to beat and expected losses; credible intervals by
    inverting the exact CDFs of the difference and of the relative lift."""
    a_t, b_t = 1 + int(x_arm), 1 + int(n_arm) - int(x_arm)
    a_c, b_c = 1 + int(x_control), 1 + int(n_control) - int(x_control)
    m_t, m_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
    beat = beta_prob_greater(a_t, b_t, a_c, b_c)
    loss = beta_expected_loss(a_t, b_t, a_c, b_c)
    pair = BetaPair(a_t, b_t, a_c, b_c)
    sd = math.hypot(pair.sd_t, pair.sd_c)
    d_lo = _invert(pair.diff_cdf, alpha / 2, m_t - m_c, sd, -1.0, 1.0)
    d_hi = _invert(pair.diff_cdf, 1 - alpha / 2, m_t - m_c, sd, -1.0, 1.0)
    rel_guess, rel_sd = m_t / m_c - 1, sd / m_c
    top = 1e12
    r_lo = _invert(pair.ratio_cdf, alpha / 2, rel_guess, rel_sd, -1.0, top)
    r_hi = _invert(pair.ratio_cdf, 1 - alpha / 2, rel_guess, rel_sd, -1.0, top)
    return Bayesian(
        method="Beta-Binomial, Beta(1,1) priors (exact)",
        chance_to_beat=beat,
        expected_loss=loss,
        expected_loss_control=max(0.0, loss + (m_t - m_c)),  # E[(t-c)+] - E[(c-t)+] = E[t-c]
        abs_interval=Interval(d_lo, d_hi),
        rel_interval=Interval(r_lo, r_hi),
    )


# --- Bayesian: normal approximation of means ----------------------------------------------------


def normal_bayes(
    mean_arm: float,
    var_arm: float,
    n_arm: float,
    mean_control: float,
    var_control: float,
    n_control: float,
    alpha: float = 0.05,
) -> Bayesian:
    """Each group's mean ~ N(ȳ, s²/n) (flat prior, CLT): closed forms for all but the relative
    interval, which inverts the exact CDF of the ratio of two positive normals."""
    vm_t, vm_c = var_arm / n_arm, var_control / n_control
    diff = mean_arm - mean_control
    se = math.sqrt(vm_t + vm_c) if n_arm > 1 and n_control > 1 else math.nan
    method = "normal approximation of the means (flat prior)"
    if not se > 0:
        nan = math.nan
        return Bayesian(method, nan, nan, nan, _NAN_INTERVAL, _NAN_INTERVAL)
    u = diff / se
    beat = float(special.ndtr(u))
    loss = float(se * math.exp(-u * u / 2) / math.sqrt(2 * math.pi) - diff * special.ndtr(-u))
    z = _crit(alpha)
    rel = _NAN_INTERVAL
    if mean_arm > 0 and mean_control > 0:

        def cdf(r: float) -> float:
            s = 1.0 + r
            if s <= 0:
                return 0.0
            return float(
                special.ndtr((s * mean_control - mean_arm) / math.sqrt(vm_t + s * s * vm_c))
            )

        guess, scale = mean_arm / mean_control - 1, se / mean_control
        rel = Interval(
            _invert(cdf, alpha / 2, guess, scale, -1.0, 1e12),
            _invert(cdf, 1 - alpha / 2, guess, scale, -1.0, 1e12),
        )
    return Bayesian(
        method=method,
        chance_to_beat=beat,
        expected_loss=loss,
        expected_loss_control=loss + diff,
        abs_interval=Interval(diff - z * se, diff + z * se),
        rel_interval=rel,
    )


# --- sequential ---------------------------------------------------------------------------------


def msprt(
    delta: ArrayLike, variance: ArrayLike, tau: ArrayLike, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Per look: the mSPRT p-value min(1, 1/Λ) and the half-width of the confidence sequence.

    Arrays broadcast, so a whole simulation of looks can be evaluated at once. A look with no
    variance (or no mixing scale) has p = 1 and an infinite half-width.
    """
    delta, variance, tau = (np.asarray(v, dtype=np.float64) for v in (delta, variance, tau))
    ok = (variance > 0) & (tau > 0) & np.isfinite(variance)
    v = np.where(ok, variance, 1.0)
    r = np.where(ok, tau**2 / v, 1.0)
    log_lambda = -0.5 * np.log1p(r) + delta**2 * r / (2 * v * (1 + r))
    p = np.where(ok, np.minimum(1.0, np.exp(-log_lambda)), 1.0)
    half = np.sqrt(v * (1 + r) / r * (np.log1p(r) + 2 * math.log(1 / alpha)))
    return p, np.where(ok, half, np.inf)


# --- sufficient statistics -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Stats:
    """Shifted sums per cell: n, Σ(y-c), Σ(y-c)² per metric, Σ(x-cx), Σ(x-cx)², Σ(x-cx)(y-c).

    Shifting by the overall mean first keeps one-pass variances accurate."""

    n: np.ndarray
    sy: dict[str, np.ndarray]
    syy: dict[str, np.ndarray]
    sxy: dict[str, np.ndarray]
    sx: np.ndarray | None
    sxx: np.ndarray | None
    shift: dict[str, float]
    shift_x: float

    def map(self, f: Callable[[np.ndarray], np.ndarray]) -> "_Stats":
        """The same function applied to every array (sum over an axis, cumsum, slice)."""

        def each(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: f(v) for k, v in d.items()}

        return _Stats(
            f(self.n),
            each(self.sy),
            each(self.syy),
            each(self.sxy),
            None if self.sx is None else f(self.sx),
            None if self.sxx is None else f(self.sxx),
            self.shift,
            self.shift_x,
        )

    def mean(self, metric: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.shift[metric] + self.sy[metric] / self.n

    def var(self, metric: str) -> np.ndarray:
        return _var(self.n, self.sy[metric], self.syy[metric])

    def mean_x(self) -> np.ndarray:
        assert self.sx is not None
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.shift_x + self.sx / self.n

    def var_x(self) -> np.ndarray:
        assert self.sx is not None and self.sxx is not None
        return _var(self.n, self.sx, self.sxx)

    def cov_xy(self, metric: str) -> np.ndarray:
        assert self.sx is not None
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.sxy[metric] - self.sx * self.sy[metric] / self.n) / (self.n - 1)


def _var(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum(ss - s * s / n, 0.0) / (n - 1)


def _cell_stats(
    codes: Sequence[tuple[np.ndarray, int]],
    size: int,
    metrics: Mapping[str, np.ndarray],
    covariate: np.ndarray | None,
) -> _Stats:
    """Sums per cell, where a unit's cell is Σ code·stride over `codes`.

    Rows go through in chunks of about a million so the temporaries stay small and reused
    (whole-array temporaries of 10M rows cost more in page faults than in arithmetic)."""
    n = np.zeros(size)
    shift = {name: float(y.mean()) for name, y in metrics.items()}
    cx = float(covariate.mean()) if covariate is not None else 0.0
    sy = {k: np.zeros(size) for k in metrics}
    syy = {k: np.zeros(size) for k in metrics}
    sxy = {k: np.zeros(size) for k in metrics} if covariate is not None else {}
    sx = np.zeros(size) if covariate is not None else None
    sxx = np.zeros(size) if covariate is not None else None
    rows = len(codes[0][0])
    for lo in range(0, rows, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        index = np.zeros(min(rows, lo + _CHUNK) - lo, dtype=np.intp)
        for code, stride in codes:
            index += code[sl].astype(np.intp) * stride

        def add(total: np.ndarray, w: np.ndarray | None = None, index: np.ndarray = index) -> None:
            total += np.bincount(index, weights=w, minlength=size)

        add(n)
        xc = None
        if covariate is not None and sx is not None and sxx is not None:
            xc = covariate[sl] - cx
            add(sx, xc)
            add(sxx, xc * xc)
        for name, y in metrics.items():
            yc = y[sl] - shift[name]
            add(sy[name], yc)
            add(syy[name], yc * yc)
            if xc is not None:
                add(sxy[name], xc * yc)
    return _Stats(n, sy, syy, sxy, sx, sxx, shift, cx)


# --- the analysis ---------------------------------------------------------------------------------


def _codes(values: ArrayLike) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 = missing) and their labels as text. A categorical's codes are used as
    they are (no hashing of 10M strings), in its categories' order."""
    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes)
        labels = [str(c) for c in values.categories]
    else:
        codes, uniques = pd.factorize(np.asarray(values), sort=True)
        labels = [str(u) for u in uniques]
    return codes, labels


def _counts(codes: np.ndarray, size: int) -> np.ndarray:
    """np.bincount in chunks: small codes (int8) would otherwise be widened to intp at once."""
    total = np.zeros(size, dtype=np.int64)
    for lo in range(0, len(codes), _CHUNK):
        total += np.bincount(codes[lo : lo + _CHUNK], minlength=size)
    return total


def _look_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes 0..L-1 in sorted order. Looks are usually small integers (days, batches):
    those map through a lookup table instead of a hash, keeping the codes narrow."""
    if np.issubdtype(values.dtype, np.integer) and values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo >= 0 and hi < 1 << 15:
            present = _counts(values, hi + 1) > 0
            table = (np.cumsum(present) - 1).astype(np.int16)
            return table[values], int(present.sum())
    codes, uniques = pd.factorize(values, sort=True)
    if (codes < 0).any():
        raise ValueError("look has missing values")
    return codes, len(uniques)


def _labels(values: ArrayLike) -> np.ndarray | pd.Categorical:
    """Label arrays as given; a categorical Series stays categorical (its codes are free)."""
    if isinstance(values, pd.Series):
        values = values.array
    return values if isinstance(values, pd.Categorical) else np.asarray(values)


def _numeric(values: ArrayLike, name: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if arr.shape != (n,):
        raise ValueError(f"{name} has {arr.shape[0] if arr.ndim else 0} rows, the arms have {n}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} missing or infinite values")
    return arr


def srm_check(
    observed: Mapping[str, int], weights: Mapping[str, float], *, assumed: bool = False
) -> SrmCheck:
    """Chi-square goodness of fit of the group sizes to the design (weights need not sum to 1).

    Groups with neither weight nor units are dropped; units in a group the design leaves empty
    are a mismatch outright (p = 0)."""
    labels = list(dict.fromkeys([*weights, *observed]))
    obs = np.array([observed.get(k, 0) for k in labels], dtype=np.float64)
    w = np.array([weights.get(k, 0.0) for k in labels], dtype=np.float64)
    total = obs.sum()
    expected = total * w / w.sum()
    keep = (expected > 0) | (obs > 0)
    obs, expected, kept = (
        obs[keep],
        expected[keep],
        [k for k, m in zip(labels, keep, strict=True) if m],
    )
    df = len(kept) - 1
    if df < 1 or total == 0:
        stat, p = 0.0, 1.0
    elif ((expected == 0) & (obs > 0)).any():
        stat, p = math.inf, 0.0
    else:
        stat = float(((obs - expected) ** 2 / expected).sum())
        p = float(special.chdtrc(df, stat))
    return SrmCheck(
        observed={k: int(o) for k, o in zip(kept, obs, strict=True)},
        expected={k: float(e) for k, e in zip(kept, expected, strict=True)},
        statistic=stat,
        df=max(df, 0),
        p_value=p,
        mismatch=bool(p < SRM_P_THRESHOLD),
        weights_assumed=assumed,
    )


def _srm_warning(srm: SrmCheck, scope: str) -> str:
    obs = ", ".join(f"{k} {v:,}" for k, v in srm.observed.items())
    exp = ", ".join(f"{k} {v:,.0f}" for k, v in srm.expected.items())
    return (
        f"SAMPLE RATIO MISMATCH{scope}: the arm sizes ({obs}) do not match the design "
        f"(expected {exp}; chi-square {srm.statistic:.1f}, p = {srm.p_value:.2g} < "
        f"{SRM_P_THRESHOLD}). Assignment or logging is broken; do not trust these results."
    )


def sequential_looks(
    kind: Kind,
    n_arm: ArrayLike,
    mean_arm: ArrayLike,
    var_arm: ArrayLike,
    n_control: ArrayLike,
    mean_control: ArrayLike,
    var_control: ArrayLike,
    *,
    alpha: float = 0.05,
    mixing_effect: float = MIXING_EFFECT,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mSPRT at each look from the cumulative group statistics at that look (arrays broadcast,
    so many simulated experiments go at once): p-value, interval low and high, and τ.

    Proportions use p(1 - p) as the unit variance (the `var_*` arguments are ignored), means
    the given ddof=1 variances; τ = mixing_effect · pooled within-group SD at the look. Take the
    running minimum of p (and the running intersection of the intervals) over the looks.
    """
    n_t, m_t, n_c, m_c = (
        np.asarray(a, dtype=np.float64) for a in (n_arm, mean_arm, n_control, mean_control)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "proportion":
            v_t, v_c = m_t * (1 - m_t), m_c * (1 - m_c)
            pooled = (n_t * v_t + n_c * v_c) / (n_t + n_c)
        else:
            v_t, v_c = (
                np.asarray(var_arm, dtype=np.float64),
                np.asarray(var_control, dtype=np.float64),
            )
            pooled = ((n_t - 1) * v_t + (n_c - 1) * v_c) / (n_t + n_c - 2)
        variance = v_t / n_t + v_c / n_c
    tau = mixing_effect * np.sqrt(np.nan_to_num(pooled))
    delta = m_t - m_c
    p, half = msprt(delta, np.nan_to_num(variance), tau, alpha)
    return p, delta - half, delta + half, tau


def _sequential(
    kind: Kind,
    cum: _Stats,
    metric: str,
    t: int,
    c: int,
    alpha: float,
    mixing_effect: float,
) -> Sequential:
    """mSPRT at every look (cumulative stats, rows = looks), running min p / intersected CS."""
    n, mean, var = cum.n, cum.mean(metric), cum.var(metric)
    use = (n[:, t] >= SEQUENTIAL_BURN_IN) & (n[:, c] >= SEQUENTIAL_BURN_IN)
    use[-1] = True  # the latest look always counts
    p, low, high, tau = sequential_looks(
        kind,
        n[use, t],
        mean[use, t],
        var[use, t],
        n[use, c],
        mean[use, c],
        var[use, c],
        alpha=alpha,
        mixing_effect=mixing_effect,
    )
    lo, hi = float(np.max(low)), float(np.min(high))
    if lo > hi:  # the running intersection emptied: the model is off; fall back to the latest
        lo, hi = float(low[-1]), float(high[-1])
    p_value = float(p.min())
    return Sequential(
        method="mSPRT, normal mixture (always-valid p-value, confidence sequence)",
        mixing_effect=mixing_effect,
        tau=float(tau[-1]),
        p_value=p_value,
        significant=p_value <= alpha,
        confidence_sequence=Interval(lo, hi),
        looks=int(use.sum()),
    )


def _cuped(kind: Kind, final: _Stats, metric: str, t: int, c: int, alpha: float) -> Cuped:
    pooled = final.map(lambda a: a.sum(axis=-1, keepdims=True))
    var_x = float(pooled.var_x()[0])
    cov = float(pooled.cov_xy(metric)[0])
    var_y = float(pooled.var(metric)[0])
    theta = cov / var_x if var_x > 0 else 0.0
    corr = cov / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else math.nan
    x_bar = float(pooled.mean_x()[0])
    n, mean, var = final.n, final.mean(metric), final.var(metric)
    mean_x, var_x_g, cov_g = final.mean_x(), final.var_x(), final.cov_xy(metric)
    adj_mean = mean - theta * (mean_x - x_bar)
    adj_var = np.maximum(var - 2 * theta * cov_g + theta**2 * var_x_g, 0.0)
    test = welch_ttest(adj_mean[t], adj_var[t], n[t], adj_mean[c], adj_var[c], n[c], alpha)
    raw = var[t] / n[t] + var[c] / n[c]
    reduction = 1 - (adj_var[t] / n[t] + adj_var[c] / n[c]) / raw if raw > 0 else math.nan
    return Cuped(
        theta=theta,
        correlation=corr,
        variance_reduction=float(reduction),
        mean_arm=float(adj_mean[t]),
        mean_control=float(adj_mean[c]),
        frequentist=test,
    )


def _compare(
    kind: Kind,
    looks: _Stats,
    metric: str,
    labels: list[str],
    t: int,
    c: int,
    alpha: float,
    mixing_effect: float,
) -> Comparison:
    cum = looks.map(lambda a: np.cumsum(a, axis=0))
    final = cum.map(lambda a: a[-1])
    n_t, n_c = float(final.n[t]), float(final.n[c])
    m, v = final.mean(metric), final.var(metric)
    if kind == "proportion":
        x_t, x_c = round(m[t] * n_t), round(m[c] * n_c)
        freq = two_proportion_ztest(x_t, n_t, x_c, n_c, alpha)
        bayes = beta_binomial_bayes(x_t, int(n_t), x_c, int(n_c), alpha)
    else:
        freq = welch_ttest(m[t], v[t], n_t, m[c], v[c], n_c, alpha)
        bayes = normal_bayes(m[t], v[t], n_t, m[c], v[c], n_c, alpha)
    return Comparison(
        metric=metric,
        kind=kind,
        arm=labels[t],
        control=labels[c],
        n_arm=int(n_t),
        n_control=int(n_c),
        mean_arm=float(m[t]),
        mean_control=float(m[c]),
        frequentist=freq,
        bayesian=bayes,
        sequential=_sequential(kind, cum, metric, t, c, alpha, mixing_effect),
        cuped=None if final.sx is None else _cuped(kind, final, metric, t, c, alpha),
    )


@dataclass(frozen=True)
class _Scope:
    n: int
    groups: list[GroupSummary]
    comparisons: list[Comparison]
    srm: SrmCheck
    warnings: list[str]


def _analyze_scope(
    looks: _Stats,
    labels: list[str],
    order: list[int],
    control: int,
    kinds: Mapping[str, Kind],
    shares: Mapping[str, float],
    assumed: bool,
    alpha: float,
    mixing_effect: float,
    where: str,
) -> _Scope:
    """Everything for one scope; `looks` holds per-look (rows) × group (columns) sums."""
    final = looks.map(lambda a: a.sum(axis=0))
    sizes = {labels[g]: int(final.n[g]) for g in order}
    total = sum(sizes.values())
    srm = srm_check({k: v for k, v in sizes.items() if v > 0}, shares, assumed=assumed)
    warnings = [_srm_warning(srm, where)] if srm.mismatch else []
    groups = [
        GroupSummary(
            arm=labels[g],
            n=sizes[labels[g]],
            share=sizes[labels[g]] / total if total else math.nan,
            designed_share=shares.get(labels[g], 0.0),
            means={k: float(final.mean(k)[g]) for k in kinds},
        )
        for g in order
    ]
    comparisons = []
    n_c = sizes[labels[control]]
    if n_c < 2:
        warnings.append(f"control {labels[control]!r}{where} has {n_c} units: nothing to compare")
    for g in order:
        if g == control or n_c < 2:
            continue
        if sizes[labels[g]] < 2:
            warnings.append(f"arm {labels[g]!r}{where} has {sizes[labels[g]]} units: left out")
            continue
        for metric, kind in kinds.items():
            comp = _compare(kind, looks, metric, labels, g, control, alpha, mixing_effect)
            comparisons.append(comp)
            if kind == "proportion":
                few = [
                    (lab, n, x)
                    for lab, n, x in (
                        (comp.arm, comp.n_arm, comp.mean_arm * comp.n_arm),
                        (comp.control, comp.n_control, comp.mean_control * comp.n_control),
                    )
                    if min(x, n - x) < MIN_CONVERSIONS - 1e-9
                ]
                for lab, n, x in few:
                    msg = (
                        f"{metric}{where}: {lab!r} has {round(x)} of {n} converted; with fewer "
                        f"than {MIN_CONVERSIONS} on either side the z-test is unreliable"
                    )
                    if msg not in warnings:
                        warnings.append(msg)
    if final.sx is not None and not (final.var_x().sum() > 0):
        warnings.append(f"the covariate has no variance{where}: CUPED changes nothing")
    return _Scope(total, groups, comparisons, srm, warnings)


def _detect_kind(name: str, y: np.ndarray, binary: Collection[str] | None) -> Kind:
    is01 = bool(((y == 0.0) | (y == 1.0)).all())
    if binary is None:
        return "proportion" if is01 else "mean"
    if name in binary:
        if not is01:
            raise ValueError(f"{name} is analysed as a conversion but has values other than 0/1")
        return "proportion"
    return "mean"


def analyze(
    arm: ArrayLike,
    metrics: Mapping[str, ArrayLike],
    *,
    control: Hashable,
    binary: Collection[str] | None = None,
    covariate: ArrayLike | None = None,
    segment: ArrayLike | None = None,
    look: ArrayLike | None = None,
    weights: Mapping[Hashable, float] | None = None,
    alpha: float = 0.05,
    mixing_effect: float = MIXING_EFFECT,
) -> ExperimentResult:
    """Every group against `control` on every metric, overall and (with `segment`) per segment.

    arm: the group of each unit (labels are compared as text). metrics: name → values per unit;
    those named in `binary` are 0/1 conversions (None: any metric whose values are all 0/1).
    covariate: pre-period values for CUPED. look: the batch each unit arrived in (any sortable
    values; earlier looks see only earlier batches) for the sequential test; None = one look.
    weights: the designed allocation (group → weight, holdout included) for the SRM check;
    None assumes equal weights and says so.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if mixing_effect <= 0:
        raise ValueError("mixing_effect must be positive")
    if not metrics:
        raise ValueError("give at least one metric")
    arm_values = _labels(arm)
    n = len(arm_values)
    if n == 0:
        raise ValueError("no units to analyse")
    if pd.isna(arm_values).any():
        raise ValueError(f"{int(pd.isna(arm_values).sum())} units have no arm")
    g_codes, labels = _codes(arm_values)
    sizes = _counts(g_codes, len(labels))
    present = [lab for lab, k in zip(labels, sizes, strict=True) if k]
    if len(present) < 2:
        raise ValueError(f"only one arm ({present[0]!r}) has units: an experiment needs two")
    control = str(control)
    if control not in present:
        raise ValueError(f"control {control!r} is not among the arms: {', '.join(present)}")
    ys = {name: _numeric(v, name, n) for name, v in metrics.items()}
    kinds = {name: _detect_kind(name, y, binary) for name, y in ys.items()}
    x = None if covariate is None else _numeric(covariate, "covariate", n)

    if weights is None:
        shares = {lab: 1 / len(labels) for lab in labels}
        assumed = True
    else:
        w = {str(k): float(v) for k, v in weights.items()}
        if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        shares = {k: v / sum(w.values()) for k, v in w.items()}
        assumed = False
    design = [lab for lab in shares if lab in labels]
    order_labels = [control] + [lab for lab in design if lab != control]
    order_labels += sorted(lab for lab in labels if lab not in order_labels)
    order = [labels.index(lab) for lab in order_labels]
    c = labels.index(control)

    if segment is not None:
        seg_values = _labels(segment)
        if len(seg_values) != n:
            raise ValueError(f"segment has {len(seg_values)} rows, the arms have {n}")
        s_codes, s_labels = _codes(seg_values)
        if (s_codes < 0).any():
            s_labels = [*s_labels, UNKNOWN_SEGMENT]
            s_codes = np.where(s_codes < 0, len(s_labels) - 1, s_codes)
    else:
        s_codes, s_labels = None, [""]
    if look is not None:
        look_values = np.asarray(look)
        if len(look_values) != n:
            raise ValueError(f"look has {len(look_values)} rows, the arms have {n}")
        l_codes, n_looks = _look_codes(look_values)
    else:
        l_codes, n_looks = None, 1

    G, L, S = len(labels), n_looks, len(s_labels)
    codes = [(g_codes, 1)]
    if l_codes is not None:
        codes.append((l_codes, G))
    if s_codes is not None:
        codes.append((s_codes, L * G))
    cells = _cell_stats(codes, S * L * G, ys, x).map(lambda a: a.reshape(S, L, G))

    def scope(stats_: _Stats, where: str) -> _Scope:
        return _analyze_scope(
            stats_, labels, order, c, kinds, shares, assumed, alpha, mixing_effect, where
        )

    overall = scope(cells.map(lambda a: a.sum(axis=0)), "")
    segments = None
    if segment is not None:
        segments = []
        for i, lab in enumerate(s_labels):
            part = cells.map(lambda a, i=i: a[i])
            if part.n.sum() == 0:
                continue
            sc = scope(part, f" (segment {lab})")
            segments.append(
                SegmentResult(lab, sc.n, sc.groups, sc.comparisons, sc.srm, sc.warnings)
            )
    return ExperimentResult(
        control=control,
        alpha=alpha,
        metrics=dict(kinds),
        n=overall.n,
        groups=overall.groups,
        comparisons=overall.comparisons,
        srm=overall.srm,
        warnings=overall.warnings,
        segments=segments,
    )


def designed_shares(
    arm_weights: Mapping[str, float], holdout_fraction: float, holdout: str | None
) -> dict[str, float]:
    """The designed share of each group: the holdout first, the arms split the rest by weight."""
    total = sum(arm_weights.values())
    shares = {name: (1 - holdout_fraction) * w / total for name, w in arm_weights.items()}
    if holdout is not None:
        shares[holdout] = holdout_fraction
    return shares


__all__: Sequence[str] = (
    "Bayesian",
    "BetaPair",
    "Comparison",
    "Cuped",
    "ExperimentResult",
    "Frequentist",
    "GroupSummary",
    "Interval",
    "SegmentResult",
    "Sequential",
    "SrmCheck",
    "analyze",
    "beta_binomial_bayes",
    "beta_expected_loss",
    "beta_prob_greater",
    "designed_shares",
    "msprt",
    "normal_bayes",
    "relative_lift",
    "sequential_looks",
    "srm_check",
    "two_proportion_ztest",
    "welch_ttest",
)
