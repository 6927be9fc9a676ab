"""/v1/coupons: definitions and codes (marketers), validate and redeem (any checkout key)."""

from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from sqlalchemy import select

from serving.api.deps import CurrentUser, Marketer, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.common import Page
from serving.api.schemas.coupons import (
    CodeOut,
    CodesCreate,
    CouponCreate,
    CouponCreated,
    CouponOut,
    CouponUpdate,
    RedeemRequest,
    RedemptionOut,
    ValidateResponse,
)
from serving.core.errors import Conflict, DomainError, Invalid
from serving.core.models import CouponCode, CouponDefinition, Offer
from serving.core.services import coupons as service
from serving.core.services.changes import apply_changes

router = APIRouter(prefix="/coupons", tags=["coupons"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="retry-safe: the same key returns the first result, one redemption",
    ),
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CouponCreated)
def create_coupon(
    body: CouponCreate, session: WriteSessionDep, user: Marketer
) -> dict[str, object]:
    if body.offer_id is not None and session.get(Offer, body.offer_id) is None:
        raise Invalid(f"offer {body.offer_id} does not exist")
    definition = CouponDefinition(**body.model_dump(exclude={"codes"}))
    session.add(definition)
    session.flush()
    codes = (
        service.generate_codes(session=session, definition=definition, count=body.codes)
        if body.codes
        else []
    )
    session.commit()
    return {**CouponOut.model_validate(definition).model_dump(), "codes": codes}


@router.get("", response_model=Page[CouponOut])
def list_coupons(session: SessionDep, user: CurrentUser, page: PageDep) -> dict[str, object]:
    return fetch_page(session, select(CouponDefinition).order_by(CouponDefinition.id), page)


@router.get("/{coupon_id}", response_model=CouponOut)
def get_coupon(coupon_id: int, session: SessionDep, user: CurrentUser) -> CouponDefinition:
    return service.get_definition(session=session, definition_id=coupon_id)


@router.patch("/{coupon_id}", response_model=CouponOut)
def update_coupon(
    coupon_id: int, body: CouponUpdate, session: WriteSessionDep, user: Marketer
) -> CouponDefinition:
    definition = service.get_definition(session=session, definition_id=coupon_id)
    changes = body.model_dump(exclude_unset=True)
    new_limit = changes.get("total_limit")
    if new_limit is not None and new_limit < definition.redeemed_count:
        raise Conflict(
            f"total_limit cannot go below the {definition.redeemed_count} redemptions already made"
        )
    apply_changes(definition, changes)
    if (
        definition.valid_from
        and definition.valid_until
        and (definition.valid_until <= definition.valid_from)
    ):
        session.rollback()
        raise Invalid("valid_until must be after valid_from")
    session.commit()
    return definition


@router.post(
    "/{coupon_id}/codes", status_code=status.HTTP_201_CREATED, response_model=list[CodeOut]
)
def create_codes(
    coupon_id: int, body: CodesCreate, session: WriteSessionDep, user: Marketer
) -> list[CouponCode]:
    definition = service.get_definition(session=session, definition_id=coupon_id)
    codes = service.generate_codes(
        session=session,
        definition=definition,
        count=body.count,
        customer_id=body.customer_id,
        code=body.code,
    )
    session.commit()
    return codes


@router.get("/{coupon_id}/codes", response_model=Page[CodeOut])
def list_codes(
    coupon_id: int, session: SessionDep, user: Marketer, page: PageDep
) -> dict[str, object]:
    service.get_definition(session=session, definition_id=coupon_id)
    stmt = select(CouponCode).where(CouponCode.definition_id == coupon_id).order_by(CouponCode.id)
    return fetch_page(session, stmt, page)


@router.post("/validate", response_model=ValidateResponse)
def validate(body: RedeemRequest, session: SessionDep, user: CurrentUser) -> ValidateResponse:
    """Would this code apply to this order? Changes nothing; a 'no' comes with the reason."""
    code = service.normalize(body.code)
    try:
        q = service.quote(
            session=session, code=code, customer_id=body.customer_id, order_value=body.order_value
        )
    except DomainError as exc:
        return ValidateResponse(valid=False, code=code, reason=exc.detail)
    return ValidateResponse(
        valid=True,
        code=code,
        discount_amount=q.discount_amount,
        final_amount=round(body.order_value - q.discount_amount, 2),
    )


@router.post("/redeem", status_code=status.HTTP_201_CREATED, response_model=RedemptionOut)
def redeem(
    body: RedeemRequest,
    response: Response,
    session: WriteSessionDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> RedemptionOut:
    redemption, replayed = service.redeem(
        session=session,
        code=body.code,
        customer_id=body.customer_id,
        order_value=body.order_value,
        order_ref=body.order_ref,
        idempotency_key=idempotency_key,
    )
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    out = RedemptionOut.model_validate(redemption)
    out.replayed = replayed
    return out
