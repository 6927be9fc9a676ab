"""Plain-words reasons from TreeSHAP contributions: what a sales rep reads beside a score."""

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# Wording for the feature store's columns; `{v}` is the value. Unknown columns (a data set of
# your own) fall back to "name is value".
WORDING: dict[str, str] = {
    "pricing_views_7d_before": "viewed the pricing page {v:g} times in the 7 days before asking",
    "pricing_views_30d_before": "viewed the pricing page {v:g} times in the 30 days before asking",
    "product_views_30d_before": "viewed product pages {v:g} times in the 30 days before asking",
    "docs_views_30d_before": "read the documentation {v:g} times in the 30 days before asking",
    "sessions_30d_before": "visited {v:g} times in the 30 days before asking",
    "email_opens_30d_before": "opened {v:g} e-mails in the 30 days before asking",
    "email_clicks_30d_before": "clicked {v:g} e-mail links in the 30 days before asking",
    "pricing_views_7d": "viewed the pricing page {v:g} times in 7 days",
    "pricing_views_30d": "viewed the pricing page {v:g} times in 30 days",
    "pricing_views_90d": "viewed the pricing page {v:g} times in 90 days",
    "product_views_7d": "viewed product pages {v:g} times in 7 days",
    "product_views_30d": "viewed product pages {v:g} times in 30 days",
    "sessions_7d": "visited {v:g} times in 7 days",
    "sessions_30d": "visited {v:g} times in 30 days",
    "sessions_90d": "visited {v:g} times in 90 days",
    "page_views_30d": "viewed {v:g} pages in 30 days",
    "email_opens_30d": "opened {v:g} e-mails in 30 days",
    "email_opens_90d": "opened {v:g} e-mails in 90 days",
    "email_clicks_30d": "clicked {v:g} e-mail links in 30 days",
    "email_clicks_90d": "clicked {v:g} e-mail links in 90 days",
    "days_since_last_open": "last opened an e-mail {v:.0f} days ago",
    "days_since_last_activity": "last active {v:.0f} days ago",
    "days_since_last_order": "last ordered {v:.0f} days ago",
    "days_since_first_order": "first ordered {v:.0f} days ago",
    "tenure_days": "a customer for {v:.0f} days",
    "orders_30d": "{v:g} orders in 30 days",
    "orders_90d": "{v:g} orders in 90 days",
    "orders_365d": "{v:g} orders in a year",
    "orders_total": "{v:g} orders in total",
    "revenue_30d": "spent {v:,.0f} in 30 days",
    "revenue_90d": "spent {v:,.0f} in 90 days",
    "revenue_365d": "spent {v:,.0f} in a year",
    "revenue_total": "spent {v:,.0f} in total",
    "gap_mean_days": "orders every {v:.0f} days on average",
    "gap_std_days": "gaps between orders vary by {v:.0f} days",
    "last_gap_days": "{v:.0f} days between the last two orders",
    "overdue_ratio": "quiet for {v:.1f}× the usual gap between orders",
    "avg_order_value": "average order of {v:,.0f}",
    "coupon_use_rate": "used a coupon on {v:.0%} of orders",
    "company_size": "a company of {v:,.0f} people",
    "touches": "{v:g} touches since the lead arrived",
    "lead_age_days": "the lead is {v:.0f} days old",
    "source": "came in through {v}",
    "industry": "works in {v}",
    "segment": "is in the {v} segment",
    "region": "is in {v}",
}
NEVER = {
    "days_since_last_open": "has never opened an e-mail",
    "days_since_last_order": "has never ordered",
    "days_since_last_activity": "no recorded activity",
    # gaps between orders need two of them
    **dict.fromkeys(
        ("gap_mean_days", "gap_std_days", "last_gap_days", "overdue_ratio"), "has ordered once"
    ),
}


def is_missing(value: Any) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def format_value(value: Any) -> str:
    """A number as a person reads it: whole numbers without decimals, large ones with thousands
    separators, the rest to 3 significant digits (-1.19, 0.0123)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return str(value)
    v = float(value)
    if math.isinf(v):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v.is_integer():
        return f"{v:.0f}"
    return f"{v:.3g}"


def describe_value(feature: str, value: Any, wording: Mapping[str, str] | None = None) -> str:
    wording = wording or WORDING
    if is_missing(value):
        return NEVER.get(feature, f"no {feature.replace('_', ' ')} known")
    template = wording.get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')} is {format_value(value)}"
    try:
        return template.format(v=value)
    except (ValueError, TypeError):
        return re.sub(r"\{v[^}]*\}", format_value(value), template)


def explain_row(
    row: pd.Series,
    contributions: pd.Series,
    *,
    top: int = 3,
    describe: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The `top` strongest contributions each way, strongest first."""
    values = {str(k): v for k, v in row.items()}  # contributions are keyed by str(column)
    ordered = contributions.sort_values(kind="stable")
    ups = [f for f in ordered.index[::-1] if ordered[f] > 0][:top]
    downs = [f for f in ordered.index if ordered[f] < 0][:top]
    out = []
    for feature in ups + downs:
        impact = float(contributions[feature])
        value = values.get(feature)
        out.append(
            {
                "feature": feature,
                "value": None
                if is_missing(value)
                else (value.item() if hasattr(value, "item") else value),
                "impact": round(impact, 4),
                "direction": "up" if impact > 0 else "down",
                "text": describe_value(feature, value, describe),
            }
        )
    return out
