"""Uplift: whom a treatment changes, not who would buy anyway.

Four meta-learners on LightGBM, each `fit(X, treatment, y)` / `predict(X)`:

- `TLearner`: one outcome model per arm; uplift = μ_arm(x) − μ_control(x).
- `OffsetTLearner`: the control outcome model first, then per arm boosters that start from its
  log-odds (init score) and learn only the change; its bias cancels in the difference; a
  committee of seeds is averaged. On the simulator it ranks best.
- `XLearner` (Künzel et al. 2019): the T-learner's models impute each row's effect (a treated
  row's outcome minus its predicted control outcome, and the reverse), a second model learns
  those, and the two estimates are blended by the propensity. It borrows strength from the
  larger group, which matters when effects are small next to the baseline.
- `ClassTransformationLearner` (Jaskowski & Jaroszewicz 2012): one classifier of
  Z = [treated and bought, or control and did not]; uplift = 2·P(Z) − 1. Weighting rows by
  their assignment probability makes the trick valid for unequal arms.

X is any table (numbers, text as categories, missing values: models/scoring.py's input
handling, shared by every booster of a learner). Several arms give a column per arm vs control.

Propensity: in a randomised experiment the assignment probabilities are known (a campaign's
holdout share and arm weights), so `fit` accepts them; the default is each arm's share of the
rows. Rows pooled from experiments with different splits need them: IPW weights make each
outcome model see the population, and a row whose arm could not have drawn another arm (P = 0)
is left out of that comparison instead of biasing it.

Metrics are plain functions over arrays (outcome, treated flag, score): `qini_curve`,
`uplift_curve`, `qini_coefficient`, `auuc`, `uplift_at_k`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

from models.list_columns import expand_lists, list_tokens
from models.scoring import ScoreModel, as_frame

ArrayLike = Any


# -- inputs -----------------------------------------------------------------------------------


def _outcome(y: ArrayLike) -> tuple[np.ndarray, bool]:
    """y as float, and whether it is binary (then boosters are classifiers)."""
    if y is None:
        raise ValueError("uplift learners require y (the outcome), but y is None")
    y = column_or_1d(y, warn=True)
    try:
        y = y.astype(float)
    except (TypeError, ValueError):
        raise ValueError("y must be numeric: 0/1 (or bool) for conversions, or a number") from None
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity: drop or fill those rows first")
    return y, bool(np.isin(y, (0.0, 1.0)).all())


def _treatment(treatment: ArrayLike, control: Any) -> tuple[np.ndarray, list[Any]]:
    """The treatment labels, and the arms (every label but `control`), sorted."""
    if treatment is None:
        raise ValueError("uplift learners require a treatment column, but treatment is None")
    t = column_or_1d(treatment, warn=True)
    if pd.isna(t).any():
        raise ValueError("treatment contains missing values: every row needs its arm")
    labels = list(pd.unique(t))
    if control not in labels:
        raise ValueError(
            f"no control rows: the control label {control!r} is not in treatment "
            f"(labels seen: {sorted(map(str, labels))[:10]}); pass control=<your label>"
        )
    arms = [v for v in labels if v != control]
    if not arms:
        raise ValueError(f"treatment holds only the control label {control!r}: nothing to compare")
    try:
        arms = sorted(arms)
    except TypeError:
        arms = sorted(arms, key=str)
    return t, arms


def _propensities(
    propensity: Any, t: np.ndarray, control: Any, arms: list[Any]
) -> tuple[np.ndarray, bool]:
    """P(label | row) for [control, *arms], shape (n, 1 + arms); and whether it was given.

    Accepted: None (each label's share of the rows), a number or 1-D array (binary only: P of
    the treated arm), a mapping label → P, or a DataFrame with a column per label.
    """
    n, labels = len(t), [control, *arms]
    if propensity is None:
        shares = np.array([np.mean(t == v) for v in labels])
        return np.tile(shares, (n, 1)), False
    if isinstance(propensity, pd.DataFrame):
        missing = [v for v in labels if v not in propensity.columns]
        if missing:
            raise ValueError(f"propensity has no column for labels {missing}")
        check_consistent_length(t, propensity)
        P = propensity[labels].to_numpy(dtype=float)
    elif isinstance(propensity, Mapping):
        missing = [v for v in labels if v not in propensity]
        if missing:
            raise ValueError(f"propensity has no probability for labels {missing}")
        P = np.tile(np.array([float(propensity[v]) for v in labels]), (n, 1))
    else:
        if len(arms) > 1:
            raise ValueError(
                "with several arms pass propensity as a mapping {label: P} or a DataFrame "
                "with a column per label"
            )
        p = np.asarray(propensity, dtype=float)
        p = np.full(n, float(p)) if p.ndim == 0 else column_or_1d(p)
        check_consistent_length(t, p)
        P = np.column_stack([1.0 - p, p])
    if not np.isfinite(P).all() or (P < 0).any() or (P > 1).any():
        raise ValueError("propensities must be probabilities in [0, 1]")
    if (P.sum(axis=1) > 1 + 1e-9).any():
        raise ValueError("propensities of a row sum to more than 1")
    own = P[np.arange(n), [labels.index(v) for v in t]]
    if (own <= 0).any():
        raise ValueError(
            f"{int((own <= 0).sum())} rows drew an arm their propensity says was impossible (P = 0)"
        )
    return P, True


# -- columns ----------------------------------------------------------------------------------


class ListColumns:
    """Tags → 0/1 columns (models/list_columns.py), as a fitted step."""

    def fit(self, X: pd.DataFrame) -> "ListColumns":
        self.tokens_ = list_tokens(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return expand_lists(X, self.tokens_)


# -- boosters ---------------------------------------------------------------------------------


def _encoder(X: pd.DataFrame) -> ScoreModel:
    """ScoreModel's input handling without its booster: text becomes categories seen here
    (unseen ones count as missing), numbers float; every booster of a learner shares it."""
    return ScoreModel().fit_encoding(X)


class _Booster:
    """A LightGBM model on the encoded matrix, early-stopped on a random slice of its rows."""

    def __init__(self, params: dict[str, Any], rounds: int, stop: int, valid: float) -> None:
        self.params, self.rounds, self.stop, self.valid = params, rounds, stop, valid

    def fit(
        self,
        Xm: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        cats: list[int],
        binary: bool,
        offset: np.ndarray | None = None,
    ) -> "_Booster":
        """`offset`: a starting score per row (log-odds when binary) that the trees add to,
        so they learn only the change from it; `predict(raw=True)` then returns that change."""
        objective = "binary" if binary else "regression"
        params = {**self.params, "objective": objective}
        n_valid = int(len(y) * self.valid)

        def rows(idx: np.ndarray) -> dict[str, Any]:
            start = None if offset is None else offset[idx]
            return {"label": y[idx], "weight": w[idx], "init_score": start}

        if n_valid >= 20:
            strat = y if binary and min(np.bincount(y.astype(int), minlength=2)) >= 2 else None
            tr, va = train_test_split(
                np.arange(len(y)), test_size=n_valid, stratify=strat, random_state=params["seed"]
            )
            train = lgb.Dataset(Xm[tr], **rows(tr), categorical_feature=cats)
            valid = lgb.Dataset(Xm[va], **rows(va), reference=train)
            self.booster_ = lgb.train(
                params,
                train,
                num_boost_round=self.rounds,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(self.stop, verbose=False)],
            )
        else:  # too few rows to hold some out: a short fixed run
            train = lgb.Dataset(Xm, **rows(np.arange(len(y))), categorical_feature=cats)
            self.booster_ = lgb.train(params, train, num_boost_round=min(self.rounds, 100))
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()
        return self

    def predict(self, Xm: np.ndarray, raw: bool = False) -> np.ndarray:
        """The prediction, or with `raw` the trees' sum alone (log-odds when binary)."""
        return self.booster_.predict(Xm, num_iteration=self.best_iteration_, raw_score=raw)


