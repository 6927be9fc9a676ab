"""Append-only facts: orders and behaviour events."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from serving.core.models.base import Base, Money, str_enum


class EventType(StrEnum):
    session_start = "session_start"
    page_view = "page_view"
    email_sent = "email_sent"
    email_open = "email_open"
    email_click = "email_click"
    form_submit = "form_submit"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ordered_at: Mapped[datetime] = mapped_column(index=True)
    amount: Mapped[float] = mapped_column(Money)
    items: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str | None] = mapped_column(String(32))
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))


class Event(Base):
    """Behaviour events sent through the API; the simulator's bulk log lives in Parquet."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    type: Mapped[EventType] = mapped_column(str_enum(EventType, "event_type"))
    page: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON)
