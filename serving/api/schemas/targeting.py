"""Targeting bodies: whom a campaign should treat, by predicted uplift."""

from typing import Literal

from pydantic import BaseModel, Field

MAX_BUDGET = 100_000


class Target(BaseModel):
    customer_id: int
    uplift: float = Field(description="predicted extra P(order within 14 days) if treated")
    rank: int = Field(description="1 = the largest uplift")


class TargetingOut(BaseModel):
    campaign_id: int
    model_version: str
    budget: int
    audience: Literal["exposures", "consent"] = Field(
        description="exposures: the campaign's exposed customers (holdout included); consent: "
        "no exposures yet, so every customer who consented to the campaign's channel"
    )
    offers: dict[int, float] = Field(
        description="offer id → share of treated customers drawing it (the arm weights the "
        "uplift is averaged over)"
    )
    scored: int = Field(description="audience customers with features online, so scored")
    not_scored: int = Field(description="audience customers with no features online yet")
    targets: list[Target] = Field(description="at most `budget`, largest uplift first")
    expected_incremental_conversions: float = Field(
        description="sum of the targets' uplift: orders within 14 days the treatment adds"
    )
    sleeping_dogs_excluded: int = Field(
        description="scored customers whose predicted uplift is negative: treating them "
        "loses orders, so they are never targeted"
    )
