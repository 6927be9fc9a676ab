"""Lead use cases: create with assignment rules, status pipeline, reassignment."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.core.errors import Invalid, NotFound
from serving.core.models import Customer, Lead, LeadSource, LeadStatus, Role, User
from serving.core.services.status import check_transition

OPEN_STATUSES = (LeadStatus.new, LeadStatus.contacted, LeadStatus.qualified)

# The pipeline: new -> contacted -> qualified -> converted | lost; any open lead may be lost.
TRANSITIONS: dict[LeadStatus, frozenset[LeadStatus]] = {
    LeadStatus.new: frozenset({LeadStatus.contacted, LeadStatus.lost}),
    LeadStatus.contacted: frozenset({LeadStatus.qualified, LeadStatus.lost}),
    LeadStatus.qualified: frozenset({LeadStatus.converted, LeadStatus.lost}),
    LeadStatus.converted: frozenset(),
    LeadStatus.lost: frozenset(),
}


def choose_owner(*, session: Session, customer: Customer) -> User | None:
    """Assignment rules: reps of the customer's region, then of its industry, then least loaded.

    A rep with no region (or industry) set covers any. Each rule narrows the candidates only if
    some candidate matches it, so a lead always finds an owner while any active rep exists.
    """
    reps = list(
        session.scalars(select(User).where(User.role == Role.sales_rep, User.is_active.is_(True)))
    )
    if not reps:
        return None
    for attr in ("region", "industry"):
        wanted = getattr(customer, attr)
        exact = [r for r in reps if wanted is not None and getattr(r, attr) == wanted]
        wildcard = [r for r in reps if getattr(r, attr) is None]
        if exact or wildcard:
            reps = exact or wildcard
    loads = dict(
        session.execute(
            select(Lead.owner_id, func.count())
            .where(Lead.owner_id.in_([r.id for r in reps]), Lead.status.in_(OPEN_STATUSES))
            .group_by(Lead.owner_id)
        ).all()
    )
    return min(reps, key=lambda r: (loads.get(r.id, 0), r.id))


def add_lead(
    *,
    session: Session,
    customer_id: int,
    source: LeadSource,
    owner_id: int | None = None,
    notes: str | None = None,
    created_at: datetime | None = None,
) -> Lead:
    """Add (and flush, not commit) a lead; the owner comes from the rules unless given."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise Invalid(f"customer {customer_id} does not exist")
    if owner_id is not None:
        owner: User | None = _active_rep(session, owner_id)
    else:
        owner = choose_owner(session=session, customer=customer)
    lead = Lead(
        customer_id=customer_id,
        source=source,
        owner_id=owner.id if owner else None,
        notes=notes,
        created_at=created_at or datetime.now(UTC),
    )
    session.add(lead)
    session.flush()
    return lead


def transition(lead: Lead, new_status: LeadStatus, *, at: datetime | None = None) -> None:
    """Move a lead along the pipeline, stamping when it happened; illegal moves raise."""
    if not check_transition(TRANSITIONS, lead.status, new_status, "lead"):
        return
    at = at or datetime.now(UTC)
    lead.status = new_status
    if new_status == LeadStatus.contacted:
        lead.contacted_at = at
    elif new_status == LeadStatus.qualified:
        lead.qualified_at = at
    else:
        lead.closed_at = at


def is_sla_breached(lead: Lead, *, now: datetime, sla_hours: float) -> bool:
    """A hot lead (grade A) still uncontacted after the SLA window."""
    return (
        lead.grade == "A"
        and lead.status == LeadStatus.new
        and lead.contacted_at is None
        and now - lead.created_at > timedelta(hours=sla_hours)
    )


def get_lead(*, session: Session, lead_id: int, visible_to: User) -> Lead:
    """Reps only see their own leads; another rep's lead is 'not found' so ids do not leak."""
    lead = session.get(Lead, lead_id)
    if lead is None or (visible_to.role == Role.sales_rep and lead.owner_id != visible_to.id):
        raise NotFound(f"lead {lead_id} not found")
    return lead


def reassign(*, session: Session, lead: Lead, owner_id: int | None) -> None:
    if owner_id is None:
        raise Invalid("owner_id cannot be null; pick an active sales rep")
    lead.owner_id = _active_rep(session, owner_id).id


def _active_rep(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.role != Role.sales_rep or not user.is_active:
        raise Invalid(f"user {user_id} is not an active sales rep")
    return user
