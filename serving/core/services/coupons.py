"""Coupon use cases: codes, validation and redemption.

Redemption must never pass a limit, even with many checkouts at once. Both limits are enforced
by a single conditional write each (`UPDATE … WHERE redeemed_count < total_limit`, and an
upsert on the per-customer counter with the same guard), so the database's row lock, not an
earlier read, decides who gets the last unit. Everything a redemption writes commits together.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from serving.core.errors import Conflict, Invalid, LimitReached, NotFound
from serving.core.models import (
    CouponCode,
    CouponCustomerUsage,
    CouponDefinition,
    Customer,
    DiscountType,
    Redemption,
)

# No 0/O, 1/I/L: codes get read out over the phone and typed from print.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_CHARS = 12  # 31**12 ≈ 2**59: unguessable by enumeration
MAX_CODES_PER_CALL = 10_000


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_CHARS, 4))


def normalize(code: str) -> str:
    return code.strip().upper()


def get_definition(*, session: Session, definition_id: int) -> CouponDefinition:
    definition = session.get(CouponDefinition, definition_id)
    if definition is None:
        raise NotFound(f"coupon {definition_id} not found")
    return definition


def generate_codes(
    *,
    session: Session,
    definition: CouponDefinition,
    count: int,
    customer_id: int | None = None,
    code: str | None = None,
) -> list[CouponCode]:
    """Add `count` random codes, or one chosen `code` (e.g. SUMMER25); flushes, no commit."""
    if not 1 <= count <= MAX_CODES_PER_CALL:
        raise Invalid(f"count must be between 1 and {MAX_CODES_PER_CALL}")
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise Invalid(f"customer {customer_id} does not exist")
    if code is not None:
        if count != 1:
            raise Invalid("a chosen code is a single code: use count=1")
        wanted = {normalize(code)}
        if session.scalar(select(CouponCode.id).where(CouponCode.code.in_(wanted))):
            raise Conflict(f"the code {normalize(code)} already exists")
    else:
        wanted = set()
        while len(wanted) < count:
            batch = {new_code() for _ in range(count - len(wanted))}
            taken = set(session.scalars(select(CouponCode.code).where(CouponCode.code.in_(batch))))
            wanted |= batch - taken
    codes = [
        CouponCode(definition_id=definition.id, code=c, customer_id=customer_id)
        for c in sorted(wanted)
    ]
    session.add_all(codes)
    session.flush()
    return codes


@dataclass(frozen=True)
class Quote:
    code: CouponCode
    definition: CouponDefinition
    discount_amount: float


def quote(
    *,
    session: Session,
    code: str,
    customer_id: int,
    order_value: float,
    now: datetime | None = None,
) -> Quote:
    """Check every rule but the limits' race, and price the discount; raises if not applicable."""
    now = now or datetime.now(UTC)
    coupon_code = session.scalar(
        select(CouponCode)
        .options(joinedload(CouponCode.definition))
        .where(CouponCode.code == normalize(code))
    )
    if coupon_code is None:
        raise NotFound(f"coupon code {normalize(code)} not found")
    if session.get(Customer, customer_id) is None:
        raise Invalid(f"customer {customer_id} does not exist")
    if coupon_code.customer_id is not None and coupon_code.customer_id != customer_id:
        raise Invalid("this code was issued to another customer")
    d = coupon_code.definition
    if d.valid_from and now < d.valid_from:
        raise Invalid(f"this coupon is valid from {d.valid_from.isoformat()}")
    if d.valid_until and now > d.valid_until:
        raise Invalid(f"this coupon expired on {d.valid_until.isoformat()}")
    if order_value < d.min_order_value:
        raise Invalid(
            f"the order value {order_value:.2f} is below this coupon's minimum of "
            f"{d.min_order_value:.2f}"
        )
    if d.total_limit is not None and d.redeemed_count >= d.total_limit:
        raise LimitReached(f"this coupon has reached its limit of {d.total_limit} redemptions")
    if d.per_customer_limit is not None:
        used = (
            session.scalar(
                select(CouponCustomerUsage.count).where(
                    CouponCustomerUsage.definition_id == d.id,
                    CouponCustomerUsage.customer_id == customer_id,
                )
            )
            or 0
        )
        if used >= d.per_customer_limit:
            raise LimitReached(_per_customer_message(d.per_customer_limit))
    if d.discount_type == DiscountType.percent:
        discount = order_value * d.discount_value / 100
    else:
        discount = min(d.discount_value, order_value)
    return Quote(coupon_code, d, round(discount, 2))


