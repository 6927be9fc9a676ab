"""Simulated arrays -> column values for the core DB tables (ids, strings, datetimes, NULLs)."""

from datetime import timedelta
from typing import Any

import numpy as np

from serving.simulator.calendar import Calendar
from serving.simulator.commerce import ORDER_CHANNELS, Commerce
from serving.simulator.customers import Customers
from serving.simulator.leads import Leads
from serving.simulator.mailing import Exposures
from serving.simulator.timebase import Window
from serving.simulator.world import INDUSTRIES, OFFERS, REGIONS, SEGMENTS, USERS, ZONES
from serving.simulator.writer import datetimes, nullable

Columns = dict[str, Any]


def _ts(window: Window, t: np.ndarray) -> list[Any]:
    t = np.asarray(t, dtype=np.float64)
    missing = np.isnan(t)
    return datetimes(window.to_us(np.where(missing, 0.0, t)), missing)


def calendar_rows(calendar: Calendar, window: Window) -> list[tuple[str, list[Columns]]]:
    """The handful of users, offers, campaigns, arms and coupon definitions, as row dicts."""
    before = window.start - timedelta(days=60)  # staff and offers predate the window
    users = [
        dict(
            id=uid,
            email=u.email,
            name=u.name,
            role=u.role,
            region=u.region,
            industry=u.industry,
            is_active=True,
            created_at=before,
        )
        for uid, u in zip(calendar.user_ids, USERS, strict=True)
    ]
    offers = [
        dict(
            id=oid,
            name=o.name,
            description=o.description,
            channel="email",
            value=o.value,
            cost=o.cost,
            is_active=True,
            created_at=before,
        )
        for oid, o in zip(calendar.offer_ids, OFFERS, strict=True)
    ]
    marketer = next(
        uid for uid, u in zip(calendar.user_ids, USERS, strict=True) if u.role == "marketer"
    )
    campaigns, arms, coupons = [], [], []
    for c in calendar.campaigns:
        offer = next((a.offer for a in c.arms if a.offer is not None), None)
        campaigns.append(
            dict(
                id=c.id,
                name=c.name,
                channel="email",
                status=c.status,
                starts_at=window.at(c.starts),
                ends_at=window.at(c.ends),
                budget=c.budget,
                spend=0.0,
                holdout_fraction=c.holdout,
                offer_id=None if offer is None else calendar.offer_ids[offer],
                created_by=marketer,
                created_at=window.at(c.created_at),
            )
        )
        arms += [
            dict(
                id=a.id,
                campaign_id=c.id,
                name=a.name,
                weight=a.weight,
                is_control=a.is_control,
                offer_id=None if a.offer is None else calendar.offer_ids[a.offer],
            )
            for a in c.arms
        ]
        for d in c.coupons:
            o = OFFERS[d.offer]
            coupons.append(
                dict(
                    id=d.id,
                    name=d.name,
                    offer_id=calendar.offer_ids[d.offer],
                    discount_type=o.discount_type,
                    discount_value=o.discount_value,
                    min_order_value=o.min_order_value,
                    valid_from=window.at(d.valid_from),
                    valid_until=window.at(d.valid_until),
                    total_limit=d.total_limit,
                    per_customer_limit=1,
                    stackable=False,
                    redeemed_count=0,
                    created_at=window.at(c.created_at),
                )
            )
    return [
        ("users", users),
        ("offers", offers),
        ("campaigns", campaigns),
        ("campaign_arms", arms),
        ("coupon_definitions", coupons),
    ]


def customer_columns(c: Customers, window: Window) -> Columns:
    return {
        "id": c.ids.tolist(),
        "external_id": [f"C{i:07d}" for i in c.ids.tolist()],
        "email": c.email,
        "name": c.name,
        "company": c.company,
        "company_size": nullable(
            np.nan_to_num(c.company_size).astype(np.int64), np.isnan(c.company_size)
        ),
        "region": np.array(REGIONS, dtype=object)[c.region].tolist(),
        "industry": nullable(
            np.array(INDUSTRIES, dtype=object)[np.maximum(c.industry, 0)], c.industry < 0
        ),
        "segment": np.array(SEGMENTS, dtype=object)[c.segment].tolist(),
        "timezone": np.array(ZONES, dtype=object)[c.tz].tolist(),
        "birthday": c.birthday.tolist(),
        "consent_email": c.consent[:, 0].tolist(),
        "consent_sms": c.consent[:, 1].tolist(),
        "consent_push": c.consent[:, 2].tolist(),
        "tags": c.tags,
        "created_at": _ts(window, c.created),
    }


