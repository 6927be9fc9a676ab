"""/v1/recommendations: when to send to whom, and which offer to make."""

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from models.next_best_action import Action, ContactPolicy
from serving.api.deps import CurrentUser, Marketer, ScoringDep, SessionDep, SettingsDep
from serving.api.routes.scores import NoChampion
from serving.api.schemas.recommendations import (
    ActionOut,
    NextBestActionOut,
    RemovedOut,
    ScheduledSend,
    ScheduleOut,
    ScheduleRequest,
    SendTimeOut,
    Skipped,
)
from serving.core.errors import Invalid, NotFound
from serving.core.models import Campaign, Customer, Exposure
from serving.recommend import next_best_action as nba
from serving.recommend import send_time

router = APIRouter(prefix="/recommendations", tags=["recommendations"])

MAX_CAMPAIGN_AUDIENCE = 200_000
_CHUNK = 5_000


def _email_only(channel: str) -> None:
    if channel != "email":
        raise Invalid(
            f"send time is learned from e-mail opens; channel {channel!r} has no open history "
            "(use channel=email)"
        )


def _recommend(scoring, rows, now):  # type: ignore[no-untyped-def]
    try:
        return send_time.recommend(scoring, rows, now=now)
    except LookupError as e:
        raise NoChampion(str(e)) from None


@router.get("/send-time", response_model=SendTimeOut)
def get_send_time(
    session: SessionDep,
    user: CurrentUser,
    scoring: ScoringDep,
    customer_id: Annotated[int, Query(description="the customer to mail")],
    channel: Annotated[str, Query(description="only email has open history")] = "email",
) -> SendTimeOut:
    _email_only(channel)
    found = send_time.customers(session, [customer_id])
    session.close()
    if customer_id not in found:
        raise NotFound(f"no customer with id {customer_id}")
    label, (rec,) = _recommend(scoring, [found[customer_id]], datetime.now(UTC))
    return SendTimeOut(channel="email", model_version=label, **rec)


@router.post("/send-time/schedule", response_model=ScheduleOut)
def schedule_send_times(
    body: ScheduleRequest, session: SessionDep, user: Marketer, scoring: ScoringDep
) -> ScheduleOut:
    """Each customer's next best hour: the send schedule for a campaign's audience (its
    exposures outside the holdout) or for a list of customers."""
    if body.campaign_id is not None:
        if session.get(Campaign, body.campaign_id) is None:
            raise NotFound(f"no campaign with id {body.campaign_id}")
        ids = list(
            session.scalars(
                select(Exposure.customer_id)
                .where(Exposure.campaign_id == body.campaign_id, Exposure.is_holdout.is_(False))
                .order_by(Exposure.customer_id)
                .limit(MAX_CAMPAIGN_AUDIENCE + 1)
            )
        )
        if not ids:
            raise Invalid(
                f"campaign {body.campaign_id} has no audience yet (no exposures outside the "
                "holdout); send customer_ids instead"
            )
        if len(ids) > MAX_CAMPAIGN_AUDIENCE:
            raise Invalid(f"the audience is over {MAX_CAMPAIGN_AUDIENCE:,}: schedule it in parts")
    else:
        ids = list(dict.fromkeys(body.customer_ids or []))
    found = {}
    for k in range(0, len(ids), _CHUNK):
        found |= send_time.customers(session, ids[k : k + _CHUNK])
    session.close()
    now = body.not_before or datetime.now(UTC)
    skipped = [Skipped(customer_id=i, reason="no such customer") for i in ids if i not in found]
    rows = [found[i] for i in ids if i in found]
    skipped += [
        Skipped(customer_id=r.id, reason="no e-mail consent") for r in rows if not r.consent_email
    ]
    rows = [r for r in rows if r.consent_email]
    label, sends = "", []
    for k in range(0, max(len(rows), 1), _CHUNK):
        label, recs = _recommend(scoring, rows[k : k + _CHUNK], now)
        sends += [
            ScheduledSend(
                customer_id=r["customer_id"],
                send_at=r["best"]["next_send_at"],
                local=r["best"]["local"],
                expected_open_rate=r["best"]["expected_open_rate"],
                source=r["source"],
            )
            for r in recs
        ]
    by_hour = Counter(f"{s.send_at:%a %H:%M}" for s in sends)
    return ScheduleOut(
        model_version=label,
        sends=sorted(sends, key=lambda s: (s.send_at, s.customer_id)),
        skipped=skipped,
        expected_opens=sum(s.expected_open_rate for s in sends),
        by_utc_hour=dict(sorted(by_hour.items())),
    )


@router.get("/next-best-action", response_model=NextBestActionOut)
def get_next_best_action(
    session: SessionDep,
    user: CurrentUser,
    scoring: ScoringDep,
    settings: SettingsDep,
    customer_id: Annotated[int, Query(description="the customer to act on")],
    mode: Annotated[
        Literal["greedy", "epsilon", "thompson"],
        Query(description="greedy, or explore: epsilon-greedy or Thompson sampling"),
    ] = "greedy",
    epsilon: Annotated[float, Query(ge=0, le=1, description="exploration share (epsilon)")] = 0.1,
) -> NextBestActionOut:
    now = datetime.now(UTC)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    policy = ContactPolicy(
        max_messages=settings.nba_max_messages,
        window_days=settings.nba_window_days,
        cooldown_days=settings.nba_cooldown_days,
        min_expected_value=settings.nba_min_expected_value,
    )
    offers = nba.offer_infos(session, customer_id, now)
    context = nba.contact_context(session, customer, now, policy)
    session.close()
    try:
        r = nba.recommend(
            scoring,
            customer_id,
            offers,
            context,
            policy=policy,
            mode=mode,
            epsilon=epsilon,
            now=now,
        )
    except LookupError as e:
        raise NoChampion(str(e)) from None

    def action(a: Action) -> ActionOut:
        return ActionOut(
            offer_id=a.offer_id,
            offer=r.offers[a.offer_id].name,
            channel=a.channel,
            expected_value=a.expected_value,
            uplift=r.uplift.get(a.offer_id, float("nan")),
            p_response=r.p_response.get(a.offer_id, float("nan")),
        )

    by_id = {a.offer_id: a for a in (*r.decision.actions, *r.decision.below_threshold)}
    return NextBestActionOut(
        customer_id=customer_id,
        model_version=r.model_version,
        decision_id=r.decision_id,
        mode=mode,
        chosen=None if r.chosen is None else action(by_id[r.chosen]),
        propensity=r.propensity,
        no_action_reason=None
        if r.chosen is not None
        else r.decision.no_action_reason or f"exploration ({mode}) drew no action",
        actions=[action(a) for a in r.decision.actions],
        removed=[
            RemovedOut(
                offer_id=x.offer_id,
                offer=r.offers[x.offer_id].name,
                policy=x.policy,
                reason=x.reason,
            )
            for x in r.decision.removed
        ],
        p_response_without_offer=r.p_control,
    )
