"""Offers, coupon definitions, their codes and redemptions."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from serving.core.models.base import Base, Money, str_enum, utcnow


class DiscountType(StrEnum):
    percent = "percent"
    fixed = "fixed"


class Offer(Base):
    """Something we can propose to a customer; value and cost feed next-best-action."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    channel: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Money, default=0.0)
    cost: Mapped[float] = mapped_column(Money, default=0.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponDefinition(Base):
    __tablename__ = "coupon_definitions"
    __table_args__ = (
        CheckConstraint("discount_value > 0", name="discount_positive"),
        CheckConstraint(
            "discount_type != 'percent' OR discount_value <= 100", name="percent_max_100"
        ),
        CheckConstraint("total_limit IS NULL OR total_limit >= 0", name="total_limit_nonneg"),
        CheckConstraint(
            "total_limit IS NULL OR redeemed_count <= total_limit", name="within_total_limit"
        ),
        CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit >= 1", name="per_customer_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    discount_type: Mapped[DiscountType] = mapped_column(str_enum(DiscountType, "discount_type"))
    discount_value: Mapped[float] = mapped_column(Money)
    min_order_value: Mapped[float] = mapped_column(Money, default=0.0)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    total_limit: Mapped[int | None] = mapped_column(Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    stackable: Mapped[bool] = mapped_column(Boolean, default=False)
    # The counter the total limit is enforced on, atomically (see services/coupons.py).
    redeemed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponCode(Base):
    __tablename__ = "coupon_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_definitions.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # A code issued to one customer can only be redeemed by them.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    definition: Mapped[CouponDefinition] = relationship()


class CouponCustomerUsage(Base):
    """Per-customer counter: the per-customer limit is enforced on this row, atomically."""

    __tablename__ = "coupon_customer_usage"

    definition_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_definitions.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("coupon_codes.id"), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("coupon_definitions.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    order_value: Mapped[float] = mapped_column(Money)
    discount_amount: Mapped[float] = mapped_column(Money)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    redeemed_at: Mapped[datetime] = mapped_column(default=utcnow)

    code: Mapped[CouponCode] = relationship()
