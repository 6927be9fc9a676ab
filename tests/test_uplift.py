"""Uplift: the learners on data with known individual effects, the metrics against values worked
out by hand, input checks, and (slow) training on a simulated world, the registry and the
targeting endpoint."""

import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.exceptions import NotFittedError

from models.uplift import (
    LEARNERS,
    ClassTransformationLearner,
    ListColumns,
    OffsetTLearner,
    TLearner,
    XLearner,
    auuc,
    mixed_uplift,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)
from serving.config import Settings

FAST = {"n_estimators": 300, "learning_rate": 0.08, "random_state": 0, "n_jobs": 1}


def experiment(
    n: int, arms: int = 1, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Numbers, text and tag-list columns with holes; a baseline driven by x0 and region, and
    effects (some negative: sleeping dogs) driven by x1, plan, a tag and, per arm, region."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    X["region"] = rng.choice(["north", "south", "east", "west"], n)
    X["plan"] = rng.choice(["free", "pro"], n, p=[0.6, 0.4])
    deal = rng.random(n) < 0.3
    X["tags"] = [
        ["deal_seeker", "vip"] if d else ["vip"] if rng.random() < 0.3 else [] for d in deal
    ]
    base = 1 / (1 + np.exp(-(-1.4 + 0.8 * X["x0"] + 0.6 * (X["region"] == "north"))))
    tau = np.column_stack(
        [
            0.22 / (1 + np.exp(-2.5 * (X["x1"] + 0.4 * a)))
            - 0.08
            + 0.06 * (X["plan"] == "pro")
            + 0.05 * deal
            - 0.05 * a * (X["region"] == "west")
            for a in range(arms)
        ]
    )
    tau = np.clip(base.to_numpy()[:, None] + tau, 0, 1) - base.to_numpy()[:, None]
    t = rng.integers(0, arms + 1, n)
    p = base + np.where(t > 0, tau[np.arange(n), np.maximum(t - 1, 0)], 0.0)
    y = (rng.random(n) < p).astype(int)
    for col in ("x0", "x1"):
        X.loc[rng.random(n) < 0.1, col] = np.nan
    X.loc[rng.random(n) < 0.1, "region"] = None
    X.loc[rng.random(n) < 0.05, "tags"] = None
    return X, t, y, tau


@pytest.fixture(scope="module")
def binary():
    return experiment(12_000, 1, seed=0), experiment(12_000, 1, seed=1)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_learners_rank_true_uplift_binary(binary, name: str) -> None:
    (X, t, y, _), (Xh, th, yh, tau_h) = binary
    est = LEARNERS[name](**FAST).fit(X, t, y)
    u = est.predict(Xh)
    assert u.shape == (len(Xh),) and est.arms_ == [1]
    q = qini_coefficient(yh, th == 1, u)
    q_true = qini_coefficient(yh, th == 1, tau_h[:, 0])
    assert q_true > 0.01
    assert q > 0.6 * q_true, (q, q_true)  # random targeting scores 0
    assert np.corrcoef(u, tau_h[:, 0])[0, 1] > 0.6


def test_learners_on_three_arms() -> None:
    (X, t, y, _), (Xh, th, yh, tau_h) = experiment(15_000, 2, 2), experiment(10_000, 2, 3)
    for cls in (TLearner, OffsetTLearner, XLearner, ClassTransformationLearner):
        est = cls(**FAST).fit(X, t, y)
        u = est.predict(Xh)
        assert u.shape == (len(Xh), 2) and est.arms_ == [1, 2]
        frame = est.predict_frame(Xh)
        assert list(frame.columns) == [1, 2] and frame.index.equals(Xh.index)
        for a in (1, 2):
            rows = (th == 0) | (th == a)
            q = qini_coefficient(yh[rows], th[rows] == a, u[rows, a - 1])
            q_true = qini_coefficient(yh[rows], th[rows] == a, tau_h[rows, a - 1])
            assert q > 0.5 * q_true > 0, (cls.__name__, a, q, q_true)


def test_known_propensities_undo_pooling_bias() -> None:
    """Two experiments pooled: 20% treated where few buy, 80% where many do; the effect is
    0.05 everywhere. Treated rows then come mostly from the buyers' experiment, so without the
    propensities every learner sees a large false effect; with them, about 0.05."""
    rng = np.random.default_rng(4)
    n = 16_000
    b = rng.random(n) < 0.5
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    e = np.where(b, 0.8, 0.2)
    t = (rng.random(n) < e).astype(int)
    y = (rng.random(n) < np.where(b, 0.4, 0.1) + 0.05 * t).astype(int)
    P = pd.DataFrame({0: 1 - e, 1: e})
    naive = TLearner(**FAST).fit(X, t, y).predict(X).mean()
    assert naive > 0.15
    for cls in LEARNERS.values():
        est = cls(**FAST).fit(X, t, y, propensity=P)
        assert abs(est.predict(X).mean() - 0.05) < 0.03, cls.__name__
    # a 1-D array (binary) means P(treated) and gives the same fit
    a = XLearner(**FAST).fit(X, t, y, propensity=e).predict(X)
    np.testing.assert_allclose(a, XLearner(**FAST).fit(X, t, y, propensity=P).predict(X))


def test_offset_learner_contract() -> None:
    """Per arm, a booster from the control model's log-odds and its control twin; the uplift
    is their difference through the sigmoid, and numeric outcomes use the identity link."""
    from sklearn.base import clone

    X, t, y, tau = experiment(8_000, 2, 9)
    est = OffsetTLearner(committee=2, **FAST).fit(X, t, y)
    assert est.arms_ == [1, 2] and len(est.members_) == 2
    assert all(len(m.arms) == 2 for m in est.members_)
    assert clone(est).get_params()["folds"] == 2
    Xm = est._matrix(X.iloc[:100])[0]
    by_hand = []
    for member in est.members_:  # each member by hand, then their mean
        p0 = np.clip(member.control.predict(Xm), 1e-4, 1 - 1e-4)
        l0 = np.log(p0) - np.log(1 - p0)
        g1, g0 = (m.predict(Xm, raw=True) for m in member.arms[1])
        by_hand.append(1 / (1 + np.exp(-(l0 + g1))) - 1 / (1 + np.exp(-(l0 + g0))))
    assert np.abs(by_hand[0] - by_hand[1]).max() > 0  # the seeds differ
    np.testing.assert_allclose(est.predict(X.iloc[:100])[:, 1], np.mean(by_hand, axis=0))
    assert np.corrcoef(est.predict(X)[:, 0], tau[:, 0])[0, 1] > 0.5
    # a committee of one is its first member alone
    one = OffsetTLearner(committee=1, **FAST).fit(X, t, y)
    np.testing.assert_allclose(one.predict(X.iloc[:100])[:, 1], by_hand[0])
    # a model pickled before the committee (one fit in two attributes) still loads and scores
    state = dict(one.__getstate__())  # a copy: on Python 3.11 it is the object's own dict
    (member,) = state.pop("members_")
    del state["committee"]
    old = OffsetTLearner.__new__(OffsetTLearner)
    old.__setstate__({**state, "control_model_": member.control, "offset_models_": member.arms})
    assert old.committee == 1
    np.testing.assert_allclose(old.predict(X.iloc[:100]), one.predict(X.iloc[:100]))
    revenue = y * (10 + 5 * np.nan_to_num(X["x2"].to_numpy()))  # not 0/1: regression
    numeric = OffsetTLearner(**FAST).fit(X, t, revenue)
    assert not numeric.binary_outcome_ and np.isfinite(numeric.predict(X)).all()
    with pytest.raises(ValueError, match="folds"):
        OffsetTLearner(folds=1, **FAST).fit(X, t, y)
    with pytest.raises(ValueError, match="committee"):
        OffsetTLearner(committee=0, **FAST).fit(X, t, y)


def test_encoder_is_score_models_input_handling() -> None:
    """The learners encode through ScoreModel's public `fit_encoding` / `encode`: the same
    matrix a fitted ScoreModel predicts from, and the one their boosters were trained on."""
    from models.scoring import ScoreModel

    X, t, y, _ = experiment(3_000, 1, 10)
    wide = ListColumns().fit(X).transform(X)
    enc = ScoreModel().fit_encoding(wide)
    fitted = ScoreModel(n_estimators=20, n_jobs=1).fit(wide, y)
    np.testing.assert_array_equal(enc.encode(wide), fitted._matrix(wide))
    assert enc.categorical_positions() == [4, 5]  # region, plan: the text columns
    prepared = fitted._prepare(wide)
    codes = prepared["region"].cat.codes.to_numpy().astype(float)
    np.testing.assert_array_equal(enc.encode(wide)[:, 4], np.where(codes < 0, np.nan, codes))
    est = TLearner(**FAST).fit(X, t, y)
    np.testing.assert_array_equal(est._matrix(X)[0], enc.encode(wide))
    mu0, mu1 = (m.predict(enc.encode(wide)) for m in est.outcome_models_)
    np.testing.assert_allclose(est.predict(X), mu1 - mu0)
    with pytest.raises(NotFittedError):
        ScoreModel().encode(wide)


def test_string_labels_and_arrays() -> None:
    X, t, y, _ = experiment(3_000, 2, 5)
    labels = np.array(["holdout", "A", "B"])[t]
    est = TLearner(control="holdout", **FAST).fit(X, labels, y)
    assert est.arms_ == ["A", "B"]
    num = X[["x0", "x1", "x2", "x3"]]
    fitted = XLearner(**FAST).fit(num.to_numpy(), t == 1, y)  # bools: False is the control
    assert fitted.predict(num.to_numpy()[:5]).shape == (5,)


# -- metrics by hand -----------------------------------------------------------------------------

Y4, T4, S4 = np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]), np.array([4.0, 3, 2, 1])


