"""A calibrated LightGBM classifier for scores people act on: probability, 0–100 score, grade,
and the reasons behind each score.

It works on any tabular data: numeric, boolean and text/categorical columns (text becomes a
LightGBM categorical with the categories seen in `fit`; unseen ones count as missing), missing
values, imbalanced labels. Lead scoring, conversion and churn are instances with their own
features and reason wording (models/lead_scoring.py, …).
"""

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

GRADES = ("A", "B", "C", "D")
# Share of scored entities in grades A, B, C (D is the rest): hot leads are the top tenth.
GRADE_SHARES = (0.10, 0.20, 0.30)


def as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


class ScoreModel(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees with early stopping, then isotonic calibration on held-out rows.

    `fit(X, y, eval_set=(X_val, y_val))` uses the given validation rows (the training pipeline
    passes a later time slice) for early stopping and calibration; without it, a stratified
    `validation_fraction` of the training rows is held out.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        reg_lambda: float = 1.0,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.2,
        calibrate: bool = True,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.calibrate = calibrate
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- input handling ---------------------------------------------------------------------
    def _learn_columns(self, X: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_: dict[str, list[Any]] = {}
        for col in X.columns:
            s = X[col]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                cats = pd.Series(s.dropna().unique()).astype(str)
                self.categories_[str(col)] = sorted(cats.tolist())

    def _prepare(self, X: Any) -> pd.DataFrame:
        X = as_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing columns seen in fit: {missing[:10]}")
        X = X[list(self.feature_names_in_)]
        out = {}
        for col in X.columns:
            s = X[col]
            if str(col) in self.categories_:
                values = s.astype(object).where(s.notna(), None)
                values = values.map(lambda v: None if v is None else str(v))
                out[col] = pd.Categorical(values, categories=self.categories_[str(col)])
            else:
                out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
        return pd.DataFrame(out, index=X.index)

    @staticmethod
    def _labels(y: Any) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError("y must be 1-dimensional")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"y needs exactly two classes, got {classes.tolist()}")
        return (y == classes[1]).astype(int), classes

    # -- fit / predict ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> "ScoreModel":
        X = as_frame(X)
        y01, self.classes_ = self._labels(y)
        self._learn_columns(X)
        Xp = self._prepare(X)
        if eval_set is not None:
            X_tr, y_tr = Xp, y01
            X_va = self._prepare(eval_set[0])
            y_va = (np.asarray(eval_set[1]) == self.classes_[1]).astype(int)
        else:
            X_tr, X_va, y_tr, y_va = train_test_split(
                Xp,
                y01,
                test_size=self.validation_fraction,
                stratify=y01,
                random_state=self.random_state,
            )
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "colsample_bytree": self.colsample_bytree,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1 else 0,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        cats = [c for c in Xp.columns if str(c) in self.categories_]
        train = lgb.Dataset(X_tr, y_tr, categorical_feature=cats or "auto", free_raw_data=False)
        valid = lgb.Dataset(X_va, y_va, reference=train, categorical_feature=cats or "auto")
        self.booster_ = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()
        raw = self.booster_.predict(X_va, num_iteration=self.best_iteration_)
        self.calibrator_ = (
            IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y_va)
            if self.calibrate and len(np.unique(y_va)) == 2
            else None
        )
        self.set_grade_thresholds(self._proba(Xp))
        return self

    def _proba(self, Xp: pd.DataFrame) -> np.ndarray:
        raw = self.booster_.predict(Xp, num_iteration=self.best_iteration_)
        if self.calibrator_ is None:
            return raw
        return np.clip(self.calibrator_.predict(raw), 0.0, 1.0)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "booster_")
        p = self._proba(self._prepare(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    # -- scores, grades, reasons --------------------------------------------------------------
    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:  # noqa: D401
        """With y: sklearn's accuracy (the estimator contract). Use `scores` for 0–100."""
        if y is not None:
            return super().score(X, y, sample_weight=sample_weight)
        return self.scores(X)

    def scores(self, X: Any) -> np.ndarray:
        """The calibrated probability on a 0–100 scale."""
        return np.round(self.predict_proba(X)[:, 1] * 100, 1)

    def set_grade_thresholds(self, probabilities: np.ndarray) -> "ScoreModel":
        """Learn A/B/C cut-offs from probabilities of a reference set (the holdout)."""
        p = np.sort(np.asarray(probabilities))[::-1]
        edges = np.cumsum(GRADE_SHARES)
        self.grade_thresholds_ = [float(p[min(int(e * len(p)), len(p) - 1)]) for e in edges]
        return self

    def grades(self, X: Any) -> np.ndarray:
        p = self.predict_proba(X)[:, 1]
        a, b, c = self.grade_thresholds_
        return np.select([p > a, p > b, p > c], list(GRADES[:3]), default=GRADES[3])

    def contributions(self, X: Any) -> pd.DataFrame:
        """TreeSHAP contributions in log-odds; with `base_value` they sum to the raw score."""
        check_is_fitted(self, "booster_")
        Xp = self._prepare(X)
        c = self.booster_.predict(Xp, num_iteration=self.best_iteration_, pred_contrib=True)
        return pd.DataFrame(
            c, index=Xp.index, columns=[*map(str, self.feature_names_in_), "base_value"]
        )

    def reasons(
        self, X: Any, *, top: int = 3, describe: Mapping[str, str] | None = None
    ) -> list[list[dict[str, Any]]]:
        """For each row, the strongest reasons up and down, in words."""
        from models.reasons import explain_row

        X = as_frame(X)
        contrib = self.contributions(X)
        return [
            explain_row(X.loc[idx], contrib.loc[idx].drop("base_value"), top=top, describe=describe)
            for idx in X.index
        ]
