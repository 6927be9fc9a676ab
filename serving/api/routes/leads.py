"""/v1/leads: a rep's working list. Reps see only their own leads; others see all."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from serving.api.deps import CurrentUser, ScoringDep, SessionDep, SettingsDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.common import Page, order_by
from serving.api.schemas.leads import LeadCreate, LeadOut, LeadUpdate
from serving.core.errors import Forbidden, Invalid
from serving.core.models import Lead, LeadSource, LeadStatus, Role, User
from serving.core.services import leads as lead_service

router = APIRouter(prefix="/leads", tags=["leads"])

SORTS = {"id": Lead.id, "score": Lead.score, "created_at": Lead.created_at}


def _out(lead: Lead, now: datetime, sla_hours: float) -> LeadOut:
    out = LeadOut.model_validate(lead)
    out.sla_breached = lead_service.is_sla_breached(lead, now=now, sla_hours=sla_hours)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LeadOut)
def create_lead(
    body: LeadCreate,
    session: WriteSessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    scoring: ScoringDep,
) -> LeadOut:
    if body.owner_id is not None and user.role == Role.sales_rep and body.owner_id != user.id:
        raise Forbidden("a sales rep can only create leads for themselves or by the rules")
    lead = lead_service.add_lead(
        session=session,
        customer_id=body.customer_id,
        source=body.source,
        owner_id=body.owner_id,
        notes=body.notes,
    )
    session.commit()
    # scored after the lead is saved, so the write lock is not held while features are read
    if scoring.score_lead(lead):
        session.commit()
    return _out(lead, datetime.now(UTC), settings.lead_sla_hours)


@router.get("", response_model=Page[LeadOut])
def list_leads(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    page: PageDep,
    owner: Annotated[str | None, Query(description="'me' or a user id")] = None,
    status_: Annotated[LeadStatus | None, Query(alias="status")] = None,
    source: LeadSource | None = None,
    grade: Annotated[str | None, Query(pattern="^[A-D]$")] = None,
    sort: Annotated[str, Query(description="id, score or created_at; '-' for descending")] = "-id",
) -> dict[str, object]:
    stmt = select(Lead).options(selectinload(Lead.customer))
    owner_id = _owner_filter(owner, user)
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    if status_ is not None:
        stmt = stmt.where(Lead.status == status_)
    if source is not None:
        stmt = stmt.where(Lead.source == source)
    if grade is not None:
        stmt = stmt.where(Lead.grade == grade)
    stmt = stmt.order_by(order_by(sort, SORTS), Lead.id.desc())
    result = fetch_page(session, stmt, page)
    now = datetime.now(UTC)
    result["items"] = [_out(lead, now, settings.lead_sla_hours) for lead in result["items"]]
    return result


def _owner_filter(owner: str | None, user: User) -> int | None:
    if user.role == Role.sales_rep:
        return user.id  # a rep's list is always their own, whatever they ask for
    if owner is None:
        return None
    if owner == "me":
        return user.id
    if not owner.isdigit():
        raise Invalid("owner must be 'me' or a user id")
    return int(owner)


@router.get("/{lead_id}", response_model=LeadOut)
def get_lead(
    lead_id: int, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> LeadOut:
    lead = lead_service.get_lead(session=session, lead_id=lead_id, visible_to=user)
    return _out(lead, datetime.now(UTC), settings.lead_sla_hours)


@router.patch("/{lead_id}", response_model=LeadOut)
def update_lead(
    lead_id: int,
    body: LeadUpdate,
    session: WriteSessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> LeadOut:
    lead = lead_service.get_lead(session=session, lead_id=lead_id, visible_to=user)
    changes = body.model_dump(exclude_unset=True)
    if "owner_id" in changes:
        if user.role not in (Role.marketer, Role.admin):
            raise Forbidden("only a marketer or admin can reassign a lead")
        lead_service.reassign(session=session, lead=lead, owner_id=changes["owner_id"])
    if changes.get("status") is not None:
        lead_service.transition(lead, changes["status"])
    if "notes" in changes:
        lead.notes = changes["notes"]
    session.commit()
    return _out(lead, datetime.now(UTC), settings.lead_sla_hours)
