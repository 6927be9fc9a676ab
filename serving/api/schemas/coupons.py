"""Offer and coupon bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from serving.api.schemas.common import AwareDatetime, ORMModel
from serving.core.models import DiscountType

Money = Annotated[float, Field(ge=0, le=1e9)]


class OfferCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    channel: str | None = Field(default=None, max_length=32)
    value: Money = Field(default=0.0, description="expected value to us when accepted")
    cost: Money = Field(default=0.0, description="what making the offer costs")
    is_active: bool = True


class OfferUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    channel: str | None = Field(default=None, max_length=32)
    value: Money | None = None
    cost: Money | None = None
    is_active: bool | None = None


class OfferOut(OfferCreate, ORMModel):
    id: int
    created_at: datetime


class CouponCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    offer_id: int | None = None
    discount_type: DiscountType
    discount_value: float = Field(gt=0, le=1e9)
    min_order_value: Money = 0.0
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    total_limit: int | None = Field(default=None, ge=0, description="null: unlimited")
    per_customer_limit: int | None = Field(default=None, ge=1, description="null: unlimited")
    stackable: bool = False
    codes: int = Field(default=0, ge=0, le=10_000, description="random codes to generate now")

    @model_validator(mode="after")
    def _consistent(self) -> "CouponCreate":
        if self.discount_type == DiscountType.percent and self.discount_value > 100:
            raise ValueError("a percent discount cannot exceed 100")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class CouponUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    total_limit: int | None = Field(default=None, ge=0)
    per_customer_limit: int | None = Field(default=None, ge=1)
    stackable: bool | None = None


class CouponOut(ORMModel):
    id: int
    name: str
    offer_id: int | None
    discount_type: DiscountType
    discount_value: float
    min_order_value: float
    valid_from: datetime | None
    valid_until: datetime | None
    total_limit: int | None
    per_customer_limit: int | None
    stackable: bool
    redeemed_count: int
    created_at: datetime


class CodesCreate(BaseModel):
    count: int = Field(default=1, ge=1, le=10_000)
    customer_id: int | None = Field(default=None, description="issue to one customer only")
    code: str | None = Field(
        default=None,
        min_length=4,
        max_length=32,
        pattern=r"^[A-Za-z0-9-]+$",
        description="a chosen code such as SUMMER25 (count must be 1)",
    )


class CodeOut(ORMModel):
    id: int
    code: str
    definition_id: int
    customer_id: int | None
    created_at: datetime


class CouponCreated(CouponOut):
    codes: list[CodeOut]


class RedeemRequest(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    customer_id: int
    order_value: float = Field(ge=0, le=1e9)
    order_ref: str | None = Field(
        default=None, max_length=64, description="your order id; enforces stacking rules"
    )


class ValidateResponse(BaseModel):
    valid: bool
    code: str
    reason: str | None = None
    discount_amount: float = 0.0
    final_amount: float | None = None


class RedemptionOut(ORMModel):
    id: int
    code_id: int
    definition_id: int
    customer_id: int
    order_ref: str | None
    order_value: float
    discount_amount: float
    redeemed_at: datetime
    replayed: bool = False