def _per_customer_message(limit: int) -> str:
    times = "once" if limit == 1 else f"{limit} times"
    return f"this customer has already used this coupon {times}, its per-customer limit"


def redeem(
    *,
    session: Session,
    code: str,
    customer_id: int,
    order_value: float,
    order_ref: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Redemption, bool]:
    """Redeem once; returns (redemption, replayed). The same idempotency key replays the result.

    A retry racing its own first attempt may lose on a limit or on the key's unique index; it
    then finds the winner's redemption and replays it instead of failing.
    """
    if idempotency_key is not None:
        previous = _replay(session, idempotency_key, code, customer_id, order_value)
        if previous is not None:
            return previous, True
    try:
        redemption = _redeem_once(
            session,
            code,
            customer_id,
            order_value,
            order_ref,
            idempotency_key,
            now or datetime.now(UTC),
        )
    except (LimitReached, IntegrityError):
        session.rollback()
        if idempotency_key is not None:
            previous = _replay(session, idempotency_key, code, customer_id, order_value)
            if previous is not None:
                return previous, True
        raise
    return redemption, False


def _redeem_once(
    session: Session,
    code: str,
    customer_id: int,
    order_value: float,
    order_ref: str | None,
    idempotency_key: str | None,
    now: datetime,
) -> Redemption:
    q = quote(session=session, code=code, customer_id=customer_id, order_value=order_value, now=now)
    d = q.definition
    if order_ref is not None:
        _check_stacking(session, d, order_ref)
    # The shared counter row is locked last, so concurrent redemptions of one coupon queue on it
    # only for the final statement and the commit.
    if _bump_customer_usage(session, d, customer_id) is None:
        raise LimitReached(_per_customer_message(d.per_customer_limit or 0))
    redemption = Redemption(
        code_id=q.code.id,
        definition_id=d.id,
        customer_id=customer_id,
        order_ref=order_ref,
        order_value=order_value,
        discount_amount=q.discount_amount,
        idempotency_key=idempotency_key,
        redeemed_at=now,
    )
    session.add(redemption)
    session.flush()
    taken = session.execute(
        update(CouponDefinition)
        .where(
            CouponDefinition.id == d.id,
            or_(
                CouponDefinition.total_limit.is_(None),
                CouponDefinition.redeemed_count < CouponDefinition.total_limit,
            ),
        )
        .values(redeemed_count=CouponDefinition.redeemed_count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(d, ["redeemed_count"])
    if taken == 0:
        raise LimitReached(f"this coupon has reached its limit of {d.total_limit} redemptions")
    session.commit()
    return redemption


def _replay(
    session: Session, key: str, code: str, customer_id: int, order_value: float
) -> Redemption | None:
    previous = session.scalar(select(Redemption).where(Redemption.idempotency_key == key))
    if previous is None:
        return None
    same = (
        previous.code.code == normalize(code)
        and previous.customer_id == customer_id
        and abs(previous.order_value - order_value) < 0.005
    )
    if not same:
        raise Conflict("this Idempotency-Key was already used for a different redemption")
    return previous


def _check_stacking(session: Session, definition: CouponDefinition, order_ref: str) -> None:
    others = list(
        session.scalars(
            select(CouponDefinition)
            .join(Redemption, Redemption.definition_id == CouponDefinition.id)
            .where(Redemption.order_ref == order_ref)
        )
    )
    if any(o.id == definition.id for o in others):
        raise Conflict(f"this coupon is already applied to order {order_ref}")
    if others and (not definition.stackable or not all(o.stackable for o in others)):
        raise Conflict(f"order {order_ref} already has a coupon and these do not stack")


def _bump_customer_usage(
    session: Session, definition: CouponDefinition, customer_id: int
) -> int | None:
    """Count one more use for this customer; None if that would pass the per-customer limit."""
    table = CouponCustomerUsage.__table__
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt: Insert = insert_fn(table).values(
        definition_id=definition.id, customer_id=customer_id, count=1
    )
    limit = definition.per_customer_limit
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[table.c.definition_id, table.c.customer_id],
        set_={"count": table.c.count + 1},
        where=(table.c.count < limit) if limit is not None else None,
    ).returning(table.c.count)
    return session.execute(stmt).scalar_one_or_none()
