"""Recommendation bodies: send time and next-best-action."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from serving.api.schemas.common import AwareDatetime

MAX_AUDIENCE = 10_000


class SendSlot(BaseModel):
    hour_of_week_local: int = Field(description="0 = Monday 00:00 in the customer's zone")
    local: str = Field(description="e.g. 'Tue 09:00', the customer's time")
    hour_of_week_utc: float = Field(description="the same moment in UTC (fractional for +5:30)")
    utc: str
    expected_open_rate: float
    next_send_at: datetime = Field(description="the next time this hour comes round (UTC)")


class SendEvidence(BaseModel):
    own_weight: float = Field(description="share of the customer's own e-mails in the estimate")
    segment_weight: float
    global_weight: float
    emails_sent: int
    emails_opened: int
    segment: str | None


class SendTimeOut(BaseModel):
    customer_id: int
    channel: Literal["email"]
    model_version: str
    timezone: str
    utc_offset_hours: float
    best: SendSlot
    runner_ups: list[SendSlot]
    source: str = Field(description="what decided the hour: own history, segment or global prior")
    evidence: SendEvidence
    consent_email: bool


class ScheduleRequest(BaseModel):
    campaign_id: int | None = Field(default=None, description="schedule a campaign's audience")
    customer_ids: list[int] | None = Field(
        default=None, max_length=MAX_AUDIENCE, description="or a list of customers"
    )
    channel: Literal["email"] = "email"
    not_before: AwareDatetime | None = Field(
        default=None, description="earliest send (default now); every send is within a week"
    )

    @model_validator(mode="after")
    def _one_audience(self) -> "ScheduleRequest":
        if (self.campaign_id is None) == (self.customer_ids is None):
            raise ValueError("give either campaign_id or customer_ids")
        if self.customer_ids is not None and not self.customer_ids:
            raise ValueError("customer_ids is empty")
        return self


class ScheduledSend(BaseModel):
    customer_id: int
    send_at: datetime
    local: str
    expected_open_rate: float
    source: str


class Skipped(BaseModel):
    customer_id: int
    reason: str


class ScheduleOut(BaseModel):
    model_version: str
    sends: list[ScheduledSend]
    skipped: list[Skipped]
    expected_opens: float = Field(description="sum of the expected open rates")
    by_utc_hour: dict[str, int] = Field(description="how many sends go out at each UTC hour")


class ActionOut(BaseModel):
    offer_id: int
    offer: str
    channel: str
    expected_value: float = Field(description="uplift × value − P(response with it) × cost")
    uplift: float = Field(description="P(response | offer) − P(response | no offer)")
    p_response: float


class RemovedOut(BaseModel):
    offer_id: int
    offer: str
    policy: str = Field(
        description="inactive, eligibility, budget, consent, frequency_cap, "
        "cooldown, no_score or min_expected_value"
    )
    reason: str


class NextBestActionOut(BaseModel):
    customer_id: int
    model_version: str
    decision_id: str = Field(description="finds this decision in the prediction log")
    mode: Literal["greedy", "epsilon", "thompson"]
    chosen: ActionOut | None = Field(description="null = no action")
    propensity: float = Field(description="the probability this policy had of choosing it")
    no_action_reason: str | None
    actions: list[ActionOut] = Field(description="every allowed action, best first")
    removed: list[RemovedOut] = Field(description="every other offer, with what removed it")
    p_response_without_offer: float
