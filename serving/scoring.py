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

# What each model scores: the id a caller sends is a lead's or a customer's.
MODEL_ENTITY = {"lead_scoring": "lead", "conversion": "customer", "churn": "customer"}
# Every model the API serves from the registry's @champion.
SERVED = (*MODEL_ENTITY, "send_time", "next_best_action")


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
                self._models[name] = load_champion(self.settings, name)
            return self._models[name]


def champion_version(settings: Settings, name: str) -> str | None:
    if not tracking_store_exists(settings):
        return None
    from training import registry
    from training.tracking import configure

    configure(settings)
    return registry.champion_version(name)


def load_champion(settings: Settings, name: str, version: str | None = None) -> LoadedModel | None:
    """The champion (or the given version) with its feature list; None when there is none."""
    version = version or champion_version(settings, name)
    if version is None:
        return None
    from training import registry

    return LoadedModel(name, version, registry.load(name, version), FEATURES.get(name, []))


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
        return self.score_with_features(ids, customer_ids, explain=explain, as_of=as_of)[0]

    def score_with_features(
        self,
        ids: Sequence[int],
        customer_ids: Sequence[int] | None = None,
        *,
        explain: bool = True,
        as_of: datetime | None = None,
    ) -> tuple[list[Score], pd.DataFrame]:
        if not ids:
            return [], pd.DataFrame(columns=[column_of(r) for r in self.model.features])
        X = self.vectors(ids, customer_ids, as_of)
        p, grades, reasons = self.model.estimator.assess(X, explain=explain)
        reasons = reasons if reasons is not None else [[] for _ in ids]
        scores = [
            Score(int(i), float(pi), round(float(pi) * 100, 1), str(g), r, self.model.label)
            for i, pi, g, r in zip(ids, p, grades, reasons, strict=True)
        ]
        return scores, X


def _version(loaded: "Scorer | LoadedModel | None") -> str | None:
    if loaded is None:
        return None
    return loaded.model.version if isinstance(loaded, Scorer) else loaded.version


@dataclass(frozen=True)
class Reload:
    model: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


class ScoringService:
    """What the API holds: a ready scorer per champion model, swapped whole on reload.

    A request takes the scorer that is in the dict when it starts and keeps it to the end; a
    reload builds the new model and its feature readers completely before one assignment puts
    it in place, so no request ever sees a half-loaded model. Polling (`start_polling`) reloads
    when the registry's @champion alias moves, without a restart.
    """

    def __init__(self, settings: Settings) -> None:
        from serving.prediction_log import PredictionLog

        self.settings = settings
        self.log = PredictionLog(
            settings.data_dir / "prediction_log",
            flush_seconds=settings.prediction_log_flush_seconds,
        )
        self._scorers: dict[str, Scorer | LoadedModel | None] = {}
        self._readers: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def scorer(self, name: str) -> Scorer | None:
        """The ready scorer of a score model (MODEL_ENTITY), None without a champion."""
        got = self._get(name)
        assert got is None or isinstance(got, Scorer)
        return got

    def model(self, name: str) -> LoadedModel | None:
        """Any other champion (send_time, next_best_action), None without one."""
        got = self._get(name)
        assert got is None or isinstance(got, LoadedModel)
        return got

    def _get(self, name: str) -> "Scorer | LoadedModel | None":
        if name in self._scorers:
            return self._scorers[name]
        with self._load_lock:
            if name not in self._scorers:
                self._scorers[name] = self._build(name, champion_version(self.settings, name))
            return self._scorers[name]

    def _build(self, name: str, version: str | None) -> "Scorer | LoadedModel | None":
        model = load_champion(self.settings, name, version) if version else None
        if model is None or name not in MODEL_ENTITY:
            return model
        return Scorer(self.settings, model)

    def reader(self, entity: str, refs: Sequence[str]) -> Any:
        """An OnlineReader for these features, built once (it resolves the registry)."""
        key = (entity, tuple(refs))
        found = self._readers.get(key)
        if found is None:
            from features.online import OnlineReader
            from features.store import open_store

            with self._load_lock:
                found = self._readers.get(key)
                if found is None:
                    found = self._readers[key] = OnlineReader(
                        open_store(self.settings), entity, list(refs)
                    )
        return found

    def loaded(self) -> dict[str, str | None]:
        return {n: _version(s) for n, s in self._scorers.items()}

    def reload(self, names: Sequence[str] | None = None) -> list[Reload]:
        """Load every champion whose alias moved since it was loaded, then swap it in."""
        out = []
        with self._load_lock:
            for name in names or list(self._scorers):
                before = _version(self._scorers.get(name))
                after = champion_version(self.settings, name)
                if after != before or name not in self._scorers:
                    self._scorers[name] = self._build(name, after)
                    if after != before:
                        log.info("model %s: version %s -> %s", name, before, after)
                out.append(Reload(name, before, after))
        return out

    def start_polling(self, seconds: float) -> None:
        if seconds <= 0 or self._poller is not None:
            return

        def poll() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.reload()
                except Exception:  # the registry may be briefly unreachable: keep serving
                    log.exception("model reload poll failed")

        self._poller = threading.Thread(target=poll, name="model-poll", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)
            self._poller = None
        self.log.close()

    def score_and_log(
        self,
        scorer: Scorer,
        ids: Sequence[int],
        customer_ids: Sequence[int] | None = None,
        *,
        explain: bool = False,
        request_id: str = "",
    ) -> tuple[list[Score], pd.DataFrame]:
        """Score, and put the scores with their features on the prediction log."""
        scores, X = scorer.score_with_features(ids, customer_ids, explain=explain)
        self.log.append(
            scorer.model.name,
            scorer.model.version,
            [s.entity_id for s in scores],
            {
                "probability": [s.probability for s in scores],
                "score": [s.score for s in scores],
                "grade": [s.grade for s in scores],
            },
            X,
            request_id=request_id,
        )
        return scores, X

    def score_lead(self, lead: Any) -> bool:
        """Score a new lead in place; a scoring failure never fails the request."""
        try:
            scorer = self.scorer("lead_scoring")
            if scorer is None:
                return False
            (s,), _ = self.score_and_log(scorer, [lead.id], [lead.customer_id], explain=True)
        except Exception:  # the lead is saved either way; the nightly job scores it later
            log.exception("could not score lead %s on create", lead.id)
            return False
        lead.score, lead.grade, lead.score_reasons = s.score, s.grade, s.reasons
        lead.model_version, lead.scored_at = s.model_version, datetime.now(UTC)
        return True
