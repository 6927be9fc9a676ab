"""The estimators in models/: the scikit-learn contract, and behaviour on data the simulator did
not make (make_classification with text columns and holes; BG/NBD's own generative process).
"""

import copy
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.bgnbd import BGNBD, rfm_summary
from models.reasons import describe_value, format_value
from models.scoring import GRADES, ScoreModel

# -- the scikit-learn contract ----------------------------------------------------------------

# Checks ScoreModel fails by design, with the reason. Empty: binary-only, NaN-native, string
# input and DataFrame-first are declared as tags (`__sklearn_tags__`), and arrays are
# validated as `check_array` would, so every check that runs passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [ScoreModel(n_estimators=20, early_stopping_rounds=5, n_jobs=1)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_contract(estimator, check):
    check(estimator)


# -- ScoreModel on a data set of its own ------------------------------------------------------

NUMERIC = [f"f{i}" for i in range(6)]
# Fewer, larger boosting steps than the defaults: the same behaviour, a test file that runs fast.
FAST = {"n_estimators": 300, "learning_rate": 0.1, "random_state": 0, "n_jobs": 1}


def leads(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Imbalanced (≈10% positive) numbers from make_classification, an informative text column
    (`channel`, drawn by outcome), a noise text column, a count with known wording, and holes."""
    X, y = make_classification(
        n_samples=n,
        n_features=6,
        n_informative=4,
        n_redundant=1,
        weights=[0.9],
        flip_y=0.02,
        class_sep=0.8,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(X, columns=NUMERIC)
    channels = np.array(["ads", "webinar", "referral"])
    df["channel"] = np.where(
        y == 1,
        rng.choice(channels, n, p=[0.15, 0.25, 0.6]),
        rng.choice(channels, n, p=[0.45, 0.35, 0.2]),
    )
    df["region"] = rng.choice(["north", "south", "east", "west"], n)
    df["pricing_views_7d"] = rng.poisson(np.where(y == 1, 3.0, 1.0)).astype(float)
    for col in ("f0", "f1", "channel", "pricing_views_7d"):
        df[col] = df[col].mask(rng.random(n) < 0.1)
    return df, y


@pytest.fixture(scope="module")
def data():
    X, y = leads(8000)
    cut = 5600
    return X[:cut], y[:cut], X[cut:].reset_index(drop=True), y[cut:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return ScoreModel(**FAST).fit(X, y)


@pytest.fixture(scope="module")
def uncalibrated(data):
    X, y, _, _ = data
    return ScoreModel(**FAST, calibrate=False).fit(X, y)


def logistic_baseline() -> object:
    text = ["channel", "region"]
    numbers = [*NUMERIC, "pricing_views_7d"]
    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), numbers),
        (
            make_pipeline(
                SimpleImputer(strategy="constant", fill_value="missing"),
                OneHotEncoder(handle_unknown="ignore"),
            ),
            text,
        ),
    )
    return make_pipeline(prep, LogisticRegression(max_iter=1000))


def test_ranks_better_than_logistic_regression(data, fitted):
    X, y, X_ho, y_ho = data
    auc = roc_auc_score(y_ho, fitted.predict_proba(X_ho)[:, 1])
    text = ["channel", "region"]
    as_text = {c: X[c].astype(object).where(X[c].notna(), np.nan) for c in text}
    as_text_ho = {c: X_ho[c].astype(object).where(X_ho[c].notna(), np.nan) for c in text}
    base = logistic_baseline().fit(X.assign(**as_text), y)
    auc_base = roc_auc_score(y_ho, base.predict_proba(X_ho.assign(**as_text_ho))[:, 1])
    assert auc >= 0.85
    assert auc >= auc_base + 0.03, (auc, auc_base)  # ≈0.90 against ≈0.80


def test_calibration_does_not_hurt_brier(data, fitted, uncalibrated):
    _, _, X_ho, y_ho = data
    brier = brier_score_loss(y_ho, fitted.predict_proba(X_ho)[:, 1])
    brier_raw = brier_score_loss(y_ho, uncalibrated.predict_proba(X_ho)[:, 1])
    assert brier <= brier_raw + 0.002, (brier, brier_raw)
    # calibrated on average: mean probability near the holdout's positive rate
    assert abs(fitted.predict_proba(X_ho)[:, 1].mean() - y_ho.mean()) < 0.02


def test_same_random_state_same_probabilities(data):
    X, y, X_ho, _ = data
    X, y = X[:3000], y[:3000]
    once, again = (ScoreModel(**FAST).fit(X, y).predict_proba(X_ho) for _ in range(2))
    np.testing.assert_array_equal(once, again)
    other = ScoreModel(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X_ho)
    assert not np.array_equal(once, other)  # the seed is used (subsampling, validation rows)


def test_unseen_category_counts_as_missing(data, fitted):
    _, _, X_ho, _ = data
    rows = X_ho.head(20)
    unseen = rows.assign(channel="carrier pigeon", region="atlantis")
    missing = rows.assign(channel=None, region=None)
    np.testing.assert_array_equal(fitted.predict_proba(unseen), fitted.predict_proba(missing))


def test_serving_matrix_predicts_exactly_as_the_training_frame(data, fitted):
    X = data[0].head(300).copy()
    X.iloc[::7, 0] = np.nan  # missing values, and a category never seen in fit
    cat = next(c for c in X.columns if c in fitted.categories_)
    X.loc[X.index[::5], cat] = "never-seen"
    X.loc[X.index[::11], cat] = None
    frame = fitted._prepare(X)
    np.testing.assert_array_equal(fitted._raw(fitted._matrix(X)), fitted._raw(frame))
    p, grades, reasons = fitted.assess(X.head(20), explain=True)
    np.testing.assert_array_equal(p, fitted.predict_proba(X.head(20))[:, 1])
    np.testing.assert_array_equal(grades, fitted.grades(X.head(20)))
    assert reasons == fitted.reasons(X.head(20))


def test_columns_by_name_extra_ignored_missing_refused(data, fitted):
    _, _, X_ho, _ = data
    rows = X_ho.head(50)
    shuffled = rows[rows.columns[::-1]].assign(not_a_feature=1.0)
    np.testing.assert_array_equal(fitted.predict_proba(shuffled), fitted.predict_proba(rows))
    with pytest.raises(ValueError, match=r"missing columns seen in fit: \['channel'\]"):
        fitted.predict_proba(rows.drop(columns="channel"))


def test_one_class_refused(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="only one class"):
        ScoreModel().fit(X, np.zeros(len(X), dtype=int))


def test_labels_of_any_kind(data):
    X, y, X_ho, _ = data
    words = np.where(y == 1, "won", "lost")
    m = ScoreModel(n_estimators=30, learning_rate=0.1, n_jobs=1).fit(X[:3000], words[:3000])
    assert m.classes_.tolist() == ["lost", "won"]
    assert set(m.predict(X_ho)) <= {"lost", "won"}


def test_unfitted_refuses():
    with pytest.raises(NotFittedError):
        ScoreModel().reasons(pd.DataFrame({"a": [1.0]}))


# -- explanations -----------------------------------------------------------------------------


def test_contributions_sum_to_raw_score(data, fitted):
    _, _, X_ho, _ = data
    contrib = fitted.contributions(X_ho)
    raw = fitted.booster_.predict(
        fitted._prepare(X_ho), num_iteration=fitted.best_iteration_, raw_score=True
    )
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, atol=1e-6)
    assert list(contrib.columns) == [*X_ho.columns, "base_value"]


def test_reasons_ordered_and_signed(data, fitted):
    _, _, X_ho, _ = data
    for reasons in fitted.reasons(X_ho.head(200), top=3):
        ups = [r for r in reasons if r["direction"] == "up"]
        downs = [r for r in reasons if r["direction"] == "down"]
        assert reasons == ups + downs and len(ups) <= 3 and len(downs) <= 3
        assert all(r["impact"] > 0 for r in ups) and all(r["impact"] < 0 for r in downs)
        assert [r["impact"] for r in ups] == sorted((r["impact"] for r in ups), reverse=True)
        assert [r["impact"] for r in downs] == sorted(r["impact"] for r in downs)


def test_reasons_in_words(data, fitted):
    _, _, X_ho, _ = data
    rows = X_ho.head(300)
    seen = {}
    for (_, row), reasons in zip(rows.iterrows(), fitted.reasons(rows, top=10), strict=True):
        for r in reasons:
            seen.setdefault((r["feature"], r["value"]), r["text"])
            if r["feature"] in NUMERIC and r["value"] is not None:
                # unknown column: "name is value", value to 3 significant digits
                assert r["text"] == f"{r['feature']} is {format_value(row[r['feature']])}"
                assert re.fullmatch(r"f\d is -?\d+(\.\d+)?", r["text"]), r["text"]
                assert len(re.sub(r"\D", "", r["text"][5:]).lstrip("0")) <= 3, r["text"]
    assert seen[("pricing_views_7d", 3.0)] == "viewed the pricing page 3 times in 7 days"
    assert seen[("channel", "referral")] == "channel is referral"
    assert seen[("channel", None)] == "no channel known"


def test_value_formatting():
    assert describe_value("f4", -1.18934) == "f4 is -1.19"
    assert describe_value("f4", np.float32(0.0123456)) == "f4 is 0.0123"
    assert describe_value("f4", 3.0) == "f4 is 3"
    assert describe_value("lifetime_value", 123456.78) == "lifetime value is 123,457"
    assert describe_value("f4", np.nan) == "no f4 known"
    assert describe_value("days_since_last_order", None) == "has never ordered"
    assert describe_value("days_since_last_order", 12.4) == "last ordered 12 days ago"


# -- grades -----------------------------------------------------------------------------------

SHARES = {"A": 0.10, "B": 0.20, "C": 0.30, "D": 0.40}


def shares(grades: np.ndarray) -> dict[str, float]:
    return {g: float(np.mean(grades == g)) for g in GRADES}


def test_grade_shares_from_continuous_probabilities(data, uncalibrated):
    _, _, X_ho, _ = data
    m = copy.deepcopy(uncalibrated)
    m.set_grade_thresholds(m.predict_proba(X_ho)[:, 1])
    got = shares(m.grades(X_ho))
    assert got == pytest.approx(SHARES, abs=0.005)


@pytest.fixture(scope="module")
def isotonic_model():
    """A realistically calibrated model: isotonic on 6,000 validation rows, whose steps tie
    hundreds of holdout rows to one probability."""
    X, y = leads(18_000, seed=1)
    m = ScoreModel(**FAST)
    m.fit(X[:8000], y[:8000], eval_set=(X[8000:14000], y[8000:14000]))
    return m, X[14000:]


def test_grade_shares_hold_despite_isotonic_ties(isotonic_model):
    m, X_ho = isotonic_model
    assert isinstance(m.calibrator_, IsotonicRegression)
    p = m.predict_proba(X_ho)[:, 1]
    _, counts = np.unique(p, return_counts=True)
    assert counts.max() / len(p) > 0.03  # ties big enough to wreck naive cut-offs

    m.set_grade_thresholds(X_ho)  # reference rows: cut on the booster's own ranking
    grades = m.grades(X_ho)
    assert shares(grades) == pytest.approx(SHARES, abs=0.005)
    # a higher probability never gets a lower grade
    lows = [p[grades == g].min() for g in GRADES[:3]]
    highs = [p[grades == g].max() for g in GRADES[1:]]
    assert all(lo >= hi for lo, hi in zip(lows, highs, strict=True))
    # deterministic: the same rows in another order get the same grades
    order = np.random.default_rng(0).permutation(len(X_ho))
    np.testing.assert_array_equal(m.grades(X_ho.iloc[order]), grades[order])


def test_grade_shares_from_tied_probabilities_as_close_as_steps_allow(isotonic_model):
    m, X_ho = copy.deepcopy(isotonic_model)
    p = m.predict_proba(X_ho)[:, 1]
    m.set_grade_thresholds(p)  # only probabilities: a tied step goes whole to one side
    got = np.cumsum([shares(m.grades(X_ho))[g] for g in GRADES[:3]])
    _, counts = np.unique(p, return_counts=True)
    for share, target in zip(got, np.cumsum([0.1, 0.2, 0.3]), strict=True):
        assert abs(share - target) <= counts.max() / len(p) / 2


# -- BG/NBD -----------------------------------------------------------------------------------

CDNOW_LIKE = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int):
    """(frequency, recency, T) from the BG/NBD process: Poisson orders at a gamma-distributed
    rate; after each repeat order, gone for good with a beta-distributed probability."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    t, x, tx = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        i = np.flatnonzero(alive)
        t[i] += rng.exponential(1 / lam[i])
        inside = t[i] <= T
        alive[i[~inside]] = False
        i = i[inside]
        x[i] += 1
        tx[i] = t[i]
        alive[i[rng.random(len(i)) < p[i]]] = False
    return pd.DataFrame({"frequency": x, "recency": tx, "T": float(T)})


@pytest.fixture(scope="module")
def bgnbd_fit():
    rfm = simulate_bgnbd(5000, **CDNOW_LIKE, T=273, seed=0)
    return BGNBD().fit(rfm), rfm


def test_bgnbd_recovers_parameters(bgnbd_fit):
    model, _ = bgnbd_fit
    assert model.converged_
    for name, true in CDNOW_LIKE.items():
        assert model.params_[name] == pytest.approx(true, rel=0.2), name


def test_bgnbd_p_alive(bgnbd_fit):
    model, rfm = bgnbd_fit
    alive = model.p_alive(rfm)
    assert ((alive >= 0) & (alive <= 1)).all()
    np.testing.assert_array_equal(alive[rfm["frequency"].to_numpy() == 0], 1.0)
    # the same history, but a longer silence since the last order: less likely alive
    quiet = pd.DataFrame({"frequency": [3.0] * 4, "recency": [50.0] * 4, "T": [60, 100, 200, 400]})
    assert (np.diff(model.p_alive(quiet)) < 0).all()


def test_bgnbd_p_no_order(bgnbd_fit):
    model, rfm = bgnbd_fit
    horizons = [0, 7, 30, 90, 365]
    p = np.column_stack([model.p_no_order(rfm, d) for d in horizons])
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p[:, 0], 1.0)
    assert (np.diff(p, axis=1) <= 1e-12).all()  # never more likely over a longer horizon
    assert (p[:, -1] >= 1 - model.p_alive(rfm) - 1e-12).all()  # the dead never order


def test_bgnbd_is_an_estimator():
    m = BGNBD(penalizer=0.01)
    assert clone(m).get_params() == {"penalizer": 0.01}
    with pytest.raises(NotFittedError):
        m.p_no_order(pd.DataFrame({"frequency": [1.0], "recency": [1.0], "T": [2.0]}), 30)


def test_rfm_summary_by_hand():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "b"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:00",  # same day: not a repeat order
                    "2024-01-11 12:00",
                    "2024-01-21 00:00",
                    "2024-01-05 10:00",
                    "2024-02-01 00:00",  # after as_of: ignored, so c is absent
                    "2024-02-02 00:00",  # after as_of: ignored
                ]
            ),
        },
        index=[0, 0, 1, 1, 2, 3, 4],  # a repeated index (concatenated exports) is fine
    )
    rfm = rfm_summary(orders, "2024-01-31")
    expected = pd.DataFrame(
        {"frequency": [2.0, 0.0], "recency": [20.0, 0.0], "T": [30.0, 26.0]},
        index=pd.Index(["a", "b"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(rfm, expected)
