"""Off-policy estimators: hand-computed values on tiny logs, properties, and coverage on
synthetic bandits whose true target-policy value is known exactly."""

import dataclasses
import math

import numpy as np
import pytest

from models.off_policy import (
    PolicyValue,
    direct_method,
    doubly_robust,
    evaluate_all,
    expected_reward_under,
    ips,
    slate_pseudo_inverse,
    snips,
    target_propensities,
)

Z95 = 1.959963984540054  # Phi^-1(0.975)

# A three-row log used by the hand-computed tests.
R = np.array([1.0, 0.0, 1.0])
MU = np.array([0.5, 0.25, 0.5])  # logging propensity of the logged action
PI = np.array([1.0, 0.5, 0.25])  # target propensity of the logged action
# w = PI / MU = [2, 2, 0.5]


# --- hand-computed values ---------------------------------------------------------------------


def test_ips_by_hand() -> None:
    est = ips(R, MU, PI)
    # terms w*r = [2, 0, 0.5]; mean = 2.5 / 3 = 5/6
    assert est.value == pytest.approx(5 / 6)
    # deviations from 5/6: [7/6, -5/6, -1/3]; squares 49/36 + 25/36 + 4/36 = 78/36 = 13/6
    # sample variance = (13/6) / 2 = 13/12; stderr = sqrt(13/12 / 3) = sqrt(13) / 6
    assert est.stderr == pytest.approx(math.sqrt(13) / 6)
    # 95% half-width = 1.96 * sqrt(13)/6 ~= 1.1778
    assert est.ci_high - est.value == pytest.approx(Z95 * math.sqrt(13) / 6)
    assert est.value - est.ci_low == pytest.approx(Z95 * math.sqrt(13) / 6)
    # ESS = (2 + 2 + 0.5)^2 / (4 + 4 + 0.25) = 20.25 / 8.25
    assert est.effective_sample_size == pytest.approx(20.25 / 8.25)
    assert (est.estimator, est.n) == ("ips", 3)


def test_ips_alpha_sets_the_half_width() -> None:
    # alpha = 0.1 -> z = Phi^-1(0.95) = 1.644854
    est = ips(R, MU, PI, alpha=0.1)
    assert est.ci_high - est.value == pytest.approx(1.6448536269514722 * math.sqrt(13) / 6)


def test_ips_clip_by_hand() -> None:
    # clip 1.5: w = [1.5, 1.5, 0.5]; terms = [1.5, 0, 0.5]; mean = 2 / 3
    est = ips(R, MU, PI, clip=1.5)
    assert est.value == pytest.approx(2 / 3)
    # ESS = 3.5^2 / (2.25 + 2.25 + 0.25) = 12.25 / 4.75
    assert est.effective_sample_size == pytest.approx(12.25 / 4.75)


def test_snips_by_hand() -> None:
    est = snips(R, MU, PI)
    # sum(w r) / sum(w) = 2.5 / 4.5 = 5/9
    assert est.value == pytest.approx(5 / 9)
    # w (r - 5/9) = [2*4/9, 2*(-5/9), 0.5*4/9] = [8/9, -10/9, 2/9]; squares sum to 168/81
    # var = (168/81) / 2 = 84/81; stderr = sqrt(84/81 / 3) / mean(w) = (sqrt(28)/9) / 1.5
    assert est.stderr == pytest.approx(math.sqrt(28) / 9 / 1.5)
    assert est.ci_high - est.value == pytest.approx(Z95 * math.sqrt(28) / 13.5)
    assert est.effective_sample_size == pytest.approx(20.25 / 8.25)


def test_direct_method_by_hand() -> None:
    est = direct_method([0.6, 0.4, 0.5])
    # mean = 1.5 / 3 = 0.5; deviations [0.1, -0.1, 0]; var = 0.02 / 2 = 0.01; sd = 0.1
    assert est.value == pytest.approx(0.5)
    assert est.stderr == pytest.approx(0.1 / math.sqrt(3))
    assert est.effective_sample_size == pytest.approx(3.0)  # no reweighting


def test_doubly_robust_by_hand() -> None:
    q_logged = np.array([0.5, 0.5, 0.5])
    q_target = np.array([0.6, 0.4, 0.5])
    est = doubly_robust(R, MU, PI, q_logged, q_target)
    # terms = q_target + w (r - q_logged):
    #   0.6 + 2 * 0.5 = 1.6;  0.4 + 2 * (-0.5) = -0.6;  0.5 + 0.5 * 0.5 = 0.75
    # mean = 1.75 / 3 = 7/12
    assert est.value == pytest.approx(7 / 12)
    terms = np.array([1.6, -0.6, 0.75])
    assert est.stderr == pytest.approx(np.std(terms, ddof=1) / math.sqrt(3))
    assert est.estimator == "dr"


