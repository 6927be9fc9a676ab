"""Next-best-action for one customer: the champion's uplift per offer from online features, the
offers' value, cost, budget and eligibility and the customer's contact state from the core DB,
then `models.next_best_action.arbitrate` and `choose`.

Every decision goes to the prediction log with the propensity of what was chosen, so a new
policy can be judged off-line on what this one did (`lodestar evaluate nba`).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.features import FEATURES
from models.next_best_action import (
    ContactContext,
    ContactPolicy,
    Decision,
    Mode,
    OfferInfo,
    action_probabilities,
    arbitrate,
    choose,
    expected_values,
)
from serving.core.models import (
    Campaign,
    CampaignStatus,
    CouponCustomerUsage,
    CouponDefinition,
    Customer,
    Exposure,
    Offer,
    Redemption,
)
from serving.scoring import ScoringService

MODEL = "next_best_action"


@dataclass(frozen=True)
class NbaResult:
    customer_id: int
    model_version: str
    decision_id: str
    decision: Decision
    chosen: int | None
    propensity: float
    probabilities: dict[int | None, float]
    offers: dict[int, OfferInfo]
    uplift: dict[int, float]
    p_response: dict[int, float]
    p_control: float


def offer_infos(session: Session, customer_id: int, now: datetime) -> list[OfferInfo]:
    """Every offer as arbitration sees it for this customer now.

    Budget: what the running campaigns that carry the offer have left (budget − spend), None
    when none of them has a budget. Eligibility: an offer with a live coupon this customer has
    used up to its per-customer limit is not eligible.
    """
    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    budgets = dict(
        session.execute(
            select(Campaign.offer_id, func.sum(Campaign.budget - Campaign.spend))
            .where(Campaign.status == CampaignStatus.running, Campaign.budget.is_not(None))
            .group_by(Campaign.offer_id)
        ).all()
    )
    coupons: dict[int, list[CouponDefinition]] = {}
    for d in session.scalars(
        select(CouponDefinition).where(CouponDefinition.offer_id.is_not(None))
    ):
        coupons.setdefault(d.offer_id, []).append(d)  # type: ignore[arg-type]
    used = dict(
        session.execute(
            select(CouponCustomerUsage.definition_id, CouponCustomerUsage.count).where(
                CouponCustomerUsage.customer_id == customer_id
            )
        ).all()
    )
    out = []
    for o in offers:
        reason = _ineligible(coupons.get(o.id, []), used, now)
        out.append(
            OfferInfo(
                id=o.id,
                name=o.name,
                channel=o.channel or "email",
                value=float(o.value),
                cost=float(o.cost),
                is_active=o.is_active,
                budget_left=None if budgets.get(o.id) is None else float(budgets[o.id]),
                eligible=reason is None,
                ineligible_reason=reason,
            )
        )
    return out


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


def _ineligible(
    definitions: Sequence[CouponDefinition], used: dict[int, int], now: datetime
) -> str | None:
    """A live coupon of the offer that this customer has used up makes the offer ineligible.
    Expired coupons do not: making the offer again issues a new one."""
    for d in definitions:
        live = (_aware(d.valid_until) or now) >= now
        if live and d.per_customer_limit is not None and used.get(d.id, 0) >= d.per_customer_limit:
            return (
                f"this customer has used coupon {d.name!r} {used[d.id]} time(s), "
                f"its limit is {d.per_customer_limit}"
            )
    return None


def contact_context(
    session: Session, customer: Customer, now: datetime, policy: ContactPolicy
) -> ContactContext:
    since = now - timedelta(days=policy.window_days)
    sends = session.scalars(
        select(Exposure.sent_at).where(
            Exposure.customer_id == customer.id,
            Exposure.sent_at.is_not(None),
            Exposure.sent_at > since,
        )
    ).all()
    last = session.scalar(
        select(func.max(Redemption.redeemed_at)).where(Redemption.customer_id == customer.id)
    )
    return ContactContext(
        consents={
            "email": customer.consent_email,
            "sms": customer.consent_sms,
            "push": customer.consent_push,
        },
        sends=[_aware(t) for t in sends if t is not None],  # type: ignore[misc]
        last_redemption=_aware(last),
    )


def recommend(
    scoring: ScoringService,
    customer_id: int,
    offers: list[OfferInfo],
    context: ContactContext,
    *,
    policy: ContactPolicy,
    mode: Mode = "greedy",
    epsilon: float = 0.1,
    now: datetime | None = None,
    rng: np.random.Generator | None = None,
) -> NbaResult:
    champion = scoring.model(MODEL)
    if champion is None:
        raise LookupError(f"no {MODEL} champion is registered yet: run `lodestar train {MODEL}`")
    now = now or datetime.now(UTC)
    est = champion.estimator
    X = scoring.reader("customer", FEATURES[MODEL]).read([customer_id], as_of=now)
    uplift = est.uplift(X)
    p_control = est.predict_control(X)
    treated = uplift.add(p_control, axis=0).clip(0.0, 1.0)  # predict_treated, without redoing

    table = pd.DataFrame(
        {"value": [o.value for o in offers], "cost": [o.cost for o in offers]},
        index=[o.id for o in offers],
    )
    known = [c for c in uplift.columns if c in table.index]
    ev = expected_values(uplift[known], treated[known], table).iloc[0]
    # EV moves with the uplift by value − cost (a response also costs a redemption)
    sd = (
        est.uplift_sd(X)[known].iloc[0]
        * (table.loc[known, "value"] - table.loc[known, "cost"]).abs()
        if mode == "thompson"
        else pd.Series(0.0, index=known)
    )
    decision = arbitrate(
        {int(k): float(v) for k, v in ev.items()},
        offers,
        context,
        now=now,
        policy=policy,
        ev_sd={int(k): float(v) for k, v in sd.items()},
    )
    rng = rng or np.random.default_rng()
    threshold = policy.min_expected_value
    probs = action_probabilities(decision, mode=mode, epsilon=epsilon, rng=rng, threshold=threshold)
    # the logged propensity is choose's own (Thompson's shares are a Monte Carlo estimate)
    action, propensity = choose(decision, mode=mode, epsilon=epsilon, rng=rng, threshold=threshold)
    result = NbaResult(
        customer_id=customer_id,
        model_version=champion.label,
        decision_id=uuid.uuid4().hex,
        decision=decision,
        chosen=None if action is None else action.offer_id,
        propensity=propensity,
        probabilities=probs,
        offers={o.id: o for o in offers},
        uplift={int(k): float(v) for k, v in uplift.iloc[0].items()},
        p_response={int(k): float(v) for k, v in treated.iloc[0].items()},
        p_control=float(p_control[0]),
    )
    _log(scoring, champion.version, result, mode)
    return result


def _log(scoring: ScoringService, version: str, r: NbaResult, mode: str) -> None:
    """The decision and its propensity, for off-policy evaluation of other policies later."""
    row: dict[str, Any] = {
        "mode": mode,
        "chosen_offer_id": -1 if r.chosen is None else r.chosen,  # -1: no action
        "propensity": r.propensity,
        "p_control": r.p_control,
    }
    for offer_id in r.offers:
        row[f"p_choose_{offer_id}"] = r.probabilities.get(offer_id, 0.0)
        row[f"uplift_{offer_id}"] = r.uplift.get(offer_id, np.nan)
    row["p_choose_none"] = r.probabilities.get(None, 0.0)
    scoring.log.append(
        MODEL,
        version,
        [r.customer_id],
        {k: [v] for k, v in row.items()},
        pd.DataFrame(index=[0]),
        request_id=r.decision_id,
    )