def _normalised(w: np.ndarray) -> np.ndarray:
    return w / w.mean() if len(w) else w


# -- learners ---------------------------------------------------------------------------------


class _UpliftLearner(BaseEstimator):
    """Input checks, encoding, propensities and boosters shared by the learners."""

    def __init__(
        self,
        *,
        control: Any = 0,
        n_estimators: int = 1000,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 200,
        reg_lambda: float = 5.0,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.control = control
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _booster(self, offset: int = 0) -> _Booster:
        params = {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "colsample_bytree": self.colsample_bytree,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1 else 0,
            "seed": self.random_state + offset,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        return _Booster(
            params, self.n_estimators, self.early_stopping_rounds, self.validation_fraction
        )

    def fit(
        self, X: ArrayLike, treatment: ArrayLike, y: ArrayLike, propensity: Any = None
    ) -> "_UpliftLearner":
        """`propensity`: see `_propensities`; default each arm's share of the rows."""
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        X = as_frame(X)
        y, binary = _outcome(y)
        t, arms = _treatment(treatment, self.control)
        check_consistent_length(X, t, y)
        P, given = _propensities(propensity, t, self.control, arms)
        for label in [self.control, *arms]:
            rows = y[t == label]
            if binary and len(np.unique(rows)) < 2:
                raise ValueError(
                    f"arm {label!r} has only outcome {rows[0]:g} in its {len(rows)} rows: "
                    "an uplift needs both outcomes in every arm"
                )
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.lists_ = ListColumns().fit(X)
        X = self.lists_.transform(X)
        self.encoder_ = _encoder(X)
        self.arms_ = arms
        self.binary_outcome_ = binary
        self.propensity_given_ = given
        self._fit(self.encoder_.encode(X), t, y, P, self.encoder_.categorical_positions())
        return self

    def _fit(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        raise NotImplementedError

    def _effects(self, Xm: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit_outcomes(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        """μ per label, each weighted by 1/P(its label) so it learns the whole population."""
        self.outcome_models_: list[_Booster] = []
        for k, label in enumerate([self.control, *self.arms_]):
            m = t == label
            w = _normalised(1.0 / P[m, k])
            self.outcome_models_.append(
                self._booster(k).fit(Xm[m], y[m], w, cats, self.binary_outcome_)
            )

    def _matrix(self, X: ArrayLike) -> tuple[np.ndarray, pd.Index]:
        """X in the fitted columns (a DataFrame by name, an array by position), encoded."""
        check_is_fitted(self, "arms_")
        frame = as_frame(X)
        if not isinstance(X, pd.DataFrame):
            if frame.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {frame.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input"
                )
            frame.columns = list(self.feature_names_in_)
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise ValueError(f"X is missing columns seen in fit: {missing[:10]}")
        expanded = self.lists_.transform(frame[list(self.feature_names_in_)])
        return self.encoder_.encode(expanded), frame.index

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Uplift per row: 1-D with one arm, else a column per arm (`arms_` order) vs control."""
        tau = self._effects(self._matrix(X)[0])
        return tau[:, 0] if len(self.arms_) == 1 else tau

    def predict_frame(self, X: ArrayLike) -> pd.DataFrame:
        """The same as a DataFrame: X's index, a column per arm label."""
        Xm, index = self._matrix(X)
        return pd.DataFrame(self._effects(Xm), index=index, columns=self.arms_)


class TLearner(_UpliftLearner):
    """Two (or more) outcome models; uplift is the difference of their predictions."""

    def _fit(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        self._fit_outcomes(Xm, t, y, P, cats)

    def _effects(self, Xm: np.ndarray) -> np.ndarray:
        mu = [m.predict(Xm) for m in self.outcome_models_]
        return np.column_stack([mu_a - mu[0] for mu_a in mu[1:]])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class OffsetTLearner(_UpliftLearner):
    """A T-learner whose arm models start from the control model's prediction.

    A plain T-learner fits each arm's outcome from scratch, so the uplift is the difference of
    two noisy models of the (large) baseline. Here a control outcome model μ0 comes first;
    then, per arm, a booster on the arm's rows with init score link(μ0(x)) — its trees learn
    only how the arm changes the outcome — and a same-shaped booster on the control rows, with
    μ0 cross-fitted so it did not see them, which learns μ0's own bias (usually almost no
    trees). Uplift = link⁻¹(l0 + g_arm) − link⁻¹(l0 + g_control), l0 = link(μ0(x)): the
    control model's bias cancels. Link: logit for a 0/1 outcome, identity otherwise.

    Slow, small trees (learning rate 0.02, 5 leaves, 200 rows a leaf) early-stopped on a
    quarter of the rows: the change is small next to the baseline and easily over-fitted.
    Even so one fit's ranking depends on its seed (row and column subsamples, the early-stopping
    slice, the folds), so `committee` fits with different seeds are averaged. On the simulator
    (expected Qini from the true effects, 2 worlds × 4 seeds) a committee of 4 reached 0.569
    of the oracle's where single fits with the same seeds averaged 0.545 (better in 7 of 8),
    and the spread over seeds narrowed from 0.503–0.577 to 0.553–0.579; it costs 4× the time.
    """

    def __init__(
        self,
        *,
        control: Any = 0,
        n_estimators: int = 3000,
        learning_rate: float = 0.02,
        num_leaves: int = 5,
        min_child_samples: int = 200,
        reg_lambda: float = 5.0,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        early_stopping_rounds: int = 200,
        validation_fraction: float = 0.25,
        folds: int = 2,
        committee: int = 4,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        super().__init__(
            control=control,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            min_child_samples=min_child_samples,
            reg_lambda=reg_lambda,
            colsample_bytree=colsample_bytree,
            subsample=subsample,
            early_stopping_rounds=early_stopping_rounds,
            validation_fraction=validation_fraction,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        self.folds = folds
        self.committee = committee

    def _link(self, mu: np.ndarray) -> np.ndarray:
        return _logit(mu) if self.binary_outcome_ else mu

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        return _sigmoid(z) if self.binary_outcome_ else z

    def _fit(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2 (cross-fitting), got {self.folds}")
        if self.committee < 1:
            raise ValueError(f"committee must be at least 1, got {self.committee}")
        self.members_ = [
            self._fit_member(Xm, t, y, P, cats, seed=10_000 * m) for m in range(self.committee)
        ]

    def _fit_member(
        self,
        Xm: np.ndarray,
        t: np.ndarray,
        y: np.ndarray,
        P: np.ndarray,
        cats: list[int],
        seed: int,
    ) -> "_OffsetMember":
        """One control model and its (arm, control) offset boosters, seeds shifted by `seed`."""
        control = t == self.control
        w0 = 1.0 / P[:, 0]  # IPW, as the T-learner's outcome models
        mu0 = self._booster(seed).fit(
            Xm[control], y[control], _normalised(w0[control]), cats, self.binary_outcome_
        )
        start = self._link(mu0.predict(Xm))  # arm rows: μ0 never saw them
        start[control] = self._link(self._cross_fitted(Xm, y, control, w0, cats, seed))
        arms: list[tuple[_Booster, _Booster]] = []
        for k, label in enumerate(self.arms_, start=1):
            both = (P[:, k] > 0) & (P[:, 0] > 0)  # rows that could have drawn either
            arm, ctl = both & (t == label), both & control
            g_arm = self._booster(seed + 300 + k).fit(
                Xm[arm],
                y[arm],
                _normalised(1.0 / P[arm, k]),
                cats,
                self.binary_outcome_,
                offset=start[arm],
            )
            g_ctl = self._booster(seed + 400 + k).fit(
                Xm[ctl],
                y[ctl],
                _normalised(w0[ctl]),
                cats,
                self.binary_outcome_,
                offset=start[ctl],
            )
            arms.append((g_arm, g_ctl))
        return _OffsetMember(mu0, arms)

    def _cross_fitted(
        self,
        Xm: np.ndarray,
        y: np.ndarray,
        rows: np.ndarray,
        w: np.ndarray,
        cats: list[int],
        seed: int,
    ) -> np.ndarray:
        """μ0 on `rows` from models fitted on the other folds: an honest starting point."""
        idx = np.flatnonzero(rows)
        fold = np.random.default_rng(self.random_state + seed).integers(0, self.folds, len(idx))
        out = np.empty(len(idx))
        for f in range(self.folds):
            fit, score = idx[fold != f], idx[fold == f]
            model = self._booster(seed + 500 + f).fit(
                Xm[fit], y[fit], _normalised(w[fit]), cats, self.binary_outcome_
            )
            out[fold == f] = model.predict(Xm[score])
        return out

    def _member_effects(self, member: "_OffsetMember", Xm: np.ndarray) -> np.ndarray:
        l0 = self._link(member.control.predict(Xm))
        return np.column_stack(
            [
                self._inverse(l0 + g_arm.predict(Xm, raw=True))
                - self._inverse(l0 + g_ctl.predict(Xm, raw=True))
                for g_arm, g_ctl in member.arms
            ]
        )

    def _effects(self, Xm: np.ndarray) -> np.ndarray:
        return np.mean([self._member_effects(m, Xm) for m in self.members_], axis=0)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models registered before the committee held one fit in two attributes; they still
        # load (the registry's champion keeps serving) as a committee of one.
        if "members_" not in state and "control_model_" in state:
            state["members_"] = [
                _OffsetMember(state.pop("control_model_"), state.pop("offset_models_"))
            ]
            state.setdefault("committee", 1)
        super().__setstate__(state)


@dataclass(frozen=True)
class _OffsetMember:
    """One fit of the offset T-learner: μ0 and, per arm, its (arm, control) offset boosters."""

    control: _Booster
    arms: list[tuple[_Booster, _Booster]]


class XLearner(_UpliftLearner):
    """T-learner outcome models, then effect models on imputed individual effects, blended as
    g · τ_control + (1 − g) · τ_arm with g = P(arm | arm or control). τ_control is fitted on
    control rows with effects imputed by the arm's outcome model, the better estimated one when
    treated rows are the many, so it gets the larger weight exactly then (Künzel et al.)."""

    def _fit(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        self._fit_outcomes(Xm, t, y, P, cats)
        mu0 = self.outcome_models_[0]
        self.effect_models_: list[tuple[_Booster, _Booster]] = []
        self.g_: list[float] = []
        for k, label in enumerate(self.arms_, start=1):
            ok = (P[:, k] > 0) & (P[:, 0] > 0)
            mt, mc = ok & (t == label), ok & (t == self.control)
            d_t = y[mt] - mu0.predict(Xm[mt])
            d_c = self.outcome_models_[k].predict(Xm[mc]) - y[mc]
            tau_t = self._booster(100 + k).fit(
                Xm[mt], d_t, _normalised(1.0 / P[mt, k]), cats, False
            )
            tau_c = self._booster(200 + k).fit(
                Xm[mc], d_c, _normalised(1.0 / P[mc, 0]), cats, False
            )
            self.effect_models_.append((tau_t, tau_c))
            e = P[ok, k] / (P[ok, k] + P[ok, 0])
            self.g_.append(float(e.mean()))

    def _effects(self, Xm: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                g * tau_c.predict(Xm) + (1 - g) * tau_t.predict(Xm)
                for (tau_t, tau_c), g in zip(self.effect_models_, self.g_, strict=True)
            ]
        )


class ClassTransformationLearner(_UpliftLearner):
    """One model per arm of Z = Y·T + (1 − Y)(1 − T) on that arm's and the control's rows.

    Rows are weighted 1/(2e) (treated) and 1/(2(1 − e)) (control), e = P(arm | arm or
    control), so the weighted data look like a 50/50 experiment, where E[2Z − 1 | x] is the
    uplift. A numeric (non 0/1) outcome uses the transformed outcome Y(T − e)/(e(1 − e))
    instead (Athey & Imbens), whose mean given x is also the uplift.
    """

    def _fit(
        self, Xm: np.ndarray, t: np.ndarray, y: np.ndarray, P: np.ndarray, cats: list[int]
    ) -> None:
        self.arm_models_: list[_Booster] = []
        for k, label in enumerate(self.arms_, start=1):
            m = ((t == label) | (t == self.control)) & (P[:, k] > 0) & (P[:, 0] > 0)
            treated = t[m] == label
            e = P[m, k] / (P[m, k] + P[m, 0])
            if self.binary_outcome_:
                z = np.where(treated, y[m], 1.0 - y[m])
                w = _normalised(np.where(treated, 0.5 / e, 0.5 / (1 - e)))
                model = self._booster(k).fit(Xm[m], z, w, cats, True)
            else:
                z = y[m] * (treated - e) / (e * (1 - e))
                model = self._booster(k).fit(Xm[m], z, np.ones(len(z)), cats, False)
            self.arm_models_.append(model)

    def _effects(self, Xm: np.ndarray) -> np.ndarray:
        out = [m.predict(Xm) for m in self.arm_models_]
        if self.binary_outcome_:
            out = [2.0 * p - 1.0 for p in out]
        return np.column_stack(out)


LEARNERS: dict[str, type[_UpliftLearner]] = {
    "t_learner": TLearner,
    "offset_t_learner": OffsetTLearner,
    "x_learner": XLearner,
    "class_transformation": ClassTransformationLearner,
}


def mixed_uplift(uplift: pd.DataFrame, mix: Mapping[Any, float]) -> np.ndarray:
    """The uplift of entering an experiment whose treated rows draw arm a with share mix[a]:
    Σ mix[a] · uplift[a] / Σ mix[a], over the arms the model knows (a campaign's offers).
    That is what the experiment's treated-vs-control comparison measures, row by row."""
    known = {a: float(w) for a, w in mix.items() if a in uplift.columns and w > 0}
    if not known:
        raise ValueError(
            f"none of the arms {sorted(map(str, mix))} is known to the model "
            f"(it learned {sorted(map(str, uplift.columns))})"
        )
    total = sum(known.values())
    return sum(uplift[a].to_numpy(dtype=float) * w for a, w in known.items()) / total


# -- metrics ----------------------------------------------------------------------------------


def _metric_inputs(
    y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, propensity: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked arrays, sorted by descending score, with IPW weights (1 without propensities)."""
    y = column_or_1d(y).astype(float)
    t = column_or_1d(treatment)
    s = column_or_1d(uplift).astype(float)
    check_consistent_length(y, t, s)
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if not set(np.unique(t).tolist()) <= {0, 1}:  # bools compare equal to 0/1
        raise ValueError("treatment must be 0/1 or bool (1 = treated); compare one arm at a time")
    t = t.astype(bool)
    if t.all() or not t.any():
        raise ValueError("the metrics need both treated and control rows")
    if np.isnan(y).any() or np.isnan(s).any():
        raise ValueError("y and the uplift scores must not contain NaN")
    if propensity is None:
        w = np.ones(len(y))
    else:
        e = np.broadcast_to(np.asarray(propensity, dtype=float), y.shape)
        if ((e <= 0) | (e >= 1)).any():
            raise ValueError("propensities must be strictly between 0 and 1")
        w = np.where(t, 1.0 / e, 1.0 / (1.0 - e))
    order = np.argsort(-s, kind="stable")
    return y[order], t[order], s[order], w[order]


def _cumulative(
    y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, propensity: Any
) -> tuple[np.ndarray, ...]:
    """Share of rows targeted and weighted treated/control counts and outcomes at each cut,
    from (0, 0) to all rows. Cuts fall only between different scores: tied rows are targeted
    together (the curve is a straight line across a tie, as for a ROC curve)."""
    y, t, s, w = _metric_inputs(y, treatment, uplift, propensity)
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]

    def cum(v: np.ndarray) -> np.ndarray:
        return np.r_[0.0, np.cumsum(v)[ends]]

    x = np.r_[0.0, (ends + 1) / len(s)]
    return x, cum(w * t), cum(w * ~t), cum(w * y * t), cum(w * y * ~t)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def qini_curve(
    y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, *, propensity: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, Qini) at each cut, best scores first.

    Qini(k) = (Y_t(k) − Y_c(k) · N_t(k) / N_c(k)) / N_t: Radcliffe's incremental responses
    among the top k, as a share of all treated rows, so the curve ends at the overall
    difference of rates (the ATE). A prefix with no control rows counts none (as
    scikit-uplift does). `propensity` (P(treated), a number or one per row) weights rows by
    inverse propensity, for rows pooled from experiments with different splits.
    """
    x, nt, nc, yt, yc = _cumulative(y, treatment, uplift, propensity)
    return x, (yt - _div(yc * nt, nc)) / nt[-1]


def uplift_curve(
    y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, *, propensity: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, uplift) at each cut: (rate_t(k) − rate_c(k)) · share targeted, the
    incremental conversions per row of the population from treating the top k."""
    x, nt, nc, yt, yc = _cumulative(y, treatment, uplift, propensity)
    return x, (_div(yt, nt) - _div(yc, nc)) * x


def _area(x: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (q[1:] + q[:-1]) / 2))


def qini_coefficient(
    y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, *, propensity: Any = None
) -> float:
    """Area between the Qini curve and random targeting's straight line (0 for random, < 0 for
    a ranking worse than random); in conversion-rate units, not normalised to a "perfect"
    curve, so ratios between two rankings of the same rows compare their lift directly."""
    x, q = qini_curve(y, treatment, uplift, propensity=propensity)
    return _area(x, q) - q[-1] / 2


def auuc(y: ArrayLike, treatment: ArrayLike, uplift: ArrayLike, *, propensity: Any = None) -> float:
    """Area under the uplift curve (random targeting: about ATE / 2)."""
    return _area(*uplift_curve(y, treatment, uplift, propensity=propensity))


def uplift_at_k(
    y: ArrayLike,
    treatment: ArrayLike,
    uplift: ArrayLike,
    k: float = 0.3,
    *,
    propensity: Any = None,
) -> float:
    """Treated minus control conversion rate among the top share `k` of rows by score.

    The cut is at k · n rows, interpolated inside a group of tied scores (a constant score
    gives the overall difference, whatever the row order).
    """
    if not 0 < k <= 1:
        raise ValueError(f"k is a share of rows in (0, 1], got {k}")
    x, nt, nc, yt, yc = _cumulative(y, treatment, uplift, propensity)
    at = [float(np.interp(k, x, v)) for v in (nt, nc, yt, yc)]
    if at[0] <= 0 or at[1] <= 0:
        raise ValueError(f"the top {k:.0%} holds no treated or no control rows")
    return at[2] / at[0] - at[3] / at[1]
