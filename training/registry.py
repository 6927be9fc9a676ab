"""The model registry: champion/challenger aliases and the promotion gate.

Every trained model is registered. The `champion` alias (what serving loads) moves to a new
version only if it beats the current champion on the new run's holdout, scored by both; otherwise
the new version is the `challenger` and the reason is recorded on the version and the run.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    champion_auc: float | None


def _client():  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient()


def champion_version(name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def load(name: str, alias_or_version: str = CHAMPION) -> Any:
    import mlflow

    ref = (
        f"models:/{name}@{alias_or_version}"
        if not alias_or_version.isdigit()
        else f"models:/{name}/{alias_or_version}"
    )
    return mlflow.sklearn.load_model(ref)


def set_champion(name: str, version: str, reason: str) -> None:
    client = _client()
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promoted_at", datetime.now(UTC).isoformat())
    client.set_model_version_tag(name, version, "promotion_reason", reason)


def gate(
    name: str, version: str, new_auc: float, X_holdout: pd.DataFrame, y_holdout: np.ndarray
) -> GateDecision:
    """Promote `version` if it beats the champion on this holdout; otherwise make it challenger."""
    current = champion_version(name)
    if current is None:
        decision = GateDecision(True, "first model: nothing to beat", None)
    elif current == version:
        decision = GateDecision(True, "already champion", None)
    else:
        try:
            champ = load(name, CHAMPION)
            champ_auc = float(roc_auc_score(y_holdout, champ.predict_proba(X_holdout)[:, 1]))
        except (ValueError, KeyError) as exc:
            decision = GateDecision(
                True,
                f"champion v{current} cannot score this holdout ({exc}); the new model takes over",
                None,
            )
        else:
            if new_auc > champ_auc:
                decision = GateDecision(
                    True,
                    f"holdout ROC-AUC {new_auc:.4f} beats champion v{current}'s {champ_auc:.4f}",
                    champ_auc,
                )
            else:
                decision = GateDecision(
                    False,
                    f"holdout ROC-AUC {new_auc:.4f} does not beat "
                    f"champion v{current}'s {champ_auc:.4f}",
                    champ_auc,
                )
    client = _client()
    if decision.promoted:
        set_champion(name, version, decision.reason)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
        client.set_model_version_tag(name, version, "rejected_reason", decision.reason)
    return decision


def list_versions(name: str | None = None) -> list[dict[str, Any]]:
    client = _client()
    names = [name] if name else [m.name for m in client.search_registered_models()]
    rows = []
    for n in names:
        for v in client.search_model_versions(f"name='{n}'"):
            aliases = list(getattr(v, "aliases", []) or [])
            run = client.get_run(v.run_id) if v.run_id else None
            rows.append(
                {
                    "model": n,
                    "version": int(v.version),
                    "aliases": aliases,
                    "holdout_roc_auc": run.data.metrics.get("model_roc_auc") if run else None,
                    "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC),
                    "note": v.tags.get("promotion_reason") or v.tags.get("rejected_reason", ""),
                }
            )
    return sorted(rows, key=lambda r: (r["model"], -r["version"]))


def rollback(name: str) -> str:
    """Move the champion back to the version that held it before the current one."""
    client = _client()
    current = champion_version(name)
    past = [
        v
        for v in client.search_model_versions(f"name='{name}'")
        if "promoted_at" in v.tags and str(v.version) != current
    ]
    if not past:
        raise ValueError(f"{name} has no earlier champion to roll back to")
    previous = max(past, key=lambda v: v.tags["promoted_at"])
    set_champion(name, str(previous.version), f"rolled back from v{current}")
    return str(previous.version)
