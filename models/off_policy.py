"""Off-policy evaluation: what a new policy would have earned, estimated from the logs of the old
one, so a recommender change can be judged before it is shipped to anyone.

Plain functions over arrays, one entry per logged row (an exposure): the reward seen, the
logging policy's probability of the action it took (`logging_propensity`), and the new policy's
probability of that same action (`target_propensity`). Nothing here knows about customers,
campaigns or models, so any logged bandit data works, slates included.

Confidence intervals are normal approximations: each estimator is a mean of per-row terms (or,
for SNIPS, a ratio of two means), the rows are taken as i.i.d., and the interval is
`value ± z(1 - alpha/2) · stderr` with `stderr = sd(terms, ddof=1) / sqrt(n)`. They are honest
only when there is enough overlap between the two policies; a small `effective_sample_size`
(a few dozen, or a small fraction of `n`) says a handful of heavily weighted rows dominate and
the interval is too optimistic. With a single row the stderr (and so the interval) is NaN.

`clip` caps the importance weights at `clip`, trading variance for bias: the estimator then
targets `E[min(w, clip) · r]`, which for non-negative rewards is below the true value (rows the
new policy favours far more than the old one are under-counted), and the interval is centred on
that biased quantity, so it does not cover the bias. Doubly robust clips only the correction
term, so its bias is the clipped share of the reward model's error, not of the reward.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

PROBS_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PolicyValue:
    """An estimate of a policy's mean reward per row, with a (1 - alpha) confidence interval."""

    estimator: str
    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    effective_sample_size: float


# --- validation -------------------------------------------------------------------------------


def _array(x: ArrayLike, name: str, ndim: int) -> np.ndarray:
    """Float array of the given rank, non-empty and finite, or a ValueError naming `name`."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one logged row")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _probabilities(x: ArrayLike, name: str, ndim: int, *, positive: bool) -> np.ndarray:
    """Logging propensities must be > 0 (we divide by them); target ones may be 0."""
    arr = _array(x, name, ndim)
    ok = ((arr > 0) if positive else (arr >= 0)) & (arr <= 1)
    if not ok.all():
        interval = "(0, 1]" if positive else "[0, 1]"
        raise ValueError(
            f"{name} must be in {interval}; {int((~ok).sum())} value(s) are not, "
            f"e.g. {arr[~ok][0]!r}"
        )
    return arr


def _same_rows(**arrays: np.ndarray) -> None:
    lengths = {name: arr.shape[0] for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"inputs must have the same number of rows, got {detail}")


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(norm.ppf(1 - alpha / 2))


def _policy_probs(policy_probs: ArrayLike, name: str) -> np.ndarray:
    probs = _probabilities(policy_probs, name, 2, positive=False)
    off = np.abs(probs.sum(axis=1) - 1) > PROBS_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"rows of {name} must sum to 1 (within {PROBS_SUM_TOLERANCE:g}); "
            f"{int(off.sum())} do not, e.g. row {row} sums to {probs[row].sum()!r}"
        )
    return probs


def _actions(actions: ArrayLike, n_rows: int, n_actions: int) -> np.ndarray:
    arr = np.asarray(actions)
    if arr.ndim != 1:
        raise ValueError(f"actions must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"actions has {arr.shape[0]} rows but the policy probabilities {n_rows}")
    if not np.issubdtype(arr.dtype, np.integer):
        as_float = _array(arr, "actions", 1)
        if (as_float != np.round(as_float)).any():
            raise ValueError("actions must be integer action indices")
        arr = as_float.astype(np.int64)
    bad = (arr < 0) | (arr >= n_actions)
    if bad.any():
        raise ValueError(f"actions must be indices in [0, {n_actions}); found {int(arr[bad][0])}")
    return arr


def _weights(
    logging_propensity: ArrayLike, target_propensity: ArrayLike, clip: float | None
) -> np.ndarray:
    mu = _probabilities(logging_propensity, "logging_propensity", 1, positive=True)
    pi = _probabilities(target_propensity, "target_propensity", 1, positive=False)
    _same_rows(logging_propensity=mu, target_propensity=pi)
    w = pi / mu
    if clip is not None:
        if not clip > 0:  # also rejects NaN
            raise ValueError(f"clip must be a positive number or None, got {clip!r}")
        w = np.minimum(w, clip)
    return w


# --- summaries --------------------------------------------------------------------------------


def _ess(weights: np.ndarray) -> float:
    """Kish's effective sample size: how many equally weighted rows the estimate is worth."""
    sum_sq = float(np.sum(weights**2))
    return float(np.sum(weights)) ** 2 / sum_sq if sum_sq > 0 else 0.0