def test_slate_pseudo_inverse_by_hand() -> None:
    reward = [1.0, 2.0, 0.0]
    logging = [[0.5, 0.5], [0.5, 0.25], [1.0, 0.5]]
    target = [[1.0, 0.5], [0.25, 0.5], [0.5, 0.5]]
    est = slate_pseudo_inverse(reward, logging, target)
    # per-row weight = sum_l target/logging - L + 1 (L = 2):
    #   2 + 1 - 1 = 2;  0.5 + 2 - 1 = 1.5;  0.5 + 1 - 1 = 0.5
    # terms = r * w = [2, 3, 0]; mean = 5/3
    assert est.value == pytest.approx(5 / 3)
    assert est.stderr == pytest.approx(np.std([2, 3, 0], ddof=1) / math.sqrt(3))
    # ESS = (2 + 1.5 + 0.5)^2 / (4 + 2.25 + 0.25) = 16 / 6.5
    assert est.effective_sample_size == pytest.approx(16 / 6.5)
    assert est.estimator == "pseudo_inverse"


def test_policy_table_helpers_by_hand() -> None:
    probs = [[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]]
    q = [[1.0, 0.0], [0.2, 0.4], [0.3, 0.9]]
    np.testing.assert_allclose(target_propensities(probs, [1, 0, 1]), [0.8, 0.5, 0.0])
    # 0.2*1 + 0.8*0 = 0.2;  0.5*0.2 + 0.5*0.4 = 0.3;  1*0.3 + 0*0.9 = 0.3
    np.testing.assert_allclose(expected_reward_under(probs, q), [0.2, 0.3, 0.3])


def test_evaluate_all_wires_the_table_through() -> None:
    probs = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    q = np.array([[1.0, 0.0], [0.2, 0.4], [0.3, 0.9]])
    actions = np.array([1, 0, 0])
    reward, mu = np.array([1.0, 0.0, 1.0]), np.array([0.4, 0.5, 0.9])
    out = evaluate_all(reward, mu, probs, actions, q)
    assert set(out) == {"ips", "snips", "dr", "direct"}
    pi = np.array([0.8, 0.5, 1.0])
    q_target = np.array([0.2, 0.3, 0.3])
    expected = {
        "ips": ips(reward, mu, pi),
        "snips": snips(reward, mu, pi),
        "dr": doubly_robust(reward, mu, pi, np.array([0.0, 0.2, 0.3]), q_target),
        "direct": direct_method(q_target),
    }
    for name, est in out.items():
        assert isinstance(est, PolicyValue)
        assert est.estimator == expected[name].estimator
        assert dataclasses.astuple(est)[1:] == pytest.approx(
            dataclasses.astuple(expected[name])[1:]
        )


# --- properties -------------------------------------------------------------------------------


def test_on_policy_ips_and_snips_are_the_mean_reward() -> None:
    rng = np.random.default_rng(0)
    reward = rng.normal(size=50)
    mu = rng.uniform(0.05, 1.0, size=50)
    assert ips(reward, mu, mu).value == np.mean(reward)
    assert snips(reward, mu, mu).value == np.mean(reward)
    assert ips(reward, mu, mu).effective_sample_size == pytest.approx(50)


def test_snips_ignores_a_constant_factor_in_the_propensities() -> None:
    rng = np.random.default_rng(1)
    reward = rng.binomial(1, 0.3, size=40).astype(float)
    mu = rng.uniform(0.2, 1.0, size=40)
    pi = rng.uniform(0.0, 1.0, size=40)
    a, b = snips(reward, mu, pi), snips(reward, mu * 0.5, pi)
    assert b.value == pytest.approx(a.value)
    assert b.stderr == pytest.approx(a.stderr)
    assert ips(reward, mu * 0.5, pi).value == pytest.approx(2 * ips(reward, mu, pi).value)


def test_dr_with_a_perfect_model_is_exact() -> None:
    rng = np.random.default_rng(2)
    n, q = 200, np.array([0.2, 0.5, 0.9])  # deterministic reward of each action
    logging = rng.dirichlet([1.0, 1.0, 1.0], size=n) * 0.97 + 0.01  # rows sum to 1
    actions = np.array([rng.choice(3, p=p) for p in logging])
    target = np.tile([0.1, 0.3, 0.6], (n, 1))
    true_value = 0.1 * 0.2 + 0.3 * 0.5 + 0.6 * 0.9
    rows = np.arange(n)
    est = doubly_robust(
        q[actions], logging[rows, actions], target[rows, actions], q[actions], target @ q
    )
    assert est.value == pytest.approx(true_value)
    assert est.stderr == pytest.approx(0.0, abs=1e-12)
    assert ips(q[actions], logging[rows, actions], target[rows, actions]).stderr > 0.01


