"""/v1/campaigns/{id}/forecast: what a campaign should bring, and once running what it brings.

Marketers and admins only. The model is fitted from the campaigns that ended before now, on
request, and cached (serving/analytics/campaigns.py says why and for how long).
"""

from typing import Annotated

from fastapi import APIRouter, Body

from serving.analytics.campaigns import CampaignForecast, forecast_campaign
from serving.api.deps import Marketer, SessionDep
from serving.api.schemas.forecasts import (
    AudienceOut,
    BudgetOut,
    EffectOut,
    ForecastDay,
    ForecastOut,
    ForecastRequest,
    ForecastTotals,
    ModelInfo,
)
from serving.core.services.campaigns import get_campaign

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.post("/{campaign_id}/forecast", response_model=ForecastOut)
def forecast(
    campaign_id: int,
    session: SessionDep,
    user: Marketer,
    body: Annotated[ForecastRequest | None, Body()] = None,
) -> ForecastOut:
    """Daily conversions and revenue over the campaign's window with intervals; for a running
    or ended campaign also what was recorded so far, the measured effect and the budget pace.

    422 when the campaign has no window, no audience (none in the body and no exposures), or
    there are too few past campaigns to learn from.
    """
    body = body or ForecastRequest()
    campaign = get_campaign(session=session, campaign_id=campaign_id)
    result = forecast_campaign(
        session,
        campaign,
        audience=body.audience.as_tuple() if body.audience else None,
        now=body.as_of,
        level=body.level,
    )
    return _out(result)


def _out(r: CampaignForecast) -> ForecastOut:
    c, model = r.campaign, r.history.model
    effect = None
    if r.effect is not None:
        e = r.effect
        effect = EffectOut(
            method=e.method,  # type: ignore[arg-type]
            level=e.level,
            incremental_conversions=e.conversions,
            incremental_conversions_low=e.conversions_low,
            incremental_conversions_high=e.conversions_high,
            incremental_revenue=e.revenue,
            incremental_revenue_low=e.revenue_low,
            incremental_revenue_high=e.revenue_high,
            treated=e.treated,
            baseline=e.baseline,
            treated_rate=e.treated_rate,
            baseline_rate=e.baseline_rate,
            note=r.effect_note,
        )
    days = [
        ForecastDay(
            **{k: (None if v != v else v) for k, v in row.items() if k in ForecastDay.model_fields}
        )
        for row in r.daily.assign(date=r.daily["date"].dt.date).to_dict("records")
    ]
    return ForecastOut(
        campaign_id=c.id,
        status=str(c.status),
        starts_at=c.starts_at,  # type: ignore[arg-type]
        ends_at=c.ends_at,  # type: ignore[arg-type]
        audience=AudienceOut(size=r.audience, mix=r.mix, source=r.audience_source),  # type: ignore[arg-type]
        model=ModelInfo(
            method=model.method,
            trained_on_campaigns=r.history.campaigns,
            fitted_at=r.history.fitted_at,
            fit_seconds=round(r.history.fit_seconds, 3),
            level=model.level,
            campaign_sigma=r.campaign_sigma,
            day_dispersion=model.noise_.day_dispersion,
        ),
        daily=days,
        totals=ForecastTotals(**r.totals),
        effect=effect,
        effect_note=None if effect else r.effect_note,
        budget=None if r.budget is None else BudgetOut(**vars(r.budget)),
    )