def test_qini_curve_and_coefficient_by_hand() -> None:
    # top 1: 1 treated buyer, no control → 1; top 2: still 1; top 3: 1 − 1·2/1 = −1;
    # all: 1 − 1·2/2 = 0; divided by the 2 treated rows
    x, q = qini_curve(Y4, T4, S4)
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(q, [0, 0.5, 0.5, -0.5, 0])
    # trapezoids: .0625 + .125 + 0 − .0625; random line ends at 0
    assert qini_coefficient(Y4, T4, S4) == pytest.approx(0.125)
    assert qini_coefficient(Y4, T4, -S4) < 0


def test_uplift_curve_and_auuc_by_hand() -> None:
    # (rate_t − rate_c) × share: (1 − 0)·.25, (.5 − 0)·.5, (.5 − 1)·.75, (.5 − .5)·1
    x, u = uplift_curve(Y4, T4, S4)
    np.testing.assert_allclose(u, [0, 0.25, 0.25, -0.375, 0])
    assert auuc(Y4, T4, S4) == pytest.approx(0.03125)


def test_uplift_at_k_by_hand() -> None:
    y, t = np.array([1, 1, 0, 0, 1, 0]), np.array([1, 0, 1, 0, 1, 0])
    s = np.array([6.0, 5, 4, 3, 2, 1])
    assert uplift_at_k(y, t, s, 0.5) == pytest.approx(0.5 - 1.0)  # treated 1/2, control 1/1
    assert uplift_at_k(y, t, s, 4 / 6) == pytest.approx(0.0)  # 1/2 vs 1/2
    assert uplift_at_k(y, t, s, 1.0) == pytest.approx(2 / 3 - 1 / 3)
    # inverse propensity weights: treated 1/e = 2, 2; control 1/(1 − e) = 4, 2
    e = np.array([0.5, 0.5, 0.75, 0.5])
    assert uplift_at_k(Y4, T4, S4, 1.0, propensity=e) == pytest.approx(2 / 4 - 4 / 6)
    # a constant propensity changes nothing
    assert uplift_at_k(y, t, s, 0.5, propensity=0.3) == pytest.approx(-0.5)


