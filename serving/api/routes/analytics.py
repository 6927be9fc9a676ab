"""/v1/analytics/attribution: orders credited to campaigns and channels, with cost and ROI.

Marketers and admins only. Attribution shares out what was bought among what touched the buyer;
it is not the campaigns' effect (for that: a holdout, see POST /v1/campaigns/{id}/forecast).
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from serving.analytics.attribution import attribution_report
from serving.api.deps import Marketer, SessionDep
from serving.api.schemas.common import AwareDatetime
from serving.api.schemas.forecasts import (
    AttributionModel,
    AttributionOut,
    CampaignAttribution,
    ChannelAttribution,
    Unattributed,
)

router = APIRouter(prefix="/analytics", tags=["analytics"])

DEFAULT_PERIOD_DAYS = 30


@router.get("/attribution", response_model=AttributionOut)
def attribution(
    session: SessionDep,
    user: Marketer,
    model: Annotated[AttributionModel, Query(description="how an order's credit is shared")] = (
        "linear"
    ),
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="orders from (default: to − 30 d)")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="orders before (default: now)")] = None,
    lookback_days: Annotated[
        float, Query(gt=0, le=365, description="touches this long before an order count")
    ] = 30.0,
    half_life_days: Annotated[
        float, Query(gt=0, le=365, description="time_decay: a touch this old counts half")
    ] = 7.0,
) -> AttributionOut:
    """Per channel and per campaign: attributed conversions and revenue, cost, ROI; and the
    orders no campaign touched within the lookback."""
    end = to or datetime.now(UTC)
    start = from_ or end - timedelta(days=DEFAULT_PERIOD_DAYS)
    report = attribution_report(
        session,
        model=model,
        start=start,
        end=end,
        lookback_days=lookback_days,
        half_life_days=half_life_days,
    )
    a = report.result
    return AttributionOut(
        model=model,
        from_=report.start,
        to=report.end,
        lookback_days=lookback_days,
        half_life_days=half_life_days if model == "time_decay" else None,
        orders=a.orders,
        revenue=a.revenue,
        unattributed=Unattributed(orders=a.unattributed_orders, revenue=a.unattributed_revenue),
        channels=[ChannelAttribution(**_clean(r)) for r in a.by_channel.to_dict("records")],
        campaigns=[
            CampaignAttribution(**_clean(r), name=report.campaign_names.get(int(r["campaign_id"])))
            for r in a.by_campaign.to_dict("records")
        ],
    )


def _clean(row: dict[str, object]) -> dict[str, object]:
    """NaN → None (a campaign with no cost has no ROI)."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
