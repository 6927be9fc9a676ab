"""Campaign use cases: the status machine, arms, and deterministic exposure assignment."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.core.errors import Conflict, Invalid, NotFound
from serving.core.models import Campaign, CampaignArm, CampaignStatus, Customer, Exposure, Offer
from serving.core.services.assignment import pick_arm, unit_hashes
from serving.core.services.changes import apply_changes
from serving.core.services.status import check_transition

S = CampaignStatus
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    S.draft: frozenset({S.scheduled, S.ended}),
    S.scheduled: frozenset({S.draft, S.running, S.ended}),
    S.running: frozenset({S.ended}),
    S.ended: frozenset(),
}
# What may still change once a campaign has left draft: the plan is frozen so results stay valid.
EDITABLE_AFTER_DRAFT = frozenset({"name", "budget", "spend", "ends_at"})
MAX_EXPOSURES_PER_CALL = 10_000


def get_campaign(*, session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _check_offer(session: Session, offer_id: int | None) -> None:
    if offer_id is not None and session.get(Offer, offer_id) is None:
        raise Invalid(f"offer {offer_id} does not exist")


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise Invalid("ends_at must be after starts_at")


def create_campaign(
    *, session: Session, fields: dict[str, Any], arms: Sequence[dict[str, Any]], created_by: int
) -> Campaign:
    _check_window(fields.get("starts_at"), fields.get("ends_at"))
    _check_offer(session, fields.get("offer_id"))
    arms = list(arms) or [{"name": "all", "weight": 1.0}]
    names = [a["name"] for a in arms]
    if len(set(names)) != len(names):
        raise Invalid("arm names must be unique within a campaign")
    for arm in arms:
        _check_offer(session, arm.get("offer_id"))
    campaign = Campaign(**fields, created_by=created_by, arms=[CampaignArm(**a) for a in arms])
    session.add(campaign)
    session.commit()
    return campaign


def update_campaign(*, session: Session, campaign: Campaign, changes: dict[str, Any]) -> Campaign:
    new_status = changes.pop("status", None)
    if campaign.status != S.draft:
        frozen = sorted(set(changes) - EDITABLE_AFTER_DRAFT)
        if frozen:
            raise Conflict(
                f"{', '.join(frozen)} cannot change once a campaign is {campaign.status.value}"
            )
    _check_window(
        changes.get("starts_at", campaign.starts_at), changes.get("ends_at", campaign.ends_at)
    )
    _check_offer(session, changes.get("offer_id"))
    apply_changes(campaign, changes)
    if new_status is not None:
        transition(campaign, new_status)
    session.commit()
    return campaign


def transition(campaign: Campaign, new_status: CampaignStatus) -> None:
    if not check_transition(TRANSITIONS, campaign.status, new_status, "campaign"):
        return
    if new_status == S.scheduled and campaign.starts_at is None:
        raise Invalid("set starts_at before scheduling a campaign")
    campaign.status = new_status


def assign_exposures(
    *, session: Session, campaign: Campaign, customer_ids: Sequence[int]
) -> list[Exposure]:
    """Expose customers: each draws its arm by hash; an existing exposure is returned unchanged."""
    if campaign.status not in (S.scheduled, S.running):
        raise Conflict(
            f"customers can be exposed only to a scheduled or running campaign "
            f"(this one is {campaign.status.value})"
        )
    ids = sorted(set(customer_ids))
    if len(ids) > MAX_EXPOSURES_PER_CALL:
        raise Invalid(f"at most {MAX_EXPOSURES_PER_CALL} customers per call")
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise Invalid(f"{len(missing)} unknown customer id(s): {shown}")
    existing = {
        e.customer_id: e
        for e in session.scalars(
            select(Exposure).where(
                Exposure.campaign_id == campaign.id, Exposure.customer_id.in_(ids)
            )
        )
    }
    new_ids = [i for i in ids if i not in existing]
    if new_ids:
        arms = campaign.arms
        picks = pick_arm(
            unit_hashes(campaign.id, new_ids), [a.weight for a in arms], campaign.holdout_fraction
        )
        now = datetime.now(UTC)
        for cid, pick in zip(new_ids, picks.tolist(), strict=True):
            exposure = Exposure(
                campaign_id=campaign.id,
                customer_id=cid,
                assigned_at=now,
                arm_id=None if pick < 0 else arms[pick].id,
                is_holdout=pick < 0,
            )
            session.add(exposure)
            existing[cid] = exposure
    session.commit()
    return [existing[i] for i in ids]