def test_ties_are_order_free() -> None:
    """All tied = random targeting's expectation: Qini 0, AUUC = ATE/2, uplift@k = ATE."""
    y, t = np.array([1, 0, 0, 1, 0, 0]), np.array([1, 1, 1, 0, 0, 0])
    flat = np.zeros(6)
    assert qini_coefficient(y, t, flat) == pytest.approx(0.0)
    assert auuc(y, t, flat) == pytest.approx(0.0)  # ATE 1/3 − 1/3
    y2 = np.array([1, 1, 0, 0, 0, 0])
    assert uplift_at_k(y2, t, flat, 0.3) == pytest.approx(2 / 3)
    assert auuc(y2, t, flat) == pytest.approx(1 / 3)
    assert qini_coefficient(y2[::-1], t[::-1], flat) == pytest.approx(0.0)


def test_mixed_uplift() -> None:
    u = pd.DataFrame({1: [0.1, -0.2], 2: [0.3, 0.0]})
    np.testing.assert_allclose(mixed_uplift(u, {1: 1, 2: 3}), [0.25, -0.05])
    np.testing.assert_allclose(mixed_uplift(u, {1: 1, 9: 5}), [0.1, -0.2])  # unknown: skipped
    with pytest.raises(ValueError, match="none of the arms"):
        mixed_uplift(u, {9: 1})


