"""Experiment result bodies. Numbers a test cannot give (a p-value with no variance, the relative
lift over a zero control rate, an unbounded interval) are null rather than NaN or infinity,
which JSON cannot carry."""

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from serving.api.schemas.common import ORMModel


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


Num = Annotated[float | None, BeforeValidator(_finite)]
SegmentBy = Literal["region", "segment", "industry", "none"]


class IntervalOut(ORMModel):
    low: Num
    high: Num


class FrequentistOut(ORMModel):
    test: str = Field(description="two-proportion z (pooled SE) for rates, Welch t for means")
    statistic: Num
    df: Num = Field(description="Welch–Satterthwaite degrees of freedom (null for the z-test)")
    p_value: Num = Field(description="two-sided; valid for one look at the data only")
    significant: bool
    abs_lift: Num = Field(description="arm - control")
    abs_se: Num
    abs_ci: IntervalOut
    rel_lift: Num = Field(description="arm / control - 1")
    rel_se: Num = Field(description="delta method")
    rel_ci: IntervalOut


class BayesianOut(ORMModel):
    method: str
    chance_to_beat: Num = Field(description="P(arm > control)")
    expected_loss: Num = Field(
        description="E[max(control - arm, 0)]: what shipping the arm costs if it is worse"
    )
    expected_loss_control: Num = Field(description="E[max(arm - control, 0)]: keeping control")
    abs_interval: IntervalOut
    rel_interval: IntervalOut


class CupedOut(ORMModel):
    theta: Num = Field(description="cov(pre-period revenue, outcome) / var(pre-period revenue)")
    correlation: Num
    variance_reduction: Num = Field(description="1 - Var(adjusted lift) / Var(raw lift)")
    mean_arm: Num
    mean_control: Num
    frequentist: FrequentistOut = Field(description="Welch t on the adjusted outcome")


class SequentialOut(ORMModel):
    method: str
    mixing_effect: float = Field(description="φ: the mixture's SD τ = φ · pooled SD")
    tau: Num
    p_value: Num = Field(description="always valid: safe to check after every day")
    significant: bool
    confidence_sequence: IntervalOut
    looks: int = Field(description="days of assignment the running minimum went over")


class ComparisonOut(ORMModel):
    metric: str
    kind: Literal["proportion", "mean"]
    arm: str
    control: str
    n_arm: int
    n_control: int
    mean_arm: Num
    mean_control: Num
    frequentist: FrequentistOut
    bayesian: BayesianOut
    sequential: SequentialOut
    cuped: CupedOut | None


class GroupOut(BaseModel):
    arm: str
    arm_id: int | None = Field(description="null for the holdout")
    is_control: bool
    n: int
    share: Num
    designed_share: Num
    conversion_rate: Num
    revenue_per_user: Num


class SrmOut(ORMModel):
    observed: dict[str, int]
    expected: dict[str, float]
    statistic: Num = Field(
        description="chi-square; null when a group the design leaves empty "
        "holds units (a mismatch outright)"
    )
    df: int
    p_value: Num
    mismatch: bool = Field(description="p < 0.001: assignment or logging is broken")
    weights_assumed: bool


class SegmentOut(BaseModel):
    segment: str
    n: int
    groups: list[GroupOut]
    comparisons: list[ComparisonOut]
    srm: SrmOut
    warnings: list[str]


class ExperimentResultsOut(BaseModel):
    campaign_id: int
    campaign_name: str
    starts_at: datetime | None
    ends_at: datetime | None
    alpha: float
    control: str
    control_is_holdout: bool
    metrics: dict[str, str] = Field(description="metric → proportion | mean")
    covariate: str = Field(description="what CUPED adjusts with")
    pre_period_start: datetime
    pre_period_end: datetime
    n: int
    srm_mismatch: bool
    warnings: list[str] = Field(description="read these first; an SRM warning voids the rest")
    groups: list[GroupOut]
    srm: SrmOut
    comparisons: list[ComparisonOut]
    segment_by: SegmentBy
    segments: list[SegmentOut] | None