def test_dr_with_a_zero_model_is_ips() -> None:
    zeros = np.zeros(3)
    for clip in (None, 1.5):
        dr = doubly_robust(R, MU, PI, zeros, zeros, clip=clip)
        ref = ips(R, MU, PI, clip=clip)
        assert dr.value == pytest.approx(ref.value)
        assert dr.stderr == pytest.approx(ref.stderr)
        assert dr.effective_sample_size == pytest.approx(ref.effective_sample_size)


def test_slate_with_one_position_is_ips() -> None:
    est = slate_pseudo_inverse(R, MU[:, None], PI[:, None])
    assert est.value == pytest.approx(ips(R, MU, PI).value)
    assert est.stderr == pytest.approx(ips(R, MU, PI).stderr)


def test_snips_is_nan_when_the_target_never_takes_a_logged_action() -> None:
    est = snips(R, MU, np.zeros(3))
    assert math.isnan(est.value) and est.effective_sample_size == 0.0
    assert ips(R, MU, np.zeros(3)).value == 0.0


def test_one_row_has_a_value_but_no_interval() -> None:
    est = ips([1.0], [0.5], [0.25])
    assert est.value == 0.5 and math.isnan(est.stderr) and math.isnan(est.ci_low)


# --- synthetic bandits ------------------------------------------------------------------------

P_CONTEXT = np.array([0.5, 0.3, 0.2])
P_REWARD = np.array([[0.10, 0.30, 0.05], [0.40, 0.20, 0.10], [0.05, 0.15, 0.50]])  # [x, a]


def _eps_greedy(greedy: np.ndarray, eps: float, k: int = 3) -> np.ndarray:
    return (1 - eps) * np.eye(k)[greedy] + eps / k


LOGGING = _eps_greedy(np.array([0, 1, 2]), eps=0.3)  # [x, a]; a poor greedy choice
TARGET = _eps_greedy(P_REWARD.argmax(axis=1), eps=0.1)  # greedy on the true best action
TRUE_VALUE = float(P_CONTEXT @ np.sum(TARGET * P_REWARD, axis=1))


def _simulate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    x = rng.choice(3, size=n, p=P_CONTEXT)
    # inverse-CDF draw of each row's action from its context's logging distribution
    actions = (rng.random(n)[:, None] > np.cumsum(LOGGING[x], axis=1)).sum(axis=1)
    reward = rng.binomial(1, P_REWARD[x, actions]).astype(float)
    return x, actions, reward, LOGGING[x, actions]


def test_contextual_bandit_coverage() -> None:
    rng = np.random.default_rng(42)
    wrong_model = np.clip(P_REWARD + np.array([0.15, -0.1, 0.1]), 0, 1)  # misspecified q_hat
    repeats, n = 200, 1000
    covered = {"ips": 0, "snips": 0, "dr": 0, "direct": 0, "direct_wrong_model": 0}
    for _ in range(repeats):
        x, actions, reward, mu = _simulate(rng, n)
        out = evaluate_all(reward, mu, TARGET[x], actions, wrong_model[x])
        # the direct method is only as good as its model: check it with the true one...
        out["direct_wrong_model"] = out["direct"]
        out["direct"] = direct_method(expected_reward_under(TARGET[x], P_REWARD[x]))
        for name, est in out.items():
            covered[name] += est.ci_low <= TRUE_VALUE <= est.ci_high
    coverage = {name: hits / repeats for name, hits in covered.items()}
    logging_value = float(P_CONTEXT @ np.sum(LOGGING * P_REWARD, axis=1))
    assert TRUE_VALUE - logging_value > 0.1  # the estimators have to correct for the logging policy
    for name in ("ips", "snips", "dr", "direct"):
        assert coverage[name] >= 0.9, coverage
    # ...and with a wrong model its interval ignores the bias (DR, same model, still covers)
    assert coverage["direct_wrong_model"] < 0.5, coverage


