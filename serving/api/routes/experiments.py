"""/v1/experiments: A/B results of a campaign (marketers, data scientists, admins)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from models.experiments import GroupSummary
from serving.analytics import experiments as analytics
from serving.api.deps import SessionDep, require_roles
from serving.api.schemas.experiments import (
    ComparisonOut,
    ExperimentResultsOut,
    GroupOut,
    SegmentBy,
    SegmentOut,
    SrmOut,
)
from serving.core.models import Role, User

router = APIRouter(prefix="/experiments", tags=["experiments"])

Analyst = Annotated[User, Depends(require_roles(Role.marketer, Role.data_scientist, Role.admin))]


def _groups(summaries: list[GroupSummary], data: analytics.ExperimentData) -> list[GroupOut]:
    return [
        GroupOut(
            arm=g.arm,
            arm_id=data.arm_ids.get(g.arm),
            is_control=g.arm == data.control,
            n=g.n,
            share=g.share,
            designed_share=g.designed_share,
            conversion_rate=g.means[analytics.CONVERSION],
            revenue_per_user=g.means[analytics.REVENUE],
        )
        for g in summaries
    ]


@router.get("/{campaign_id}/results", response_model=ExperimentResultsOut)
def experiment_results(
    campaign_id: int,
    session: SessionDep,
    user: Analyst,
    segment: Annotated[
        SegmentBy, Query(description="also break the results down by this customer attribute")
    ] = "none",
    alpha: Annotated[
        float, Query(gt=0, le=0.5, description="1 - confidence of every test and interval")
    ] = 0.05,
) -> ExperimentResultsOut:
    """Every arm (and the holdout) against control on conversion rate and revenue per user:
    z / Welch tests with intervals on the absolute and relative lift, Bayesian chance to beat
    and expected loss, CUPED on the pre-period order revenue, an always-valid sequential test,
    and a sample-ratio-mismatch check. Read `warnings` first."""
    data = analytics.read_experiment(
        session, campaign_id, segment_by=None if segment == "none" else segment
    )
    # End the read transaction before the CPU-bound part, so the connection is not held.
    session.commit()
    result = analytics.analyze_experiment(data, alpha=alpha).result
    segments = None
    if result.segments is not None:
        segments = [
            SegmentOut(
                segment=s.segment,
                n=s.n,
                groups=_groups(s.groups, data),
                comparisons=[ComparisonOut.model_validate(c) for c in s.comparisons],
                srm=SrmOut.model_validate(s.srm),
                warnings=s.warnings,
            )
            for s in result.segments
        ]
    start, end = data.pre_period
    return ExperimentResultsOut(
        campaign_id=data.campaign_id,
        campaign_name=data.campaign_name,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        alpha=alpha,
        control=data.control,
        control_is_holdout=data.control_is_holdout,
        metrics=dict(result.metrics),
        covariate=f"order revenue in the {analytics.PRE_PERIOD_DAYS} days before the campaign",
        pre_period_start=start,
        pre_period_end=end,
        n=result.n,
        srm_mismatch=result.srm_mismatch,
        warnings=[*result.warnings, *data.notes],
        groups=_groups(result.groups, data),
        srm=SrmOut.model_validate(result.srm),
        comparisons=[ComparisonOut.model_validate(c) for c in result.comparisons],
        segment_by=segment,
        segments=segments,
    )
