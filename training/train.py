"""`lodestar train`: labels → point-in-time training set → fit → evaluate → MLflow → gate.

Splits are by time (train, then validation for early stopping and calibration, then the
holdout), so the holdout measures the model on a later period than it learned from.
"""

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vectors import column_of
from models.features import FEATURES
from models.scoring import ScoreModel
from serving.config import Settings
from training.baselines import as_text, logistic_baseline
from training.evaluate import calibration_table, classification_metrics, gains_table

MODELS = ("lead_scoring", "conversion", "churn")
SPLIT = (0.65, 0.80)  # train until the 65% time quantile, validate until 80%, then holdout
PIP = ["lightgbm==4.7.0", "scikit-learn==1.9.1", "pandas==2.3.3", "numpy==2.4.6"]


@dataclass
class TrainResult:
    model: str
    run_id: str
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, dict[str, float]]
    rows: dict[str, int]
    seconds: float
    time_range: tuple[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
        lines = [
            f"{self.model}: run {self.run_id[:8]}, version {self.version} → "
            f"{'champion' if self.promoted else 'challenger'} ({self.reason})",
            f"  rows train/valid/holdout: {self.rows['train']:,}/{self.rows['valid']:,}/"
            f"{self.rows['holdout']:,}, label times {self.time_range[0]} .. "
            f"{self.time_range[1]}, {self.seconds:.1f} s",
            "  holdout      " + "".join(f"{k:>16}" for k in keys),
        ]
        for who, m in self.metrics.items():
            lines.append(f"  {who:12} " + "".join(f"{m.get(k, float('nan')):>16.4f}" for k in keys))
        m = self.metrics["model"]
        for who in ("oracle", "knowable"):
            if who in self.metrics:
                o = self.metrics[who]
                lines.append(
                    f"  model / {who} ROC-AUC {m['roc_auc'] / o['roc_auc']:.3f}, "
                    f"Brier {m['brier'] / o['brier']:.3f}"
                )
        return "\n".join(lines)


def data_window(settings: Settings, engine: Any) -> tuple[datetime, datetime]:
    """From the first order to the end of the last day the feature tables were built through."""
    state = json.loads((settings.data_dir / "features" / "_state.json").read_text())
    through = max(t["through"] for t in state["tables"].values())
    end = datetime.fromisoformat(through).replace(tzinfo=UTC) + timedelta(days=1)
    first = pd.read_sql("SELECT min(ordered_at) AS t FROM orders", engine)["t"].iloc[0]
    start = pd.Timestamp(first, tz="UTC") if first is not None else end - timedelta(days=180)
    if start.tzinfo is None:
        start = start.tz_localize("UTC")
    return start.to_pydatetime(), end


def time_split(ts: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks for train, validation and holdout, in time order.

    Continuous times (lead arrivals) split at the 65% and 80% quantiles; a few as-of dates
    (weekly snapshots) split by whole dates, each part getting at least one.
    """
    t = pd.to_datetime(ts, utc=True)
    dates = np.sort(t.unique())
    if len(dates) < 50:
        if len(dates) < 3:
            raise ValueError(f"need at least 3 as-of dates to split by time, got {len(dates)}")
        n_hold = max(1, round((1 - SPLIT[1]) * len(dates)))
        n_valid = max(1, round((SPLIT[1] - SPLIT[0]) * len(dates)))
        a, b = dates[-(n_hold + n_valid) - 1], dates[-n_hold - 1]
    else:
        a, b = t.quantile(SPLIT[0]), t.quantile(SPLIT[1])
    train, valid = (t <= a).to_numpy(), ((t > a) & (t <= b)).to_numpy()
    return train, valid, ~(train | valid)


def build_training_frame(
    settings: Settings, model: str, *, max_rows: int = 150_000, seed: int = 0
) -> tuple[pd.DataFrame, list[str], tuple[datetime, datetime]]:
    from features.store import open_store
    from features.training import training_set
    from serving.core.db import make_engine
    from training.labels import customer_labels, lead_labels

    engine = make_engine(settings.database_url)
    try:
        start, end = data_window(settings, engine)
        truth = settings.ground_truth_dir if settings.ground_truth_dir.exists() else None
        labelled = (
            lead_labels(engine, end, truth)
            if model == "lead_scoring"
            else customer_labels(engine, model, start, end, truth, max_rows=max_rows, seed=seed)
        )
    finally:
        engine.dispose()
    if labelled.frame.empty or labelled.frame["label"].nunique() < 2:
        raise ValueError(f"not enough labelled {labelled.entity}s to train {model}")
    refs = FEATURES[model]
    frame = training_set(open_store(settings), labelled.frame, refs)
    return frame, [column_of(r) for r in refs], (start, end)


def _plots(out: Path, y: np.ndarray, scores: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for who, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax[0].plot(fpr, tpr, label=who)
        cal = calibration_table(y, p)
        ax[1].plot(cal["mean_predicted"], cal["fraction_positive"], marker="o", label=who)
        g = gains_table(y, p)
        ax[2].plot(g["decile"] / 10, g["cumulative_gain"], marker="o", label=who)
    ax[0].plot([0, 1], [0, 1], "k:")
    ax[1].plot([0, 1], [0, 1], "k:")
    ax[2].plot([0, 1], [0, 1], "k:")
    for a, title in zip(ax, ("ROC", "calibration", "cumulative gains"), strict=True):
        a.set_title(title)
        a.legend()
    fig.tight_layout()
    fig.savefig(out / "holdout.png", dpi=90)
    plt.close(fig)


def train(
    settings: Settings, model: str, *, seed: int = 0, max_rows: int = 150_000, register: bool = True
) -> TrainResult:
    import mlflow
    from mlflow.models import infer_signature

    from training import registry
    from training.tracking import configure, experiment_id

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    t0 = time.perf_counter()
    frame, cols, (start, end) = build_training_frame(settings, model, max_rows=max_rows, seed=seed)
    tr, va, ho = time_split(frame["event_timestamp"])
    X, y = frame[cols], frame["label"].to_numpy()
    est = ScoreModel(random_state=seed).fit(X[tr], y[tr], eval_set=(X[va], y[va]))
    p_model = est.predict_proba(X[ho])[:, 1]
    est.set_grade_thresholds(X[ho])  # ranks by the raw booster, so grade shares hold
    base = logistic_baseline(X).fit(as_text(X[tr]), y[tr])
    p_base = base.predict_proba(as_text(X[ho]))[:, 1]
    metrics = {
        "model": classification_metrics(y[ho], p_model),
        "baseline": classification_metrics(y[ho], p_base),
    }
    scores = {"model": p_model, "logistic baseline": p_base}
    extra: dict[str, Any] = {}
    if model == "churn":
        p_bg = _bgnbd_baseline(settings, frame[ho])
        if p_bg is not None:
            metrics["bg_nbd"] = classification_metrics(y[ho], p_bg)
            scores["BG/NBD P(no order)"] = p_bg
    # The simulator's truth: "oracle" knows hidden state no observer has; "knowable" knows the
    # traits but sees only what happened, the ceiling the model is judged against.
    for who, col in (("oracle", "oracle"), ("knowable", "oracle_knowable")):
        p = frame.loc[ho, col].to_numpy(dtype=float) if col in frame else np.array([np.nan])
        known = ~np.isnan(p)
        if known.mean() > 0.95:
            metrics[who] = classification_metrics(y[ho][known], p[known])
            scores[who] = np.where(known, p, np.nanmean(p))
    rows = {"train": int(tr.sum()), "valid": int(va.sum()), "holdout": int(ho.sum())}
    t_range = (
        f"{frame['event_timestamp'].min():%Y-%m-%d}",
        f"{frame['event_timestamp'].max():%Y-%m-%d}",
    )

    configure(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings, model)) as run:
        mlflow.log_params(
            {
                "model": model,
                "seed": seed,
                "features": len(cols),
                "best_iteration": est.best_iteration_,
                "label_horizon_days": {"lead_scoring": 30, "conversion": 14, "churn": 90}[model],
                "train_rows": rows["train"],
                "valid_rows": rows["valid"],
                "holdout_rows": rows["holdout"],
                "label_time_from": t_range[0],
                "label_time_to": t_range[1],
                **{f"est_{k}": v for k, v in est.get_params().items()},
            }
        )
        mlflow.log_metrics({f"{who}_{k}": v for who, m in metrics.items() for k, v in m.items()})
        for who in ("oracle", "knowable"):
            if who in metrics:
                mlflow.log_metrics(
                    {
                        f"auc_vs_{who}": metrics["model"]["roc_auc"] / metrics[who]["roc_auc"],
                        f"brier_vs_{who}": metrics["model"]["brier"] / metrics[who]["brier"],
                    }
                )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            _plots(out, y[ho], scores)
            gains_table(y[ho], p_model).to_csv(out / "gains.csv", index=False)
            calibration_table(y[ho], p_model).to_csv(out / "calibration.csv", index=False)
            (out / "features.json").write_text(
                json.dumps(
                    {
                        "features": FEATURES[model],
                        "views": sorted({r.split(":")[0] for r in FEATURES[model]}),
                        "label_times": t_range,
                        "data_window": [start.isoformat(), end.isoformat()],
                    },
                    indent=2,
                )
            )
            # the drift monitor's reference: what the model learned from
            X[tr].sample(min(5_000, int(tr.sum())), random_state=seed).to_parquet(
                out / "reference.parquet"
            )
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
        sample = X[ho].head(5)
        info = mlflow.sklearn.log_model(
            est,
            name="model",
            serialization_format="cloudpickle",
            signature=infer_signature(sample, est.predict_proba(sample)[:, 1]),
            input_example=sample,
            pip_requirements=PIP,
            registered_model_name=model if register else None,
        )
        version = str(info.registered_model_version) if register else ""
        if register:
            decision = registry.gate(model, version, metrics["model"]["roc_auc"], X[ho], y[ho])
            mlflow.set_tags({"promoted": str(decision.promoted), "gate": decision.reason})
            promoted, reason = decision.promoted, decision.reason
        else:
            promoted, reason = False, "not registered"
        run_id = run.info.run_id
    return TrainResult(
        model,
        run_id,
        version,
        promoted,
        reason,
        metrics,
        rows,
        time.perf_counter() - t0,
        t_range,
        extra,
    )


def _bgnbd_baseline(settings: Settings, holdout: pd.DataFrame) -> np.ndarray | None:
    """P(no order in 90 days) from order history alone, fitted at each as-of date."""
    from models.bgnbd import BGNBD, rfm_summary
    from serving.core.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        orders = pd.read_sql("SELECT customer_id, ordered_at FROM orders", engine)
    finally:
        engine.dispose()
    out = np.full(len(holdout), np.nan)
    for as_of, idx in holdout.groupby("event_timestamp").groups.items():
        rfm = rfm_summary(orders, as_of)
        fitted = BGNBD(penalizer=0.001).fit(rfm)
        p = pd.Series(fitted.p_no_order(rfm, 90), index=rfm.index)
        pos = holdout.index.get_indexer(idx)
        out[pos] = p.reindex(holdout.loc[idx, "customer_id"]).to_numpy()
    return None if np.isnan(out).all() else np.where(np.isnan(out), np.nanmean(out), out)
