"""Holdout metrics for a probability: ranking, calibration, and what a rep gains by the top."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def gains_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Deciles by descending probability: positives caught, cumulative gain, lift."""
    order = np.argsort(-p, kind="stable")
    y_sorted = np.asarray(y)[order]
    edges = np.linspace(0, len(y_sorted), bins + 1).astype(int)
    rows = []
    total, base = y_sorted.sum(), y_sorted.mean()
    for d in range(bins):
        part = y_sorted[edges[d] : edges[d + 1]]
        upto = y_sorted[: edges[d + 1]]
        rows.append(
            {
                "decile": d + 1,
                "rows": len(part),
                "positive_rate": float(part.mean()) if len(part) else 0.0,
                "lift": float(part.mean() / base) if len(part) and base else 0.0,
                "cumulative_gain": float(upto.sum() / total) if total else 0.0,
            }
        )
    return pd.DataFrame(rows)


def classification_metrics(y: Any, p: Any, *, top_fraction: float = 0.1) -> dict[str, float]:
    y, p = np.asarray(y).astype(int), np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    k = max(1, int(round(top_fraction * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p)),
        "base_rate": float(y.mean()),
        "lift_top_decile": float(y[top].mean() / y.mean()) if y.mean() else 0.0,
        "recall_top_decile": float(y[top].sum() / y.sum()) if y.sum() else 0.0,
        "rows": float(len(y)),
    }


def calibration_table(y: Any, p: Any, bins: int = 10) -> pd.DataFrame:
    frac_pos, mean_pred = calibration_curve(
        np.asarray(y).astype(int), np.asarray(p), n_bins=bins, strategy="quantile"
    )
    return pd.DataFrame({"mean_predicted": mean_pred, "fraction_positive": frac_pos})
