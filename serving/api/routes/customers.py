"""/v1/customers: the CRM records everything else hangs off."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.api.deps import CurrentUser, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.common import Page, order_by
from serving.api.schemas.customers import CustomerCreate, CustomerOut, CustomerUpdate
from serving.core.errors import Conflict, NotFound
from serving.core.models import Customer
from serving.core.services.changes import apply_changes

router = APIRouter(prefix="/customers", tags=["customers"])

SORTS = {"id": Customer.id, "created_at": Customer.created_at, "name": Customer.name}


def _get(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CustomerOut)
def create_customer(body: CustomerCreate, session: WriteSessionDep, user: CurrentUser) -> Customer:
    customer = Customer(**body.model_dump())
    session.add(customer)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a customer with external_id {body.external_id} already exists") from None
    return customer


@router.get("", response_model=Page[CustomerOut])
def list_customers(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    region: str | None = None,
    industry: str | None = None,
    segment: str | None = None,
    external_id: str | None = None,
    sort: Annotated[
        str, Query(description="field, '-' for descending: id, created_at, name")
    ] = "id",
) -> dict[str, object]:
    stmt = select(Customer).order_by(order_by(sort, SORTS), Customer.id)
    for attr, value in (
        ("region", region),
        ("industry", industry),
        ("segment", segment),
        ("external_id", external_id),
    ):
        if value is not None:
            stmt = stmt.where(getattr(Customer, attr) == value)
    return fetch_page(session, stmt, page)


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: int, session: SessionDep, user: CurrentUser) -> Customer:
    return _get(session, customer_id)


@router.patch("/{customer_id}", response_model=CustomerOut)
def update_customer(
    customer_id: int, body: CustomerUpdate, session: WriteSessionDep, user: CurrentUser
) -> Customer:
    customer = _get(session, customer_id)
    apply_changes(customer, body.model_dump(exclude_unset=True))
    session.commit()
    return customer
