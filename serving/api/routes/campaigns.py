"""/v1/campaigns: plans, A/B arms and exposures. Only marketers and admins change them."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from serving.api.deps import CurrentUser, Marketer, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.campaigns import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    ExposeRequest,
    ExposureOut,
    ExposureUpdate,
)
from serving.api.schemas.common import Page, order_by
from serving.core.errors import NotFound
from serving.core.models import Campaign, CampaignChannel, CampaignStatus, Exposure
from serving.core.services import campaigns as service
from serving.core.services.changes import apply_changes

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

SORTS = {"id": Campaign.id, "created_at": Campaign.created_at, "starts_at": Campaign.starts_at}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignOut)
def create_campaign(body: CampaignCreate, session: WriteSessionDep, user: Marketer) -> Campaign:
    fields = body.model_dump(exclude={"arms"})
    arms = [a.model_dump() for a in body.arms]
    return service.create_campaign(session=session, fields=fields, arms=arms, created_by=user.id)


@router.get("", response_model=Page[CampaignOut])
def list_campaigns(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    status_: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    channel: CampaignChannel | None = None,
    sort: str = "-id",
) -> dict[str, object]:
    stmt = select(Campaign).options(selectinload(Campaign.arms))
    if status_ is not None:
        stmt = stmt.where(Campaign.status == status_)
    if channel is not None:
        stmt = stmt.where(Campaign.channel == channel)
    return fetch_page(session, stmt.order_by(order_by(sort, SORTS), Campaign.id), page)


@router.get("/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: int, session: SessionDep, user: CurrentUser) -> Campaign:
    return service.get_campaign(session=session, campaign_id=campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignOut)
def update_campaign(
    campaign_id: int, body: CampaignUpdate, session: WriteSessionDep, user: Marketer
) -> Campaign:
    campaign = service.get_campaign(session=session, campaign_id=campaign_id)
    return service.update_campaign(
        session=session, campaign=campaign, changes=body.model_dump(exclude_unset=True)
    )


@router.post("/{campaign_id}/exposures", response_model=list[ExposureOut])
def expose(
    campaign_id: int, body: ExposeRequest, session: WriteSessionDep, user: Marketer
) -> list[Exposure]:
    """Assign customers to arms (or the holdout) by hashing; repeating a call changes nothing."""
    campaign = service.get_campaign(session=session, campaign_id=campaign_id)
    return service.assign_exposures(
        session=session, campaign=campaign, customer_ids=body.customer_ids
    )


@router.get("/{campaign_id}/exposures", response_model=Page[ExposureOut])
def list_exposures(
    campaign_id: int, session: SessionDep, user: CurrentUser, page: PageDep
) -> dict[str, object]:
    service.get_campaign(session=session, campaign_id=campaign_id)
    stmt = select(Exposure).where(Exposure.campaign_id == campaign_id).order_by(Exposure.id)
    return fetch_page(session, stmt, page)


@router.patch("/{campaign_id}/exposures/{customer_id}", response_model=ExposureOut)
def record_outcome(
    campaign_id: int,
    customer_id: int,
    body: ExposureUpdate,
    session: WriteSessionDep,
    user: Marketer,
) -> Exposure:
    """Record what happened to one exposure (sent, opened, clicked, converted, revenue)."""
    exposure = session.scalar(
        select(Exposure).where(
            Exposure.campaign_id == campaign_id, Exposure.customer_id == customer_id
        )
    )
    if exposure is None:
        raise NotFound(f"customer {customer_id} is not exposed to campaign {campaign_id}")
    apply_changes(exposure, body.model_dump(exclude_unset=True))
    session.commit()
    return exposure
