"""/v1/campaigns/{id}/targeting: whom to treat, by the uplift @champion, within a budget.

Ranking by uplift, not by P(order): a customer who buys anyway gains nothing from a coupon,
and a "sleeping dog" (negative uplift: a frequent buyer a discount teaches to wait) loses an
order, so those are left out even when the budget has room.
"""

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.api.deps import Marketer, ScoringDep, SessionDep
from serving.api.routes.scores import NoChampion
from serving.api.schemas.targeting import MAX_BUDGET, Target, TargetingOut
from serving.core.errors import Invalid, NotFound
from serving.core.models import Campaign, CampaignArm, Customer, Exposure
from serving.scoring import ScoringService

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

MAX_AUDIENCE = 200_000
_CHUNK = 5_000
_CONSENT = {
    "email": Customer.consent_email,
    "sms": Customer.consent_sms,
    "push": Customer.consent_push,
}


def offer_mix(session: Session, campaign: Campaign) -> dict[int, float]:
    """Offer id → share of the treated: its non-control arms with an offer, by weight (a
    campaign without such arms: its own offer). A model with an uplift per offer averages
    them by these shares; a pooled one (one arm for any offer) ignores them."""
    arms = session.scalars(select(CampaignArm).where(CampaignArm.campaign_id == campaign.id))
    mix: dict[int, float] = {}
    for arm in arms:
        if arm.offer_id is not None and not arm.is_control:
            mix[arm.offer_id] = mix.get(arm.offer_id, 0.0) + arm.weight
    if not mix and campaign.offer_id is not None:
        mix = {campaign.offer_id: 1.0}
    total = sum(mix.values())
    return {k: v / total for k, v in sorted(mix.items())}


def audience(session: Session, campaign: Campaign) -> tuple[list[int], str]:
    """The customers exposed to the campaign (holdout included: targeting decides whom to
    treat); with no exposures yet (a draft), everyone who consented to its channel (a web
    campaign needs no consent)."""
    ids = list(
        session.scalars(
            select(Exposure.customer_id)
            .where(Exposure.campaign_id == campaign.id)
            .order_by(Exposure.customer_id)
            .limit(MAX_AUDIENCE + 1)
        )
    )
    source = "exposures"
    if not ids:
        q = select(Customer.id).order_by(Customer.id).limit(MAX_AUDIENCE + 1)
        consent = _CONSENT.get(campaign.channel.value)
        if consent is not None:
            q = q.where(consent.is_(True))
        ids, source = list(session.scalars(q)), "consent"
    if len(ids) > MAX_AUDIENCE:
        raise Invalid(f"the audience is over {MAX_AUDIENCE:,} customers: target it in parts")
    return ids, source


def predict_uplift(
    scoring: ScoringService,
    estimator: object,
    refs: Sequence[str],
    ids: list[int],
    mix: dict[int, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's uplift of entering the campaign, and whether they had features online."""
    from models.uplift import mixed_uplift

    reader = scoring.reader("customer", refs)
    uplift, scored = np.zeros(len(ids)), np.zeros(len(ids), dtype=bool)
    for k in range(0, len(ids), _CHUNK):
        X = reader.read(ids[k : k + _CHUNK])
        has = ~X.isna().all(axis=1).to_numpy()
        scored[k : k + len(X)] = has
        if has.any():
            frame = estimator.predict_frame(X[has]).reset_index(drop=True)  # type: ignore[attr-defined]
            uplift[k : k + len(X)][has] = mixed_uplift(frame, mix)
    return uplift, scored


@router.get("/{campaign_id}/targeting", response_model=TargetingOut)
def campaign_targeting(
    campaign_id: int,
    session: SessionDep,
    user: Marketer,
    scoring: ScoringDep,
    budget: Annotated[
        int, Query(ge=1, le=MAX_BUDGET, description="how many customers the campaign can treat")
    ],
) -> TargetingOut:
    """The `budget` customers with the largest predicted uplift (never a negative one), the
    conversions that adds in expectation, and how many sleeping dogs were left out."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    mix = offer_mix(session, campaign)
    if not mix:
        raise Invalid(f"campaign {campaign_id} makes no offer: there is no treatment to target")
    ids, source = audience(session, campaign)
    session.close()  # the rest reads the online store only
    model = scoring.model("uplift")
    if model is None:
        raise NoChampion("no uplift champion is registered yet: run `lodestar train uplift`")
    from training.uplift import ANY_OFFER, model_mix

    arms = list(getattr(model.estimator, "arms_", []))
    weights = model_mix(arms, mix)
    if not weights:
        raise Invalid(
            f"the uplift model ({model.label}) learned offers {arms}, none of this campaign's "
            f"{sorted(mix)}: run `lodestar train uplift` after a campaign with them has ended"
        )
    uplift, scored = predict_uplift(scoring, model.estimator, model.features, ids, weights)
    order = np.lexsort((np.asarray(ids), -uplift))
    eligible = [i for i in order if scored[i] and uplift[i] >= 0]
    chosen = eligible[:budget]
    targets = [
        Target(customer_id=ids[i], uplift=float(uplift[i]), rank=r)
        for r, i in enumerate(chosen, start=1)
    ]
    return TargetingOut(
        campaign_id=campaign_id,
        model_version=model.label,
        budget=budget,
        audience=source,
        offers=mix if ANY_OFFER in weights else weights,
        scored=int(scored.sum()),
        not_scored=int((~scored).sum()),
        targets=targets,
        expected_incremental_conversions=float(uplift[chosen].sum()),
        sleeping_dogs_excluded=int((scored & (uplift < 0)).sum()),
    )
