"""A/B results of a campaign, the I/O edge: the core DB → one row per exposed customer →
models/experiments.analyze.

The unit is the exposure (one customer in one campaign). Its group is its arm, or the holdout
(no arm, `is_holdout`). Outcomes are the exposure's own record, as the campaign reports them:
it converted when `converted_at` is set and falls inside the campaign's window
(`starts_at ≤ converted_at < ends_at`, each bound only when set; the same rule as the forecast
in serving/analytics/campaigns.py); revenue per user is its `revenue` when it converted, else 0.

The CUPED covariate is the customer's order revenue (orders.amount) in the `PRE_PERIOD_DAYS`
days before the campaign's start, or before its first assignment when it has no start: one
reference time for everyone, so the window is pre-treatment for every unit however late they
were assigned.

Control is the arm marked `is_control` (the first by id if several are), else the holdout.
When control is an arm, the holdout is reported as one more group against it (what sending
anything at all does). The SRM check's design is `holdout_fraction` for the holdout and the
rest split by arm weights, as `assign_exposures` draws them.

Looks for the sequential test are days since the first assignment: the always-valid p-value is
the minimum over what the data said after each day.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, selectinload

from models.experiments import ExperimentResult, analyze, designed_shares
from serving.core.errors import Invalid, NotFound
from serving.core.models import Campaign, Customer, Exposure, Order

PRE_PERIOD_DAYS = 30
HOLDOUT = "holdout"
CONVERSION, REVENUE = "conversion_rate", "revenue_per_user"
SEGMENT_COLUMNS = {
    "region": Customer.region,
    "segment": Customer.segment,
    "industry": Customer.industry,
}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ExperimentData:
    """Everything the analysis needs, read in one go so the session can end before the maths."""

    campaign_id: int
    campaign_name: str
    starts_at: datetime | None
    ends_at: datetime | None
    holdout_fraction: float
    control: str
    control_is_holdout: bool
    arm_ids: dict[str, int | None]  # group name → arm id (None: the holdout)
    shares: dict[str, float]  # designed share of each group
    pre_period: tuple[datetime, datetime]
    segment_by: str | None
    units: pd.DataFrame  # group, converted, revenue, pre_revenue, look[, segment]
    notes: list[str]


@dataclass(frozen=True)
class CampaignExperiment:
    data: ExperimentData
    result: ExperimentResult


def _holdout_label(arm_names: list[str]) -> str:
    label = HOLDOUT
    while label in arm_names:
        label = f"({label})"
    return label


def read_experiment(
    session: Session, campaign_id: int, *, segment_by: str | None = None
) -> ExperimentData:
    """The campaign's per-customer table; NotFound for an unknown campaign, Invalid when there
    is nothing to compare (no exposures, no control, a control nobody was assigned to)."""
    if segment_by is not None and segment_by not in SEGMENT_COLUMNS:
        raise Invalid(f"segment must be one of {', '.join(SEGMENT_COLUMNS)} (or none)")
    campaign = session.get(Campaign, campaign_id, options=[selectinload(Campaign.arms)])
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    arms = sorted(campaign.arms, key=lambda a: a.id)
    names = {a.id: a.name for a in arms}
    holdout = _holdout_label(list(names.values()))
    notes: list[str] = []

    conv_ok = [Exposure.converted_at.is_not(None)]
    if campaign.starts_at is not None:
        conv_ok.append(Exposure.converted_at >= campaign.starts_at)
    if campaign.ends_at is not None:
        conv_ok.append(Exposure.converted_at < campaign.ends_at)
    converted = case((and_(*conv_ok), 1), else_=0)
    revenue = case((and_(*conv_ok), func.coalesce(Exposure.revenue, 0)), else_=0)
    columns = [
        Exposure.customer_id,
        Exposure.arm_id,
        Exposure.is_holdout,
        Exposure.assigned_at,
        converted.label("converted"),
        revenue.label("revenue"),
    ]
    stmt = select(*columns).where(Exposure.campaign_id == campaign_id)
    if segment_by is not None:
        seg_col = SEGMENT_COLUMNS[segment_by]
        stmt = stmt.add_columns(seg_col.label("segment")).join(
            Customer, Customer.id == Exposure.customer_id
        )
    rows = session.execute(stmt).all()
    if not rows:
        raise Invalid(f"campaign {campaign_id} has no exposures yet: there is nothing to analyse")
    units = pd.DataFrame(rows, columns=[c.key for c in stmt.selected_columns])

    is_holdout = units["is_holdout"].astype(bool) | units["arm_id"].isna()
    foreign = ~is_holdout & ~units["arm_id"].isin(list(names))
    if foreign.any():
        notes.append(f"{int(foreign.sum())} exposures point at arms of another campaign: left out")
        units, is_holdout = units[~foreign], is_holdout[~foreign]
    arm_id = units["arm_id"].where(~is_holdout)
    units["group"] = np.where(is_holdout, holdout, arm_id.map(names).fillna(holdout))

    controls = [a for a in arms if a.is_control]
    if len(controls) > 1:
        notes.append(
            f"{len(controls)} arms are marked control; {controls[0].name!r} (lowest id) is used"
        )
    if controls:
        control, control_is_holdout = controls[0].name, False
    elif is_holdout.any():
        control, control_is_holdout = holdout, True
    else:
        raise Invalid(
            f"campaign {campaign_id} has no control: mark one arm is_control, or give the "
            "campaign a holdout (holdout_fraction > 0)"
        )
    if not (units["group"] == control).any():
        raise Invalid(f"no exposure of campaign {campaign_id} is in its control {control!r}")

    reference = campaign.starts_at or pd.Timestamp(units["assigned_at"].min()).to_pydatetime()
    pre_start = reference - timedelta(days=PRE_PERIOD_DAYS)
    pre = dict(
        session.execute(
            select(Exposure.customer_id, func.sum(Order.amount))
            .join(Order, Order.customer_id == Exposure.customer_id)
            .where(
                Exposure.campaign_id == campaign_id,
                Order.ordered_at >= pre_start,
                Order.ordered_at < reference,
            )
            .group_by(Exposure.customer_id)
        ).all()
    )
    units["pre_revenue"] = units["customer_id"].map(pre).fillna(0.0).astype(float)
    assigned = pd.to_datetime(units["assigned_at"], utc=True)
    units["look"] = ((assigned - assigned.min()) // pd.Timedelta(days=1)).astype(int)
    units["converted"] = units["converted"].astype(float)
    units["revenue"] = units["revenue"].astype(float)
    if segment_by is not None:
        units["segment"] = units["segment"].fillna(UNKNOWN).astype(str)

    arm_weights = {a.name: float(a.weight) for a in arms}
    has_holdout = campaign.holdout_fraction > 0 or bool(is_holdout.any())
    shares = designed_shares(
        arm_weights, float(campaign.holdout_fraction), holdout if has_holdout else None
    )
    keep = ["group", "converted", "revenue", "pre_revenue", "look"]
    return ExperimentData(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        holdout_fraction=float(campaign.holdout_fraction),
        control=control,
        control_is_holdout=control_is_holdout,
        arm_ids={**{a.name: a.id for a in arms}, **({holdout: None} if has_holdout else {})},
        shares=shares,
        pre_period=(pre_start, reference),
        segment_by=segment_by,
        units=units[keep + (["segment"] if segment_by else [])].reset_index(drop=True),
        notes=notes,
    )


def analyze_experiment(data: ExperimentData, *, alpha: float = 0.05) -> CampaignExperiment:
    """Both metrics, every group against control, with CUPED on the pre-period revenue."""
    u = data.units
    try:
        result = analyze(
            pd.Categorical(u["group"], categories=list(data.shares)),
            {CONVERSION: u["converted"].to_numpy(), REVENUE: u["revenue"].to_numpy()},
            control=data.control,
            binary=[CONVERSION],
            covariate=u["pre_revenue"].to_numpy(),
            segment=u["segment"].to_numpy() if data.segment_by else None,
            look=u["look"].to_numpy(),
            weights=data.shares,
            alpha=alpha,
        )
    except ValueError as e:
        raise Invalid(f"campaign {data.campaign_id}: {e}") from None
    return CampaignExperiment(data=data, result=result)


def experiment_results(
    session: Session, campaign_id: int, *, segment_by: str | None = None, alpha: float = 0.05
) -> CampaignExperiment:
    """Read and analyse in one call (CLI, notebooks); the API ends its session in between."""
    return analyze_experiment(
        read_experiment(session, campaign_id, segment_by=segment_by), alpha=alpha
    )