def _stderr(terms: np.ndarray) -> float:
    n = terms.shape[0]
    return float(np.std(terms, ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def _result(
    estimator: str, value: float, stderr: float, z: float, n: int, ess: float
) -> PolicyValue:
    return PolicyValue(
        estimator=estimator,
        value=float(value),
        stderr=float(stderr),
        ci_low=float(value - z * stderr),
        ci_high=float(value + z * stderr),
        n=int(n),
        effective_sample_size=float(ess),
    )


def _mean_of_terms(estimator: str, terms: np.ndarray, weights: np.ndarray, z: float) -> PolicyValue:
    return _result(estimator, np.mean(terms), _stderr(terms), z, terms.shape[0], _ess(weights))


# --- estimators -------------------------------------------------------------------------------


def ips(
    reward: ArrayLike,
    logging_propensity: ArrayLike,
    target_propensity: ArrayLike,
    *,
    alpha: float = 0.05,
    clip: float | None = None,
) -> PolicyValue:
    """Inverse propensity scoring, `mean(w · r)` with `w = pi / mu`: unbiased whenever the logging
    policy gave every action the new policy can take a non-zero chance, but high-variance when
    the two policies disagree. `clip` caps `w` (biased, see the module docstring)."""
    z = _z(alpha)
    w = _weights(logging_propensity, target_propensity, clip)
    r = _array(reward, "reward", 1)
    _same_rows(reward=r, logging_propensity=w)
    return _mean_of_terms("ips", w * r, w, z)


def snips(
    reward: ArrayLike,
    logging_propensity: ArrayLike,
    target_propensity: ArrayLike,
    *,
    alpha: float = 0.05,
) -> PolicyValue:
    """Self-normalised IPS, `sum(w · r) / sum(w)`: a weighted mean of observed rewards, so it stays
    inside the reward range and does not care about a constant factor in the propensities
    (e.g. propensities logged up to normalisation); biased by O(1/n) in exchange for much less
    variance than IPS.

    The stderr is the delta-method (ratio-estimator) one,
    `sqrt(sum(w² (r - V)²) / (n (n - 1))) / mean(w)`. If the new policy gives zero probability to
    every logged action, the logs say nothing about it and the value is NaN."""
    z = _z(alpha)
    w = _weights(logging_propensity, target_propensity, None)
    r = _array(reward, "reward", 1)
    _same_rows(reward=r, logging_propensity=w)
    n, total = r.shape[0], float(np.sum(w))
    if total == 0:
        return _result("snips", math.nan, math.nan, z, n, 0.0)
    value = float(np.sum(w * r)) / total
    # w (r - V) has mean exactly 0, so its ddof=1 variance is this sum over n - 1.
    residual = w * (r - value)
    stderr = _stderr(residual) / (total / n)
    return _result("snips", value, stderr, z, n, _ess(w))


def direct_method(reward_hat_target: ArrayLike, *, alpha: float = 0.05) -> PolicyValue:
    """The reward model's own answer, `mean_i sum_a pi(a|x_i) q_hat(x_i, a)`: low variance, but
    exactly as biased as the model. Its interval reflects only which contexts were sampled, not
    the model's error, so it can be confidently wrong; use it as a baseline next to DR.

    There are no importance weights, so the effective sample size is `n`."""
    z = _z(alpha)
    terms = _array(reward_hat_target, "reward_hat_target", 1)
    return _mean_of_terms("direct", terms, np.ones_like(terms), z)


def doubly_robust(
    reward: ArrayLike,
    logging_propensity: ArrayLike,
    target_propensity: ArrayLike,
    reward_hat_logged: ArrayLike,
    reward_hat_target: ArrayLike,
    *,
    alpha: float = 0.05,
    clip: float | None = None,
) -> PolicyValue:
    """Direct method plus an IPS correction of the model's error on the logged action,
    `mean(q_hat_target + w · (r - q_hat_logged))`: unbiased if either the propensities or the
    reward model are right, and the better the model, the smaller the variance. With
    `q_hat = 0` it is IPS."""
    z = _z(alpha)
    w = _weights(logging_propensity, target_propensity, clip)
    r = _array(reward, "reward", 1)
    q_logged = _array(reward_hat_logged, "reward_hat_logged", 1)
    q_target = _array(reward_hat_target, "reward_hat_target", 1)
    _same_rows(
        reward=r,
        logging_propensity=w,
        reward_hat_logged=q_logged,
        reward_hat_target=q_target,
    )
    return _mean_of_terms("dr", q_target + w * (r - q_logged), w, z)


def slate_pseudo_inverse(
    reward: ArrayLike,
    logging_marginals: ArrayLike,
    target_marginals: ArrayLike,
    *,
    alpha: float = 0.05,
) -> PolicyValue:
    """Pseudo-inverse estimator for slates of L positions (Swaminathan et al., 2017), with one
    reward per slate: `mean(r · (sum_l pi_l / mu_l - L + 1))`.

    `logging_marginals[i, l]` / `target_marginals[i, l]` are the logging / new policy's
    probabilities of putting the item logged at position l in row i at position l. Weighting
    each position separately rather than the whole slate keeps the weights (and the variance)
    linear in L instead of exponential. It is unbiased when the slate reward is additive over
    positions and the logging policy fills positions independently given the context; otherwise
    it is biased by how far those assumptions are off. The per-row weights can be negative, so
    the effective sample size is only a rough guide here. With L = 1 it is IPS."""
    z = _z(alpha)
    r = _array(reward, "reward", 1)
    mu = _probabilities(logging_marginals, "logging_marginals", 2, positive=True)
    pi = _probabilities(target_marginals, "target_marginals", 2, positive=False)
    if mu.shape != pi.shape:
        raise ValueError(
            f"logging_marginals and target_marginals must have the same shape (n, L), "
            f"got {mu.shape} and {pi.shape}"
        )
    _same_rows(reward=r, logging_marginals=mu)
    n_positions = mu.shape[1]
    w = np.sum(pi / mu, axis=1) - (n_positions - 1)
    return _mean_of_terms("pseudo_inverse", w * r, w, z)


# --- helpers for policies given as per-action probabilities ------------------------------------


def target_propensities(policy_probs: ArrayLike, actions: ArrayLike) -> np.ndarray:
    """`pi(a_i | x_i)`: the new policy's probability of the action actually logged in each row,
    from its full (n, n_actions) probability table."""
    probs = _policy_probs(policy_probs, "policy_probs")
    a = _actions(actions, *probs.shape)
    return probs[np.arange(probs.shape[0]), a]


def expected_reward_under(policy_probs: ArrayLike, reward_hat: ArrayLike) -> np.ndarray:
    """`sum_a pi(a | x_i) q_hat(x_i, a)` per row: the reward model's prediction for the new
    policy, the `reward_hat_target` of the direct and doubly robust estimators."""
    probs = _policy_probs(policy_probs, "policy_probs")
    q = _array(reward_hat, "reward_hat", 2)
    if q.shape != probs.shape:
        raise ValueError(
            f"reward_hat must have the same shape as policy_probs (n, n_actions), "
            f"got {q.shape} and {probs.shape}"
        )
    return np.sum(probs * q, axis=1)


def evaluate_all(
    reward: ArrayLike,
    logging_propensity: ArrayLike,
    target_probs: ArrayLike,
    actions: ArrayLike,
    reward_hat: ArrayLike,
    *,
    alpha: float = 0.05,
) -> dict[str, PolicyValue]:
    """IPS, SNIPS, DR and the direct method side by side, from the new policy's full probability
    table and a reward model's (n, n_actions) predictions; their disagreement is itself a
    diagnostic (e.g. direct far from DR means the reward model is off)."""
    probs = _policy_probs(target_probs, "target_probs")
    a = _actions(actions, *probs.shape)
    q = _array(reward_hat, "reward_hat", 2)
    if q.shape != probs.shape:
        raise ValueError(
            f"reward_hat must have the same shape as target_probs (n, n_actions), "
            f"got {q.shape} and {probs.shape}"
        )
    rows = np.arange(probs.shape[0])
    pi, q_logged, q_target = probs[rows, a], q[rows, a], np.sum(probs * q, axis=1)
    return {
        "ips": ips(reward, logging_propensity, pi, alpha=alpha),
        "snips": snips(reward, logging_propensity, pi, alpha=alpha),
        "dr": doubly_robust(reward, logging_propensity, pi, q_logged, q_target, alpha=alpha),
        "direct": direct_method(q_target, alpha=alpha),
    }
