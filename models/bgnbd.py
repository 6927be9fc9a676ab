"""BG/NBD ("buy till you die", Fader, Hardie & Lee 2005): P(alive) and P(no order in the next
days) from order history alone — the churn baseline, and a churn model when all you have is
(customer, date, amount).

Written here because the maintained implementations are either unmaintained (`lifetimes`) or
pull in a probabilistic-programming stack (`pymc-marketing`); the model is four parameters and a
closed-form likelihood, fitted with scipy.
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


def rfm_summary(
    orders: pd.DataFrame, as_of: Any, *, customer: str = "customer_id", when: str = "ordered_at"
) -> pd.DataFrame:
    """Per customer, in days: `frequency` (repeat orders, on distinct days), `recency` (first to
    last order) and `T` (first order to `as_of`). Orders after `as_of` are ignored."""
    as_of = pd.Timestamp(as_of)
    t = pd.to_datetime(orders[when], utc=True)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    keep = (t <= as_of).to_numpy()
    # positional, so a frame with a repeated index (e.g. concatenated exports) works too
    day = t[keep].dt.floor("D").reset_index(drop=True)
    df = pd.DataFrame({customer: orders[customer].to_numpy()[keep], "day": day})
    g = df.drop_duplicates().groupby(customer)["day"]
    first, last, n = g.min(), g.max(), g.size()
    return pd.DataFrame(
        {
            "frequency": (n - 1).astype(float),
            "recency": (last - first).dt.days.astype(float),
            "T": ((as_of.floor("D") - first).dt.days).astype(float),
        }
    )


class BGNBD(BaseEstimator):
    """Fit on an RFM summary (`frequency`, `recency`, `T`); predict P(alive) and churn risk."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @staticmethod
    def _loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore"):
            a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx),
                -np.inf,
            )
        return a1 + a2 + np.logaddexp(a3, a4)

    def fit(self, rfm: pd.DataFrame) -> "BGNBD":
        x, tx, T = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        if len(x) == 0:
            raise ValueError("no customers to fit on")

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            penalty = self.penalizer * np.sum(params**2)
            return -float(np.mean(self._loglik(params, x, tx, T))) + penalty

        result = minimize(
            objective,
            x0=np.log([1.0, max(T.mean(), 1.0), 1.0, 1.0]),
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-9},
        )
        self.params_ = dict(zip(("r", "alpha", "a", "b"), np.exp(result.x), strict=True))
        self.converged_ = bool(result.success)
        return self

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "params_")
        r, alpha, a, b = (self.params_[k] for k in ("r", "alpha", "a", "b"))
        x, tx, T = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        with np.errstate(over="ignore"):
            odds = np.where(
                x > 0,
                a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x),
                0.0,
            )
        return 1.0 / (1.0 + odds)

    def p_no_order(self, rfm: pd.DataFrame, days: float) -> np.ndarray:
        """P(no order in the next `days`): dead, or alive and quiet for that long."""
        check_is_fitted(self, "params_")
        r, alpha = self.params_["r"], self.params_["alpha"]
        x, T = rfm["frequency"].to_numpy(float), rfm["T"].to_numpy(float)
        quiet = ((alpha + T) / (alpha + T + days)) ** (r + x)
        return 1.0 - self.p_alive(rfm) * (1.0 - quiet)