def test_slate_pseudo_inverse_is_unbiased_for_additive_rewards() -> None:
    rng = np.random.default_rng(7)
    # 2 contexts, 2 positions, 3 candidate items per position; positions filled independently
    p_context = np.array([0.6, 0.4])
    logging = np.array([[[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]], [[0.4, 0.4, 0.2], [0.3, 0.3, 0.4]]])
    target = np.array([[[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]], [[0.2, 0.0, 0.8], [0.1, 0.8, 0.1]]])
    click = np.array([[[0.1, 0.3, 0.6], [0.4, 0.1, 0.2]], [[0.2, 0.5, 0.1], [0.05, 0.3, 0.2]]])
    # additive reward: the sum of per-position clicks; logging/target/click are [x, l, item]
    true_value = float(p_context @ np.sum(target * click, axis=(1, 2)))
    logging_value = float(p_context @ np.sum(logging * click, axis=(1, 2)))
    assert abs(true_value - logging_value) > 0.1

    repeats, n, positions = 200, 500, np.arange(2)
    estimates, covered = [], 0
    for _ in range(repeats):
        x = rng.choice(2, size=n, p=p_context)
        u = rng.random((n, 2, 1))
        items = (u > np.cumsum(logging[x], axis=2)).sum(axis=2)  # (n, L)
        reward = rng.binomial(1, click[x[:, None], positions, items]).sum(axis=1).astype(float)
        mu = logging[x[:, None], positions, items]
        pi = target[x[:, None], positions, items]
        est = slate_pseudo_inverse(reward, mu, pi)
        estimates.append(est.value)
        covered += est.ci_low <= true_value <= est.ci_high
    estimates = np.array(estimates)
    assert abs(estimates.mean() - true_value) < 4 * estimates.std(ddof=1) / math.sqrt(repeats)
    assert covered / repeats >= 0.9


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": [1.0, 0.0]}, "same number of rows"),
        ({"reward": [[1.0], [0.0], [1.0]]}, "reward must be 1-D"),
        ({"reward": [1.0, np.nan, 1.0]}, "reward contains NaN"),
        ({"reward": ["a", "b", "c"]}, "reward must be numeric"),
        ({"reward": [], "logging_propensity": [], "target_propensity": []}, "empty"),
        ({"logging_propensity": [0.5, 0.0, 0.5]}, r"logging_propensity must be in \(0, 1\]"),
        ({"logging_propensity": [0.5, 1.2, 0.5]}, r"logging_propensity must be in \(0, 1\]"),
        ({"target_propensity": [0.5, -0.1, 0.5]}, r"target_propensity must be in \[0, 1\]"),
        ({"target_propensity": [0.5, np.inf, 0.5]}, "target_propensity contains NaN or inf"),
        ({"alpha": 0.0}, "alpha must be in"),
        ({"alpha": 1.5}, "alpha must be in"),
    ],
)
def test_bad_inputs_raise(kwargs: dict, message: str) -> None:
    args = {"reward": R, "logging_propensity": MU, "target_propensity": PI} | kwargs
    for estimator in (ips, snips):
        with pytest.raises(ValueError, match=message):
            estimator(**args)


@pytest.mark.parametrize("clip", [0.0, -1.0, float("nan")])
def test_bad_clip_raises(clip: float) -> None:
    with pytest.raises(ValueError, match="clip must be a positive number"):
        ips(R, MU, PI, clip=clip)


def test_dr_checks_the_reward_model_arrays() -> None:
    with pytest.raises(ValueError, match="reward_hat_logged=2"):
        doubly_robust(R, MU, PI, [0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="reward_hat_target contains NaN"):
        doubly_robust(R, MU, PI, [0.1, 0.2, 0.3], [0.1, np.nan, 0.3])


def test_policy_table_checks() -> None:
    probs = [[0.2, 0.8], [0.5, 0.5]]
    with pytest.raises(ValueError, match="rows of policy_probs must sum to 1"):
        target_propensities([[0.2, 0.7], [0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError, match=r"policy_probs must be in \[0, 1\]"):
        target_propensities([[1.2, -0.2], [0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError, match="policy_probs must be 2-D"):
        target_propensities([0.5, 0.5], [0, 1])
    with pytest.raises(ValueError, match=r"actions must be indices in \[0, 2\)"):
        target_propensities(probs, [0, 2])
    with pytest.raises(ValueError, match="actions must be integer"):
        target_propensities(probs, [0, 0.5])
    with pytest.raises(ValueError, match="actions has 3 rows"):
        target_propensities(probs, [0, 1, 1])
    with pytest.raises(ValueError, match="reward_hat must have the same shape"):
        expected_reward_under(probs, [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="rows of target_probs must sum to 1"):
        evaluate_all([1.0, 0.0], [0.5, 0.5], [[0.2, 0.7], [0.5, 0.5]], [0, 1], probs)
    # integral floats are accepted as action indices
    np.testing.assert_allclose(target_propensities(probs, np.array([1.0, 0.0])), [0.8, 0.5])


def test_slate_checks() -> None:
    with pytest.raises(ValueError, match="must have the same shape"):
        slate_pseudo_inverse([1.0], [[0.5, 0.5]], [[0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="logging_marginals must be 2-D"):
        slate_pseudo_inverse([1.0], [0.5], [0.5])
    with pytest.raises(ValueError, match=r"logging_marginals must be in \(0, 1\]"):
        slate_pseudo_inverse([1.0], [[0.0, 0.5]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="same number of rows"):
        slate_pseudo_inverse([1.0, 0.0], [[0.5, 0.5]], [[0.5, 0.5]])
