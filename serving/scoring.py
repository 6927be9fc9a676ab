"""Scoring with the champion models: loaded once, fed from the online store.

A model's features are the list it was trained on (models/features.py); they are read with
`features.online.OnlineReader`, one reader per entity (a lead's own view, and its customer's),
so serving sees exactly the columns, order and dtypes training saw.
"""

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.vectors import column_of
from models.features import FEATURES
from serving.config import Settings

log = logging.getLogger("lodestar.scoring")


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    estimator: Any
    features: list[str]

    @property
    def label(self) -> str:
        return f"{self.name}:v{self.version}"


@dataclass(frozen=True)
class Score:
    entity_id: int
    probability: float
    score: float
    grade: str
    reasons: list[dict[str, Any]]
    model_version: str


def tracking_store_exists(settings: Settings) -> bool:
    uri = settings.mlflow_tracking_uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


class ModelCache:
    """Champion models by name, loaded on first use; None when no champion is registered."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, LoadedModel | None] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> LoadedModel | None:
        with self._lock:
            if name not in self._models:
                self._models[name] = self._load(name)
            return self._models[name]

    def _load(self, name: str) -> LoadedModel | None:
        if not tracking_store_exists(self.settings):
            return None
        from training import registry
        from training.tracking import configure

        configure(self.settings)
        version = registry.champion_version(name)
        if version is None:
            return None
        return LoadedModel(name, version, registry.load(name, version), FEATURES[name])


class Scorer:
    """Feature vectors for entities, then probability, score, grade and reasons."""

    def __init__(self, settings: Settings, model: LoadedModel) -> None:
        from features.online import OnlineReader
        from features.store import open_store

        self.model = model
        store = open_store(settings)
        by_view_entity = {"lead_activity": "lead", "lead_age": "lead"}
        lead_refs = [r for r in model.features if r.split(":")[0] in by_view_entity]
        customer_refs = [r for r in model.features if r not in lead_refs]
        self._lead = OnlineReader(store, "lead", lead_refs) if lead_refs else None
        self._customer = OnlineReader(store, "customer", customer_refs) if customer_refs else None

    def vectors(
        self,
        ids: Sequence[int],
        customer_ids: Sequence[int] | None = None,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        as_of = as_of or datetime.now(UTC)
        parts = []
        if self._lead is not None:
            parts.append(self._lead.read(ids, as_of=as_of).reset_index(drop=True))
        if self._customer is not None:
            cids = customer_ids if customer_ids is not None else ids
            parts.append(self._customer.read(cids, as_of=as_of).reset_index(drop=True))
        frame = pd.concat(parts, axis=1)
        return frame[[column_of(r) for r in self.model.features]]

    def score(
        self,
        ids: Sequence[int],
        customer_ids: Sequence[int] | None = None,
        *,
        explain: bool = True,
        as_of: datetime | None = None,
    ) -> list[Score]:
        if not ids:
            return []
        X = self.vectors(ids, customer_ids, as_of)
        est = self.model.estimator
        p = est.predict_proba(X)[:, 1]
        grades = est.grades(X)
        reasons = est.reasons(X) if explain else [[] for _ in ids]
        return [
            Score(int(i), float(pi), round(float(pi) * 100, 1), str(g), r, self.model.label)
            for i, pi, g, r in zip(ids, p, grades, reasons, strict=True)
        ]


class ScoringService:
    """What the API holds: champion models and their scorers, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = ModelCache(settings)
        self._scorers: dict[str, Scorer] = {}
        self._lock = threading.Lock()

    def scorer(self, name: str) -> Scorer | None:
        model = self.models.get(name)
        if model is None:
            return None
        with self._lock:
            cached = self._scorers.get(name)
            if cached is None or cached.model.version != model.version:
                cached = self._scorers[name] = Scorer(self.settings, model)
            return cached

    def score_lead(self, lead: Any) -> bool:
        """Score a new lead in place; a scoring failure never fails the request."""
        try:
            scorer = self.scorer("lead_scoring")
            if scorer is None:
                return False
            (s,) = scorer.score([lead.id], [lead.customer_id])
        except Exception:  # the lead is saved either way; the nightly job scores it later
            log.exception("could not score lead %s on create", lead.id)
            return False
        lead.score, lead.grade, lead.score_reasons = s.score, s.grade, s.reasons
        lead.model_version, lead.scored_at = s.model_version, datetime.now(UTC)
        return True
