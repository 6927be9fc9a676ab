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
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

GRADES = ("A", "B", "C", "D")
# Share of scored entities in grades A, B, C (D is the rest): hot leads are the top tenth.
GRADE_SHARES = (0.10, 0.20, 0.30)


def as_frame(X: Any) -> pd.DataFrame:
    """X as a DataFrame; arrays get columns x0, x1, … (object arrays holding only numbers become
    numeric columns, as they would in `check_array`)."""
    if sp.issparse(X):
        raise TypeError("sparse input is not supported: pass a dense array or a DataFrame")
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(
                f"Expected a 2D array or a DataFrame, got shape {arr.shape}. Reshape your data "
                "with X.reshape(1, -1) if it is a single row"
            )
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        if arr.dtype == object:
            frame = frame.infer_objects()
    for n, what in ((frame.shape[0], "sample(s)"), (frame.shape[1], "feature(s)")):
        if n == 0:
            raise ValueError(
                f"Found array with 0 {what} (shape={frame.shape}) while a minimum of 1 is required."
            )
    complex_cols = [c for c in frame.columns if pd.api.types.is_complex_dtype(frame[c])]
    if complex_cols:
        raise ValueError(f"Complex data not supported: columns {complex_cols[:10]}")
    return frame


def _cutoffs(key: np.ndarray, shares: np.ndarray) -> list[float]:
    """For each cumulative share, the cut-off t for which the fraction of `key > t` is closest
    to it. Rows with equal keys stay together (deterministic, whatever their order)."""
    key = key[~np.isnan(key)]
    values, counts = np.unique(key, return_counts=True)
    # above[i]: rows strictly above values[i]; cutting at values[i] puts values[i] and below out
    above = (counts[::-1].cumsum()[::-1] - counts) / len(key)
    return [float(values[np.argmin(np.abs(above - share))]) for share in shares]


ISOTONIC_MIN_ROWS = 5_000  # below this, isotonic steps overfit: Platt scaling instead