def exposure_columns(c: Customers, exp: Exposures, first_id: int, window: Window) -> Columns:
    n = len(exp)
    holdout = exp.arm_id == 0
    return {
        "id": list(range(first_id, first_id + n)),
        "campaign_id": exp.campaign_id.tolist(),
        "customer_id": c.ids[exp.cust].tolist(),
        "arm_id": nullable(exp.arm_id, holdout),
        "is_holdout": holdout.tolist(),
        "assigned_at": _ts(window, exp.assigned),
        "sent_at": _ts(window, exp.sent),
        "opened_at": _ts(window, exp.opened),
        "clicked_at": _ts(window, exp.clicked),
        "converted_at": _ts(window, exp.converted),
        "revenue": nullable(exp.revenue, np.isnan(exp.revenue)),
    }


def order_columns(c: Customers, com: Commerce, first_id: int, window: Window) -> Columns:
    o = com.orders
    ids = list(range(first_id, first_id + len(o["t"])))
    campaign = o["campaign_id"]
    return {
        "id": ids,
        "external_id": [f"O{i:010d}" for i in ids],
        "customer_id": c.ids[o["cust"]].tolist(),
        "ordered_at": _ts(window, o["t"]),
        "amount": o["amount"].tolist(),
        "items": o["items"].tolist(),
        "channel": np.array(ORDER_CHANNELS, dtype=object)[o["channel"]].tolist(),
        "coupon_code": o["coupon_code"].tolist(),
        "campaign_id": nullable(campaign, campaign == 0),
    }


def coupon_code_columns(c: Customers, com: Commerce, window: Window) -> Columns:
    k = com.codes
    return {
        "id": k["id"].tolist(),
        "definition_id": k["definition_id"].tolist(),
        "code": k["code"].tolist(),
        "customer_id": c.ids[k["cust"]].tolist(),
        "created_at": _ts(window, k["t"]),
    }


def redemption_columns(
    c: Customers, com: Commerce, first_id: int, first_order_id: int, window: Window
) -> tuple[Columns, Columns]:
    """Redemptions, and the per-customer usage counters that go with them (limit 1 each)."""
    r = com.redemptions
    ids = list(range(first_id, first_id + len(r["t"])))
    customers = c.ids[r["cust"]].tolist()
    redemptions = {
        "id": ids,
        "code_id": r["code_id"].tolist(),
        "definition_id": r["definition_id"].tolist(),
        "customer_id": customers,
        "order_ref": [f"O{first_order_id + int(i):010d}" for i in r["order"]],
        "order_value": r["order_value"].tolist(),
        "discount_amount": r["discount"].tolist(),
        "idempotency_key": [f"sim-{i}" for i in ids],
        "redeemed_at": _ts(window, r["t"]),
    }
    usage = {
        "definition_id": r["definition_id"].tolist(),
        "customer_id": customers,
        "count": [1] * len(ids),
    }
    return redemptions, usage


def lead_columns(c: Customers, leads: Leads, first_id: int, window: Window) -> Columns:
    lc = leads.cols
    n = len(leads)
    # score, grade, reasons, model version: left out, so SQL NULL until a model scores them.
    return {
        "id": list(range(first_id, first_id + n)),
        "customer_id": c.ids[lc["cust"]].tolist(),
        "owner_id": lc["owner_id"].tolist(),
        "source": lc["source"].tolist(),
        "status": lc["status"].tolist(),
        "created_at": _ts(window, lc["created"]),
        "contacted_at": _ts(window, lc["contacted"]),
        "qualified_at": _ts(window, lc["qualified"]),
        "closed_at": _ts(window, lc["closed"]),
    }
