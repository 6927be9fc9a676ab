"""`lodestar monitor drift`: the champion's training reference against what it scores now."""

from pathlib import Path

import pandas as pd
from sqlalchemy import select

from serving.config import Settings
from training.monitor import DriftSummary, drift_report


def reference_of(settings: Settings, name: str) -> tuple[pd.DataFrame, str]:
    """The sample of training features logged with the champion's run."""
    import mlflow

    from training import registry
    from training.tracking import configure

    configure(settings)
    version = registry.champion_version(name)
    if version is None:
        raise ValueError(f"no {name} champion yet: run `lodestar train {name}`")
    run_id = mlflow.MlflowClient().get_model_version(name, version).run_id
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="evaluation/reference.parquet"
    )
    return pd.read_parquet(path), f"{name}:v{version}"


def current_of(settings: Settings, name: str, *, sample: int = 5_000) -> pd.DataFrame:
    """Feature vectors as serving reads them now: open leads, or a sample of customers."""
    from serving.core.db import make_engine, make_sessionmaker
    from serving.core.models import Customer, Lead
    from serving.core.services.leads import OPEN_STATUSES
    from serving.scoring import ModelCache, Scorer

    model = ModelCache(settings).get(name)
    assert model is not None
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            if name == "lead_scoring":
                rows = s.execute(
                    select(Lead.id, Lead.customer_id).where(Lead.status.in_(OPEN_STATUSES))
                ).all()
                ids, cids = [r[0] for r in rows], [r[1] for r in rows]
            else:
                ids = list(s.scalars(select(Customer.id).order_by(Customer.id)))
                ids = ids[:: max(1, len(ids) // sample)]
                cids = ids
    finally:
        engine.dispose()
    if not ids:
        raise ValueError(
            f"nothing to compare: no {'open leads' if name == 'lead_scoring' else 'customers'}"
        )
    return Scorer(settings, model).vectors(ids, cids)


def logged_of(settings: Settings, name: str, *, days: int = 7, sample: int = 5_000) -> pd.DataFrame:
    """The features of what the API actually scored in the last `days` (the prediction log)."""
    from datetime import UTC, datetime, timedelta

    from serving.prediction_log import read_predictions

    since = datetime.now(UTC) - timedelta(days=days)
    logged = read_predictions(settings.data_dir / "prediction_log", name, since=since)
    if logged.empty:
        return logged
    # one row per entity, its latest score: a hot id scored many times counts once
    logged = logged.drop_duplicates("entity_id", keep="last")
    return logged.tail(sample).reset_index(drop=True)


def monitor(
    settings: Settings,
    name: str,
    out_dir: Path | None = None,
    drift_share: float = 0.3,
    *,
    min_logged: int = 200,
) -> DriftSummary:
    """Drift of what the model scores now: the prediction log when the API has scored at least
    `min_logged` distinct entities in the last week, else the online features of open leads
    (or a sample of customers)."""
    reference, label = reference_of(settings, name)
    logged = logged_of(settings, name)
    if len(logged) >= min_logged:
        current = logged[[c for c in reference.columns if c in logged.columns]]
        source = "the prediction log (last 7 days)"
    else:
        current = current_of(settings, name)
        source = (
            "the online store (open leads)"
            if name == "lead_scoring"
            else ("the online store (a sample of customers)")
        )
    return drift_report(
        reference,
        current,
        model=name,
        out_dir=out_dir or settings.data_dir / "reports",
        drift_share=drift_share,
        current_source=source,
    )