class _Platt:
    """Logistic regression on the booster's log-odds: monotone, so ranking (AUC) is kept."""

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "_Platt":
        from sklearn.linear_model import LogisticRegression

        self.lr_ = LogisticRegression(C=1e6).fit(_logit(raw)[:, None], y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.lr_.predict_proba(_logit(raw)[:, None])[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _calibrator(rows: int) -> Any:
    if rows >= ISOTONIC_MIN_ROWS:
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    return _Platt()


# Below this many rows a prediction runs on the calling thread: waking LightGBM's thread pool
# costs more than the work, and a server already runs one request per thread.
_SMALL_BATCH = 1_000


def _threads(rows: int) -> dict[str, int]:
    return {"num_threads": 1} if rows < _SMALL_BATCH else {}


def _category_codes(categories: Mapping[str, list[Any]]) -> dict[str, dict[str, float]]:
    return {c: {v: float(k) for k, v in enumerate(cats)} for c, cats in categories.items()}


class ScoreModel(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees with early stopping, then calibration on held-out rows (isotonic
    with enough rows, Platt scaling below that).

    `fit(X, y, eval_set=(X_val, y_val))` uses the given validation rows (the training pipeline
    passes a later time slice) for early stopping and calibration; without it, a stratified
    `validation_fraction` of the training rows is held out.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 1500,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 40,
        reg_lambda: float = 5.0,
        colsample_bytree: float = 0.6,
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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: a score is P(one outcome)
        tags.input_tags.allow_nan = True  # LightGBM routes missing values itself
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

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
        self.category_codes_ = _category_codes(self.categories_)

    def _frame(self, X: Any) -> pd.DataFrame:
        """X with the fitted column names. A DataFrame is matched by column name (extra columns,
        e.g. the rest of a feature table, are ignored); an array must have exactly the fitted
        number of columns, in order."""
        if isinstance(X, pd.DataFrame):
            return as_frame(X)
        X = as_frame(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but ScoreModel is expecting "
                f"{self.n_features_in_} features as input"
            )
        X.columns = list(self.feature_names_in_)
        return X

    def _prepare(self, X: Any) -> pd.DataFrame:
        X = self._frame(X)
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

    def _matrix(self, X: Any) -> np.ndarray:
        """The rows as LightGBM's float matrix: numbers as they are, categories as their codes
        in the fitted order (the codes LightGBM learned from the categorical frame), missing or
        unseen as NaN. Same values as the frame `_prepare` makes, without building one column
        at a time: on a single row that was most of the prediction time."""
        X = self._frame(X)
        names = [str(c) for c in self.feature_names_in_]
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing columns seen in fit: {missing[:10]}")
        X = X[list(self.feature_names_in_)]
        # models saved before `category_codes_` existed build the map on each call
        codes = getattr(self, "category_codes_", None) or _category_codes(self.categories_)
        out = np.empty((len(X), len(names)), dtype=np.float64)
        numeric = [j for j, n in enumerate(names) if n not in codes]
        try:  # one block copy when the numeric columns convert as they are (the usual case)
            out[:, numeric] = X.iloc[:, numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            for j in numeric:
                out[:, j] = pd.to_numeric(X.iloc[:, j], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
        for j, name in enumerate(names):
            if name in codes:
                lookup = codes[name]
                out[:, j] = [
                    np.nan if v is None or v != v else lookup.get(str(v), np.nan)
                    for v in X.iloc[:, j].tolist()
                ]
        return out

    # -- the column encoding, for estimators that train their own boosters -----------------
    def fit_encoding(self, X: Any) -> "ScoreModel":
        """Learn only the column encoding from X, no booster: which columns are text (they
        become categories, with the values seen here) and the column order. For models that
        train their own LightGBM boosters but want exactly this model's input handling
        (models/uplift.py); `fit` learns the same encoding itself."""
        self._learn_columns(as_frame(X))
        return self

    def encode(self, X: Any) -> np.ndarray:
        """X as the float matrix LightGBM gets: numbers as they are, text as its category code,
        missing or unseen values as NaN (see `_matrix`). A DataFrame is matched by column name,
        an array by position."""
        check_is_fitted(self, "categories_")
        return self._matrix(X)

    def categorical_positions(self) -> list[int]:
        """The columns of `encode`'s matrix that hold category codes: pass them to
        `lgb.Dataset(categorical_feature=...)` so codes are split as categories, not numbers."""
        check_is_fitted(self, "categories_")
        return [j for j, c in enumerate(self.feature_names_in_) if str(c) in self.categories_]

    @staticmethod
    def _labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError("ScoreModel requires y to be passed, but the target y is None")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"y has only one class ({classes.tolist()}): a score needs examples of both "
                "outcomes"
            )
        if len(classes) > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"multiclass ({len(classes)} classes: {classes.tolist()[:10]})."
            )
        return (y == classes[1]).astype(int), classes

    # -- fit / predict ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> "ScoreModel":
        X = as_frame(X)
        y01, classes = self._labels(y)
        check_consistent_length(X, y01)
        self.classes_ = classes
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
            _calibrator(len(y_va)).fit(raw, y_va)
            if self.calibrate and len(np.unique(y_va)) == 2
            else None
        )
        # a default from the validation rows' rank scores (already computed above); the
        # pipeline resets it on the holdout
        self.grade_on_ = "rank_score"
        self.grade_thresholds_ = _cutoffs(raw, np.cumsum(GRADE_SHARES))
        return self

    def _raw(self, Xp: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.booster_.predict(Xp, num_iteration=self.best_iteration_, **_threads(len(Xp)))

    def _proba(self, Xp: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self._calibrated(self._raw(Xp))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return raw
        return np.clip(self.calibrator_.predict(raw), 0.0, 1.0)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "booster_")
        p = self._proba(self._matrix(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The more probable class; a tie at exactly 0.5 (isotonic steps make ties possible)
        goes to the first class, as `argmax` of `predict_proba` would."""
        check_is_fitted(self, "booster_")
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    # -- scores, grades, reasons --------------------------------------------------------------
    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:  # noqa: D401
        """With y: sklearn's accuracy (the estimator contract). Use `scores` for 0–100."""
        if y is not None:
            return super().score(X, y, sample_weight=sample_weight)
        return self.scores(X)

    def scores(self, X: Any) -> np.ndarray:
        """The calibrated probability on a 0–100 scale."""
        return np.round(self.predict_proba(X)[:, 1] * 100, 1)

    def rank_scores(self, X: Any) -> np.ndarray:
        """The uncalibrated booster probability, for ranking. Calibration is a non-decreasing
        function of it, so it orders rows as `predict_proba` does, and also inside isotonic
        steps, where whole blocks of rows share one calibrated probability."""
        check_is_fitted(self, "booster_")
        return self._raw(self._matrix(X))

    def set_grade_thresholds(self, reference: Any) -> "ScoreModel":
        """Learn A/B/C cut-offs so a reference set (the holdout) splits 10/20/30/40%.

        Pass the reference rows X: the cut-offs are then on `rank_scores`, and grades hold
        their shares even though calibrated probabilities come in tied steps (with 1e5 rows a
        single step can hold 5–10% of them). A 1-D array is read as calibrated probabilities
        of the reference rows; a tied step at a cut-off then goes whole to the side that keeps
        the share closer to its target, so shares are only as fine as the steps.
        """
        check_is_fitted(self, "booster_")
        ref = np.asarray(reference) if not isinstance(reference, pd.DataFrame) else None
        if ref is not None and ref.ndim == 1:
            self.grade_on_ = "probability"
            key = ref.astype(float)
        else:
            self.grade_on_ = "rank_score"
            key = self._raw(self._matrix(reference))
        self.grade_thresholds_ = _cutoffs(key, np.cumsum(GRADE_SHARES))
        return self

    def grades(self, X: Any) -> np.ndarray:
        """A–D by the learned cut-offs; a higher probability never gets a lower grade."""
        check_is_fitted(self, "grade_thresholds_")
        return self._grades(self._matrix(X))

    def _grades(self, Xm: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        # models saved before `grade_on_` existed cut on probabilities
        on = getattr(self, "grade_on_", "probability")
        raw = self._raw(Xm) if raw is None else raw
        key = raw if on == "rank_score" else self._calibrated(raw)
        a, b, c = self.grade_thresholds_
        return np.select([key > a, key > b, key > c], list(GRADES[:3]), default=GRADES[3])

    def contributions(self, X: Any) -> pd.DataFrame:
        """TreeSHAP contributions in log-odds; with `base_value` they sum to the raw score."""
        check_is_fitted(self, "booster_")
        X = self._frame(X)
        return self._contributions(self._matrix(X), X.index)

    def _contributions(self, Xm: np.ndarray, index: pd.Index) -> pd.DataFrame:
        c = self.booster_.predict(
            Xm, num_iteration=self.best_iteration_, pred_contrib=True, **_threads(len(Xm))
        )
        return pd.DataFrame(
            c, index=index, columns=[*map(str, self.feature_names_in_), "base_value"]
        )

    def reasons(
        self, X: Any, *, top: int = 3, describe: Mapping[str, str] | None = None
    ) -> list[list[dict[str, Any]]]:
        """For each row, the strongest reasons up and down, in words."""
        check_is_fitted(self, "booster_")
        X = self._frame(X)
        return self._reasons(X, self._matrix(X), top=top, describe=describe)

    def _reasons(
        self,
        X: pd.DataFrame,
        Xm: np.ndarray,
        *,
        top: int = 3,
        describe: Mapping[str, str] | None = None,
    ) -> list[list[dict[str, Any]]]:
        from models.reasons import explain_row

        contrib = self._contributions(Xm, X.index)
        return [
            explain_row(X.loc[idx], contrib.loc[idx].drop("base_value"), top=top, describe=describe)
            for idx in X.index
        ]

    def assess(
        self, X: Any, *, explain: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[list[dict[str, Any]]] | None]:
        """Probability, grade and (optionally) reasons for each row, from one prepared matrix
        and one pass through the trees: what serving asks for on every request."""
        check_is_fitted(self, "grade_thresholds_")
        X = self._frame(X)
        Xm = self._matrix(X)
        raw = self._raw(Xm)
        reasons = self._reasons(X, Xm) if explain else None
        return self._calibrated(raw), self._grades(Xm, raw), reasons
