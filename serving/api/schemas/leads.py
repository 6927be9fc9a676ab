"""Lead bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from serving.api.schemas.common import ORMModel
from serving.core.models import LeadSource, LeadStatus


class LeadCreate(BaseModel):
    customer_id: int
    source: LeadSource
    owner_id: int | None = Field(
        default=None, description="leave empty to apply the assignment rules"
    )
    notes: str | None = Field(default=None, max_length=2000)


class LeadUpdate(BaseModel):
    status: LeadStatus | None = Field(
        default=None, description="new → contacted → qualified → converted | lost"
    )
    owner_id: int | None = Field(default=None, description="reassign (marketer/admin)")
    notes: str | None = Field(default=None, max_length=2000)


class LeadCustomer(ORMModel):
    id: int
    name: str | None
    company: str | None
    region: str | None
    industry: str | None
    segment: str | None


class LeadOut(ORMModel):
    id: int
    customer: LeadCustomer
    owner_id: int | None
    source: LeadSource
    status: LeadStatus
    notes: str | None
    created_at: datetime
    contacted_at: datetime | None
    qualified_at: datetime | None
    closed_at: datetime | None
    score: float | None = Field(description="0–100; null until a model has scored the lead")
    grade: str | None = Field(description="A (hottest) to D")
    score_reasons: list[dict[str, Any]] | None
    model_version: str | None
    scored_at: datetime | None
    sla_breached: bool = Field(
        default=False, description="a grade-A lead still uncontacted after the SLA window"
    )
