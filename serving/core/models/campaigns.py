"""Campaigns, their arms (A/B variants) and who was exposed to which arm."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from serving.core.models.base import Base, Money, str_enum, utcnow


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    running = "running"
    ended = "ended"


class CampaignChannel(StrEnum):
    email = "email"
    sms = "sms"
    push = "push"
    web = "web"


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("holdout_fraction >= 0 AND holdout_fraction < 1", name="holdout_range"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[CampaignChannel] = mapped_column(str_enum(CampaignChannel, "campaign_channel"))
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus, "campaign_status"), default=CampaignStatus.draft
    )
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    budget: Mapped[float | None] = mapped_column(Money)
    spend: Mapped[float] = mapped_column(Money, default=0.0)
    holdout_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    arms: Mapped[list["CampaignArm"]] = relationship(
        back_populates="campaign", order_by="CampaignArm.id", cascade="all, delete-orphan"
    )


class CampaignArm(Base):
    __tablename__ = "campaign_arms"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name"),
        CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))

    campaign: Mapped[Campaign] = relationship(back_populates="arms")


class Exposure(Base):
    """One customer in one campaign: the arm they drew (None = holdout) and what happened."""

    __tablename__ = "exposures"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    arm_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_arms.id"))
    is_holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    revenue: Mapped[float | None] = mapped_column(Money)
