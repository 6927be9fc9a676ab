"""/v1/orders and /v1/events: batch ingest of append-only facts, and reading them back."""

from datetime import datetime

from fastapi import APIRouter, status
from sqlalchemy import select

from serving.api.deps import CurrentUser, Marketer, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.activity import BatchResult, EventBatch, OrderBatch, OrderOut
from serving.api.schemas.common import Page
from serving.core.models import Order
from serving.core.services import activity

router = APIRouter(tags=["orders and events"])


@router.post("/orders/batch", status_code=status.HTTP_201_CREATED, response_model=BatchResult)
def ingest_orders(body: OrderBatch, session: WriteSessionDep, user: Marketer) -> BatchResult:
    rows = [o.model_dump() for o in body.orders]
    return BatchResult(accepted=activity.ingest_orders(session=session, orders=rows))


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    customer_id: int | None = None,
    since: datetime | None = None,
) -> dict[str, object]:
    stmt = select(Order).order_by(Order.ordered_at.desc(), Order.id.desc())
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if since is not None:
        stmt = stmt.where(Order.ordered_at >= since)
    return fetch_page(session, stmt, page)


@router.post("/events/batch", status_code=status.HTTP_201_CREATED, response_model=BatchResult)
def ingest_events(body: EventBatch, session: WriteSessionDep, user: Marketer) -> BatchResult:
    rows = [e.model_dump() for e in body.events]
    return BatchResult(accepted=activity.ingest_events(session=session, events=rows))
