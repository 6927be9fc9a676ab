"""Bodies of campaign forecasts and of attribution / ROI reports."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from serving.api.schemas.common import AwareDatetime

AttributionModel = Literal["first_touch", "last_touch", "linear", "time_decay"]


class AudienceIn(BaseModel):
    size: int = Field(gt=0, le=100_000_000, description="customers the campaign will reach")
    mix: dict[str, float] = Field(
        min_length=1,
        description="share per customer segment, e.g. {'consumer': 0.6, 'smb': 0.4}; "
        "normalised to sum to 1",
    )

    def as_tuple(self) -> tuple[int, dict[str, float]]:
        return self.size, self.mix


class ForecastRequest(BaseModel):
    audience: AudienceIn | None = Field(
        default=None, description="the planned audience; default: the campaign's exposures"
    )
    level: float = Field(default=0.8, ge=0.5, le=0.99, description="interval level")
    as_of: AwareDatetime | None = Field(
        default=None,
        description="'now' for the history and the measured effect (default: the current time)",
    )


class AudienceOut(BaseModel):
    size: float
    mix: dict[str, float]
    source: Literal["body", "exposures"]


class ForecastDay(BaseModel):
    day: int = Field(description="days since starts_at (24 h steps)")
    date: date
    conversions: float
    conversions_low: float
    conversions_high: float
    revenue: float
    revenue_low: float
    revenue_high: float
    conversions_median: float
    revenue_median: float = Field(
        description="below the mean (the expected value, which adds up) when a few large "
        "orders carry the revenue"
    )
    actual_conversions: float | None = Field(
        default=None, description="recorded so far (running or ended campaigns)"
    )
    actual_revenue: float | None = None


class ForecastTotals(BaseModel):
    conversions: float
    conversions_low: float
    conversions_high: float
    revenue: float
    revenue_low: float
    revenue_high: float
    conversions_median: float
    revenue_median: float


class ModelInfo(BaseModel):
    method: str
    trained_on_campaigns: int
    fitted_at: datetime
    fit_seconds: float
    level: float
    campaign_sigma: float = Field(description="sd of a campaign's log error, its kind's")
    day_dispersion: float


class EffectOut(BaseModel):
    method: Literal["holdout", "pre_period"]
    level: float
    incremental_conversions: float
    incremental_conversions_low: float
    incremental_conversions_high: float
    incremental_revenue: float
    incremental_revenue_low: float
    incremental_revenue_high: float
    treated: float = Field(description="treated customers, or orders observed (pre_period)")
    baseline: float = Field(description="holdout customers, or counterfactual orders")
    treated_rate: float
    baseline_rate: float
    note: str | None = None


class BudgetOut(BaseModel):
    budget: float | None
    spend: float
    elapsed_share: float
    projected_spend: float | None
    projected_overrun: float | None = Field(description="projected / budget − 1")
    alert: bool = Field(description="projected spend over the budget by more than 5%")
    message: str


class ForecastOut(BaseModel):
    campaign_id: int
    status: str
    starts_at: datetime
    ends_at: datetime
    audience: AudienceOut
    model: ModelInfo
    daily: list[ForecastDay]
    totals: ForecastTotals
    effect: EffectOut | None = Field(
        default=None, description="measured so far (running or ended campaigns)"
    )
    effect_note: str | None = None
    budget: BudgetOut | None = None


class AttributionRow(BaseModel):
    conversions: float = Field(description="attributed orders (fractional under shared credit)")
    revenue: float
    spend_cost: float
    offer_cost: float
    cost: float
    roi: float | None = Field(description="(revenue − cost) / cost; null without a cost")


class ChannelAttribution(AttributionRow):
    channel: str


class CampaignAttribution(AttributionRow):
    campaign_id: int
    name: str | None
    channel: str


class Unattributed(BaseModel):
    orders: int
    revenue: float


class AttributionOut(BaseModel):
    model: AttributionModel
    from_: datetime = Field(alias="from")
    to: datetime
    lookback_days: float
    half_life_days: float | None
    orders: int
    revenue: float
    unattributed: Unattributed
    channels: list[ChannelAttribution]
    campaigns: list[CampaignAttribution]

    model_config = {"populate_by_name": True}
