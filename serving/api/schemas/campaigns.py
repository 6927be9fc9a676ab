"""Campaign bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from serving.api.schemas.common import AwareDatetime, ORMModel
from serving.core.models import CampaignChannel, CampaignStatus

Money = Annotated[float, Field(ge=0, le=1e12)]


class ArmIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(default=1.0, gt=0, le=1e6)
    is_control: bool = False
    offer_id: int | None = None


class CampaignCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    channel: CampaignChannel
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    budget: Money | None = None
    holdout_fraction: float = Field(default=0.0, ge=0, lt=1)
    offer_id: int | None = None
    arms: list[ArmIn] = Field(
        default_factory=list,
        max_length=20,
        description="A/B variants; empty means one arm for everyone",
    )


class CampaignUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: CampaignStatus | None = Field(
        default=None, description="draft → scheduled → running → ended"
    )
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    budget: Money | None = None
    spend: Money | None = None
    holdout_fraction: float | None = Field(default=None, ge=0, lt=1)
    offer_id: int | None = None


class ArmOut(ArmIn, ORMModel):
    id: int


class CampaignOut(ORMModel):
    id: int
    name: str
    channel: CampaignChannel
    status: CampaignStatus
    starts_at: datetime | None
    ends_at: datetime | None
    budget: float | None
    spend: float
    holdout_fraction: float
    offer_id: int | None
    created_at: datetime
    arms: list[ArmOut]


class ExposeRequest(BaseModel):
    customer_ids: list[int] = Field(min_length=1, max_length=10_000)


class ExposureOut(ORMModel):
    customer_id: int
    arm_id: int | None
    is_holdout: bool
    assigned_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    converted_at: datetime | None
    revenue: float | None


class ExposureUpdate(BaseModel):
    sent_at: AwareDatetime | None = None
    opened_at: AwareDatetime | None = None
    clicked_at: AwareDatetime | None = None
    converted_at: AwareDatetime | None = None
    revenue: Money | None = None
