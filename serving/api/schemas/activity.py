"""Order and behaviour-event bodies for batch ingest."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from serving.api.schemas.common import AwareDatetime, ORMModel
from serving.core.models import EventType

MAX_BATCH = 10_000


class OrderIn(BaseModel):
    external_id: str | None = Field(default=None, max_length=64, description="your order id")
    customer_id: int
    ordered_at: AwareDatetime
    amount: float = Field(ge=0, le=1e9)
    items: int = Field(default=1, ge=1, le=100_000)
    channel: str | None = Field(default=None, max_length=32)
    coupon_code: str | None = Field(default=None, max_length=32)
    campaign_id: int | None = None


class OrderOut(OrderIn, ORMModel):
    id: int
    ordered_at: datetime


class OrderBatch(BaseModel):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventIn(BaseModel):
    customer_id: int
    occurred_at: AwareDatetime
    type: EventType
    page: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=32)
    campaign_id: int | None = None
    properties: dict[str, Any] | None = None


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    accepted: int
