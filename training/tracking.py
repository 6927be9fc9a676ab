"""MLflow set-up from settings: tracking URI, no telemetry, artifacts under the data dir."""

import os
from pathlib import Path

from serving.config import Settings


def configure(settings: Settings) -> None:
    """Point MLflow at our tracking store. Called by the commands that train or load models."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def artifacts_root(settings: Settings) -> Path:
    return (settings.data_dir / "mlartifacts").resolve()


def experiment_id(settings: Settings, model: str) -> str:
    """One experiment per model; its artifacts live under LODESTAR_DATA_DIR, not ./mlruns."""
    import mlflow

    name = f"lodestar-{model}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = artifacts_root(settings) / model
    location.mkdir(parents=True, exist_ok=True)
    return str(mlflow.create_experiment(name, artifact_location=location.as_uri()))
