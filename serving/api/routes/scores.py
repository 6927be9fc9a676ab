"""/v1/scores/{model} and /v1/models: champion models scoring ids from the online store."""

import uuid
from collections.abc import Sequence

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.api.deps import CurrentUser, DataScientist, ScoringDep, SessionDep
from serving.api.schemas.scores import (
    ModelState,
    NotScored,
    ReloadOut,
    ScoreOut,
    ScoreRequest,
    ScoreResponse,
)
from serving.core.errors import DomainError, NotFound
from serving.core.models import Customer, Lead, Role, User
from serving.scoring import MODEL_ENTITY, SERVED, champion_version

router = APIRouter(tags=["scores"])


class NoChampion(DomainError):
    status, code, title = 503, "no_champion", "No model to serve"


def _known(
    session: Session, model: str, ids: Sequence[int], user: User
) -> tuple[list[int], list[int] | None]:
    """The ids that exist (and that the caller may see), in request order, with customers."""
    if MODEL_ENTITY[model] == "lead":
        q = select(Lead.id, Lead.customer_id).where(Lead.id.in_(ids))
        if user.role == Role.sales_rep:
            q = q.where(Lead.owner_id == user.id)
        found = dict(session.execute(q).all())
        known = [i for i in ids if i in found]
        return known, [found[i] for i in known]
    have = set(session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
    return [i for i in ids if i in have], None


def _check_model(model: str) -> None:
    if model not in MODEL_ENTITY:
        raise NotFound(f"unknown model {model!r}; choose one of {', '.join(MODEL_ENTITY)}")


@router.post("/scores/{model}", response_model=ScoreResponse)
def score(
    model: str, body: ScoreRequest, session: SessionDep, user: CurrentUser, scoring: ScoringDep
) -> ScoreResponse:
    _check_model(model)
    scorer = scoring.scorer(model)
    if scorer is None:
        raise NoChampion(f"no {model} champion is registered yet: run `lodestar train {model}`")
    ids = list(dict.fromkeys(body.ids))
    known, customer_ids = _known(session, model, ids, user)
    session.close()  # the DB is done with; scoring reads the online store only
    entity = MODEL_ENTITY[model]
    unknown = [NotScored(id=i, reason=f"no such {entity}") for i in ids if i not in set(known)]
    request_id = uuid.uuid4().hex
    scores, X = scoring.score_and_log(
        scorer, known, customer_ids, explain=body.explain, request_id=request_id
    )
    missing = X.isna().to_numpy()
    out, empty = [], []
    for k, s in enumerate(scores):
        if missing[k].all():
            empty.append(
                NotScored(
                    id=s.entity_id,
                    reason=f"no features online for this {entity} yet (it may be newer than "
                    "the last `lodestar features materialize`)",
                )
            )
            continue
        out.append(
            ScoreOut(
                id=s.entity_id,
                probability=s.probability,
                score=s.score,
                grade=s.grade,
                reasons=s.reasons if body.explain else None,
                missing_features=[c for c, m in zip(X.columns, missing[k], strict=True) if m],
            )
        )
    return ScoreResponse(
        model=model,
        model_version=scorer.model.label,
        request_id=request_id,
        scores=out,
        not_scored=unknown + empty,
    )


@router.get("/models", response_model=list[ModelState])
def list_models(user: CurrentUser, scoring: ScoringDep) -> list[ModelState]:
    loaded = scoring.loaded()
    return [
        ModelState(
            model=m,
            loaded_version=loaded.get(m),
            champion_version=champion_version(scoring.settings, m),
        )
        for m in SERVED
    ]


@router.post("/models/reload", response_model=list[ReloadOut])
def reload_models(user: DataScientist, scoring: ScoringDep) -> list[ReloadOut]:
    """Load every champion whose @champion alias moved; requests keep being served meanwhile."""
    return [
        ReloadOut(model=r.model, before=r.before, after=r.after, changed=r.changed)
        for r in scoring.reload(list(SERVED))
    ]