# -- validation ---------------------------------------------------------------------------------


def test_learner_input_validation() -> None:
    X, t, y, _ = experiment(400, 1, 6)
    est = TLearner(**FAST)
    with pytest.raises(ValueError, match="control label 0"):
        est.fit(X, t + 1, y)
    with pytest.raises(ValueError, match="only the control"):
        est.fit(X, np.zeros(len(t)), y)
    with pytest.raises(ValueError, match="missing values"):
        est.fit(X, np.where(np.arange(len(t)) == 0, np.nan, t), y)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X, t, np.where(np.arange(len(y)) == 0, np.nan, y))
    with pytest.raises(ValueError, match="numeric"):
        est.fit(X, t, np.array(["yes"] * len(y)))
    with pytest.raises(ValueError, match="inconsistent"):
        est.fit(X, t[:-1], y[:-1])
    with pytest.raises(ValueError, match="only outcome"):
        est.fit(X, t, np.where(t == 1, 1, y))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        est.fit(X, t, y, propensity=1.5)
    with pytest.raises(ValueError, match="no probability for labels"):
        est.fit(X, t, y, propensity={1: 0.5})
    with pytest.raises(ValueError, match="impossible"):
        est.fit(X, t, y, propensity=pd.DataFrame({0: np.ones(len(t)), 1: np.zeros(len(t))}))
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(X.iloc[:0], t[:0], y[:0])
    X3, t3, y3, _ = experiment(400, 2, 6)
    with pytest.raises(ValueError, match="several arms"):
        est.fit(X3, t3, y3, propensity=0.5)
    with pytest.raises(NotFittedError):
        TLearner().predict(X)
    fitted = TLearner(**FAST).fit(X, t, y)
    with pytest.raises(ValueError, match="missing columns"):
        fitted.predict(X.drop(columns=["x0"]))
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp

        fitted.predict(sp.csr_matrix(np.zeros((2, X.shape[1]))))


def test_metric_input_validation() -> None:
    with pytest.raises(ValueError, match="0/1"):
        qini_coefficient(Y4, np.array([0, 1, 2, 0]), S4)
    with pytest.raises(ValueError, match="both treated and control"):
        auuc(Y4, np.ones(4), S4)
    with pytest.raises(ValueError, match="NaN"):
        qini_curve(Y4, T4, np.array([1.0, np.nan, 0, 0]))
    with pytest.raises(ValueError, match="inconsistent"):
        uplift_at_k(Y4, T4, S4[:3])
    with pytest.raises(ValueError, match="share of rows"):
        uplift_at_k(Y4, T4, S4, 0.0)
    with pytest.raises(ValueError, match="no treated or no control"):
        uplift_at_k(Y4, T4, S4, 0.5)  # the top two are both treated
    with pytest.raises(ValueError, match="strictly between"):
        qini_coefficient(Y4, T4, S4, propensity=1.0)


