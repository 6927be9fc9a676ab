"""/v1/offers: what next-best-action can propose. Marketers and admins change them."""

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.api.deps import CurrentUser, Marketer, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.common import Page
from serving.api.schemas.coupons import OfferCreate, OfferOut, OfferUpdate
from serving.core.errors import Conflict, NotFound
from serving.core.models import Offer
from serving.core.services.changes import apply_changes

router = APIRouter(prefix="/offers", tags=["offers"])


def _get(session: Session, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer


def _commit_unique(session: Session, name: str | None) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"an offer named '{name}' already exists") from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OfferOut)
def create_offer(body: OfferCreate, session: WriteSessionDep, user: Marketer) -> Offer:
    offer = Offer(**body.model_dump())
    session.add(offer)
    _commit_unique(session, body.name)
    return offer


@router.get("", response_model=Page[OfferOut])
def list_offers(
    session: SessionDep, user: CurrentUser, page: PageDep, active: bool | None = None
) -> dict[str, object]:
    stmt = select(Offer).order_by(Offer.id)
    if active is not None:
        stmt = stmt.where(Offer.is_active.is_(active))
    return fetch_page(session, stmt, page)


@router.get("/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: int, session: SessionDep, user: CurrentUser) -> Offer:
    return _get(session, offer_id)


@router.patch("/{offer_id}", response_model=OfferOut)
def update_offer(
    offer_id: int, body: OfferUpdate, session: WriteSessionDep, user: Marketer
) -> Offer:
    offer = _get(session, offer_id)
    apply_changes(offer, body.model_dump(exclude_unset=True))
    _commit_unique(session, body.name)
    return offer