def test_train_uplift_csv(tmp_path: Path) -> None:
    from training.uplift import train_uplift_csv

    X, t, y, _ = experiment(6_000, 2, 7)
    frame = X.drop(columns=["tags"]).assign(
        arm=np.array(["control", "ten_off", "free_ship"])[t], bought=y
    )
    frame.to_csv(tmp_path / "exp.csv", index=False)
    result = train_uplift_csv(tmp_path / "exp.csv", "arm", "bought", n_jobs=1)
    assert result.rows == {"train": 4_200, "holdout": 1_800, "arms": 2}
    assert "control 'control'" in result.source and result.winner.split(" [")[0] in LEARNERS
    assert result.metrics[result.winner]["qini"] > 0
    assert "random [ten_off]" in result.metrics and "Qini" in str(result)
    with pytest.raises(ValueError, match="no column"):
        train_uplift_csv(tmp_path / "exp.csv", "nope", "bought")
    with pytest.raises(ValueError, match="not a treatment value"):
        train_uplift_csv(tmp_path / "exp.csv", "arm", "bought", control="placebo")


def test_split_campaigns_needs_a_finished_promotion() -> None:
    """A world younger than one outcome window (the demo's smallest) says so in a ValueError,
    which `lodestar train all` and the demo report as "not trained"."""
    from training.uplift import split_campaigns

    with pytest.raises(ValueError, match="days are over yet"):
        split_campaigns(pd.Series([], dtype="datetime64[ns, UTC]"))
    one = pd.Series(pd.to_datetime(["2026-01-01"], utc=True), index=[7])
    with pytest.raises(ValueError, match="nothing to learn from"):
        split_campaigns(one)


def test_true_qini_by_hand_and_as_the_realised_mean() -> None:
    """The expected Qini: by hand on four rows, and the mean of the realised coefficient over
    many draws of assignment and outcome (what it stands for)."""
    from training.uplift import true_qini, true_uplift_at_k

    effect, score = np.array([0.3, 0.1, -0.1, 0.0]), np.array([4.0, 3.0, 2.0, 1.0])
    # curve 0, .075, .1, .075, .075 at 0, 1/4 .. 1; area .071875, less random's .075 / 2
    assert true_qini(effect, score) == pytest.approx(0.034375, abs=1e-12)
    assert true_qini(effect, np.zeros(4)) == pytest.approx(0.0, abs=1e-12)  # all tied: random
    assert true_qini(effect, -score) < 0 < true_qini(effect, score)
    assert true_uplift_at_k(effect, score, 0.5) == pytest.approx(0.2)

    rng = np.random.default_rng(3)
    n = 4_000
    x = rng.random(n)
    p0, tau = 0.2 + 0.1 * x, 0.15 * (x - 0.3)
    score = x + rng.normal(0, 0.3, n)  # a ranking that knows the effect only roughly
    draws = []
    for _ in range(300):
        t = rng.random(n) < 0.5
        y = rng.random(n) < p0 + t * tau
        draws.append(qini_coefficient(y, t, score))
    se = np.std(draws) / np.sqrt(len(draws))
    assert abs(np.mean(draws) - true_qini(tau, score)) < 4 * se, (np.mean(draws), se)
    assert np.std(draws) > 0.1 * true_qini(tau, score)  # one realised draw is noisy


def test_report_reads_the_winner_against_ceiling_and_oracle() -> None:
    from training.uplift import CEILING, UpliftResult

    def m(q: float) -> dict[str, float]:
        return {"qini": q, "auuc": 0.02, "uplift_at_30": 0.05}

    metrics = {"x_learner": m(0.006), "random": m(0.0), CEILING: m(0.008), "oracle": m(0.012)}
    result = UpliftResult("test", metrics, "x_learner", {"train": 1}, 1.0)
    assert result.true_share("x_learner") is None  # no true Qini: no noise-free line
    assert "expected (true Qini" not in str(result)
    assert result.vs_oracle == pytest.approx(0.5)
    assert result.vs_ceiling == pytest.approx(0.75)
    assert result.ceiling_vs_oracle == pytest.approx(2 / 3)
    text = str(result)
    assert "ceiling: truth-fitted ceiling Qini 0.00800 = 0.667 × the oracle's" in text
    assert "the winner reaches 0.750 × the ceiling's" in text
    for who, (q, at30) in {
        "x_learner": (0.005, 0.04),
        "random": (0.0, 0.02),
        CEILING: (0.009, 0.06),
        "oracle": (0.012, 0.08),
    }.items():
        metrics[who] |= {"true_qini": q, "true_uplift_at_30": at30}
    assert result.true_share("x_learner") == pytest.approx(5 / 12)
    text = str(result)
    assert "expected (true Qini, no outcome noise): winner 0.417 × the oracle's" in text
    assert "ceiling 0.750 × (target ≥ 0.8)" in text and "0.00500    0.0400" in text
    no_truth = UpliftResult("test", {"x_learner": m(0.006)}, "x_learner", {}, 1.0)
    assert no_truth.vs_ceiling is None and "ceiling" not in str(no_truth)


def test_winner_is_the_default_unless_clearly_beaten() -> None:
    """A higher holdout Qini switches the winner only when it holds in 95% of paired bootstrap
    resamples: learners' Qinis often differ by less than their noise."""
    from training.uplift import DEFAULT_LEARNER, beat_share, choose_winner, evaluate

    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.random(n)
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < 0.2 + treated * 0.2 * (x - 0.3)).astype(float)
    p = np.full(n, 0.5)
    good, noise = x, rng.random(n)
    near = x + rng.normal(0, 1e-3, n)  # the same ranking, up to tiny noise
    assert beat_share(y, treated, good, noise, p) >= 0.95
    assert beat_share(y, treated, good, good, p) == 0  # a tie is no win

    def metrics(scores: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        return {k: evaluate(y, treated, v, p) for k, v in scores.items()}

    clear = {DEFAULT_LEARNER: noise, "t_learner": good}
    winner, why = choose_winner(metrics(clear), clear, y, treated, p)
    assert winner == "t_learner" and "paired bootstrap" in why
    close = {DEFAULT_LEARNER: good, "t_learner": near}
    m = metrics(close)
    m["t_learner"]["qini"] = m[DEFAULT_LEARNER]["qini"] + 1e-9  # higher, by nothing
    winner, why = choose_winner(m, close, y, treated, p)
    assert winner == DEFAULT_LEARNER and "95% needed to switch" in why
    ahead = {DEFAULT_LEARNER: good, "t_learner": noise}
    assert choose_winner(metrics(ahead), ahead, y, treated, p) == (
        DEFAULT_LEARNER,
        "the highest holdout Qini",
    )


def test_gate_replaces_a_champion_that_cannot_score(monkeypatch: pytest.MonkeyPatch) -> None:
    """A champion from older code (missing attributes) or other features is replaced, with the
    reason, instead of failing the run after the fitting."""
    from training import registry
    from training.uplift import _gate

    promoted_to: list[tuple[str, str]] = []
    monkeypatch.setattr(registry, "champion_version", lambda name: "1")
    monkeypatch.setattr(registry, "load", lambda name, version: object())
    monkeypatch.setattr(registry, "set_champion", lambda n, v, why: promoted_to.append((v, why)))
    promoted, reason = _gate("2", 0.01, lambda champ: champ.predict_frame)  # AttributeError
    assert promoted and reason.startswith("champion v1 cannot score this holdout")
    assert promoted_to == [("2", reason)]


# -- a simulated world: training, registry, targeting ---------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from features.jobs import apply_repo
    from features.pipelines import build_features
    from serving.simulator import run_simulation

    tmp = tmp_path_factory.mktemp("uplift")
    s = Settings(
        database_url=f"sqlite:///{tmp}/u.db",
        data_dir=tmp / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
        feast_project=f"u{uuid.uuid4().hex[:8]}",
    )
    run_simulation(s, customers=4_000, days=150, seed=11, reset=True)
    build_features(s)
    apply_repo(s)
    return s


@pytest.mark.slow
def test_campaign_uplift_training_and_targeting(
    world: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from features.jobs import materialize
    from serving.app import create_app
    from serving.core.db import make_engine, make_sessionmaker
    from serving.core.models import Campaign, Exposure, Role
    from serving.core.services.users import create_user
    from training import registry
    from training.uplift import train_uplift_campaign

    result = train_uplift_campaign(world, seed=0)
    progress = capsys.readouterr().err  # a line per step, while it runs
    assert "point-in-time features for" in progress and "fitting offset_t_learner" in progress
    m = result.metrics
    best = m[result.winner]["qini"]
    assert best > m["random"]["qini"] == 0 and best > m["response model"]["qini"], str(result)
    assert m["oracle"]["qini"] > 0 and result.vs_oracle is not None
    # the ceiling: a booster fitted on the training rows' true effects, judged on the holdout
    assert m["truth-fitted ceiling"]["qini"] > m["random"]["qini"]
    assert result.vs_ceiling == pytest.approx(best / m["truth-fitted ceiling"]["qini"])
    assert "ceiling: truth-fitted ceiling Qini" in str(result)
    assert result.promoted and result.version == "1" and "champion" in str(result)
    assert registry.champion_version("uplift") == "1"
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["best_vs_oracle_qini"] == pytest.approx(result.vs_oracle)
    assert run.data.metrics["best_vs_ceiling_qini"] == pytest.approx(result.vs_ceiling)
    assert run.data.metrics["ceiling_vs_oracle_qini"] == pytest.approx(result.ceiling_vs_oracle)
    # the same ratios without outcome noise: expected Qini from the true effects
    assert m["oracle"]["true_qini"] > m["random"]["true_qini"] == 0
    assert run.data.metrics["best_vs_oracle_true_qini"] == pytest.approx(
        result.true_share(result.winner)
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/qini.png", "evaluation/metrics.json"} <= artifacts

    materialize(world, incremental=False)
    engine = make_engine(world.database_url)
    with make_sessionmaker(engine, write=True)() as s:
        _, key = create_user(session=s, email="m@x.io", name="m", role=Role.marketer)
        _, rep = create_user(session=s, email="r@x.io", name="r", role=Role.sales_rep)
        last = max(s.query(Exposure.campaign_id).filter(Exposure.arm_id.isnot(None)).distinct())
        promo = s.get(Campaign, last[0])
        offer = next(a.offer_id for a in promo.arms if a.offer_id is not None)
        promo_id = promo.id
    h = {"X-API-Key": key}
    with TestClient(create_app(engine, settings=world)) as c:
        r = c.get(f"/v1/campaigns/{promo_id}/targeting?budget=50", headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        targets = body["targets"]
        assert 0 < len(targets) <= 50 and body["audience"] == "exposures"
        uplift = [x["uplift"] for x in targets]
        assert min(uplift) >= 0 and uplift == sorted(uplift, reverse=True)
        assert body["expected_incremental_conversions"] == pytest.approx(sum(uplift))
        assert body["sleeping_dogs_excluded"] >= 0 and body["model_version"] == "uplift:v1"
        everyone = c.get(f"/v1/campaigns/{promo_id}/targeting?budget=100000", headers=h).json()
        assert len(everyone["targets"]) + everyone["sleeping_dogs_excluded"] == everyone["scored"]
        draft = c.post(
            "/v1/campaigns",
            json={
                "name": "next promo",
                "channel": "email",
                "arms": [
                    {"name": "control", "is_control": True},
                    {"name": "offer", "offer_id": offer},
                ],
            },
            headers=h,
        ).json()
        r = c.get(f"/v1/campaigns/{draft['id']}/targeting?budget=10", headers=h).json()
        assert r["audience"] == "consent" and len(r["targets"]) <= 10
        assert c.get("/v1/campaigns/999999/targeting?budget=5", headers=h).status_code == 404
        for bad in (0, 100_001, "x"):
            got = c.get(f"/v1/campaigns/{promo_id}/targeting?budget={bad}", headers=h)
            assert got.status_code == 422 and got.json()["errors"][0]["field"] == "budget"
        got = c.get(f"/v1/campaigns/{promo_id}/targeting", headers={"X-API-Key": rep})
        assert got.status_code == 403
    empty = world.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    with TestClient(create_app(engine, settings=empty)) as c:
        got = c.get(f"/v1/campaigns/{promo_id}/targeting?budget=5", headers=h)
        assert got.status_code == 503 and "lodestar train uplift" in got.json()["detail"]
    engine.dispose()
