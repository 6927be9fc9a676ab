"""Orders, and what promotions do to them: extra or lost orders, coupons and redemptions.

Baseline orders are a seasonal Poisson process while the customer is alive. A treated customer
then gets P(order in 14 days) = p_control + effect exactly, by coupling with the baseline: if
the effect is positive and they would not have ordered, an order is added with probability
effect / (1 - p_control); if it is negative and they would have, their orders in the window are
removed with probability -effect / p_control.
"""

from dataclasses import dataclass, field

import numpy as np

from serving.simulator.behaviour import EventBuffer, add_sessions
from serving.simulator.calendar import Calendar, Ids
from serving.simulator.codes import coupon_codes
from serving.simulator.customers import Customers
from serving.simulator.effects import treatment_effect
from serving.simulator.intensity import PurchaseIntensity
from serving.simulator.mailing import Exposures
from serving.simulator.timebase import DAY, HOUR, TzTable, Window
from serving.simulator.world import (
    OFFERS,
    ORDER_VALUE,
    P_CHECKOUT,
    PROMO_WINDOW_DAYS,
    activity_how_profile,
)

ORDER_CHANNELS = ("web", "mobile_app", "phone", "sales")
_REDEEM_IF_ANYWAY = 0.6  # share of would-be buyers who remember to use their coupon
_NEWSLETTER_ATTRIBUTION_DAYS = 7
_WINDOW = PROMO_WINDOW_DAYS * DAY


@dataclass
class Ledger:
    """Totals that span chunks: coupon use per definition and campaign spend."""

    redeemed: dict[int, int] = field(default_factory=dict)
    spend: dict[int, float] = field(default_factory=dict)


@dataclass
class Commerce:
    """One chunk's orders, coupon codes, redemptions and treatment-effect truth."""

    orders: dict[str, np.ndarray]  # cust, t, amount, items, channel, campaign_id, coupon_code
    codes: dict[str, np.ndarray]  # id, definition_id, cust, t, code
    redemptions: dict[str, np.ndarray]  # code_id, definition_id, cust, t, order_value, discount,
    #                                     order (row in orders)
    effects: dict[str, np.ndarray]  # one row per (promo exposure, treatment arm)


def _keys(cust: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sortable (customer, time) keys: whole seconds, customers far apart."""
    return cust.astype(np.int64) * (1 << 34) + np.floor(t).astype(np.int64) + (1 << 33)


def _first_in(
    order_keys: np.ndarray, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index range [a, b) of each customer's orders with time in [lo, hi)."""
    a = np.searchsorted(order_keys, _keys(cust, np.ceil(lo)), side="left")
    b = np.searchsorted(order_keys, _keys(cust, np.ceil(hi)), side="left")
    return a, b


def _baseline(
    rng: np.random.Generator, c: Customers, window: Window, pi: PurchaseIntensity, tzt: TzTable
) -> tuple[np.ndarray, np.ndarray]:
    """Orders while alive up to one promotion window past the end (for the last campaign)."""
    b = c.business
    lo = np.clip(c.created, 0.0, None)
    hi = np.maximum(np.minimum(c.death, window.length + _WINDOW), lo)
    y_lo, y_hi = pi.cum(lo, b), pi.cum(hi, b)
    n = rng.poisson(c.purchase_rate * (y_hi - y_lo))
    idx = np.repeat(np.arange(len(c)), n)
    t = pi.inverse(y_lo[idx] + rng.random(len(idx)) * (y_hi - y_lo)[idx], b[idx])
    # Keep the day, move the time of day to when this kind of customer shops (local time).
    off = tzt.offset(t, c.tz[idx])
    hod = np.empty(len(idx))
    for flag in (False, True):
        m = b[idx] == flag
        daily = activity_how_profile(flag).reshape(7, 24).sum(axis=0)
        hod[m] = rng.choice(24, size=int(m.sum()), p=daily / daily.sum())
    local = window.start_epoch_s + t + off
    moved = t + (np.floor(local / DAY) * DAY + (hod + rng.random(len(idx))) * HOUR - local)
    t = np.where((moved >= lo[idx]) & (moved < hi[idx]), moved, t)
    return idx, t


def _gross(rng: np.random.Generator, c: Customers, idx: np.ndarray) -> np.ndarray:
    seg = c.segment[idx]
    med = np.array([m for m, _ in ORDER_VALUE])[seg]
    sig = np.array([s for _, s in ORDER_VALUE])[seg]
    tilt = np.exp(-0.4 * (c.price_sensitivity[idx] - 0.5))  # deal seekers buy smaller baskets
    return np.round(med * tilt * np.exp(sig * rng.standard_normal(len(idx))), 2)


def simulate_commerce(
    rng: np.random.Generator,
    c: Customers,
    exp: Exposures,
    calendar: Calendar,
    window: Window,
    pi: PurchaseIntensity,
    tzt: TzTable,
    ids: Ids,
    ledger: Ledger,
    code_key: np.ndarray,
    buf: EventBuffer,
) -> Commerce:
    cust, t = _baseline(rng, c, window, pi, tzt)
    camps = {p.id: p for p in calendar.promos}
    rows = np.flatnonzero(exp.promo)
    send = exp.assigned[rows]
    ci = exp.cust[rows]
    alive = (c.created[ci] < send) & (c.death[ci] > send)
    p0 = np.where(
        alive,
        1.0
        - pi.p_no_order(
            send, c.purchase_rate[ci], c.churn_hazard[ci], PROMO_WINDOW_DAYS, c.business[ci]
        ),
        0.0,
    )

    # Truth for every treatment arm, and the effect of the arm actually drawn.
    eff: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "campaign_id",
            "cust",
            "arm_id",
            "offer",
            "assigned_arm_id",
            "is_holdout",
            "alive",
            "p_control",
            "p_treated",
        )
    }
    drawn_p1 = p0.copy()
    for cid, camp in camps.items():
        m = exp.campaign_id[rows] == cid
        for arm in camp.arms:
            if arm.offer is None:
                continue
            p1 = np.where(
                alive[m], np.clip(p0[m] + treatment_effect(arm.offer, c, ci[m]), 0, 1), 0.0
            )
            drawn = exp.arm_id[rows][m] == arm.id
            drawn_p1[np.flatnonzero(m)[drawn]] = p1[drawn]
            for k, v in (
                ("campaign_id", np.full(m.sum(), cid)),
                ("cust", ci[m]),
                ("arm_id", np.full(m.sum(), arm.id)),
                ("offer", np.full(m.sum(), arm.offer)),
                ("assigned_arm_id", exp.arm_id[rows][m]),
                ("is_holdout", exp.arm_id[rows][m] == 0),
                ("alive", alive[m]),
                ("p_control", p0[m]),
                ("p_treated", p1),
            ):
                eff[k].append(v)
    effects = {k: np.concatenate(v) if v else np.empty(0) for k, v in eff.items()}

    # Couple the treated customers' orders to their new probability.
    order = np.lexsort((t, cust))
    cust, t = cust[order], t[order]
    keys = _keys(cust, t)
    treated = exp.offer[rows] >= 0
    a, b = _first_in(keys, ci, send, send + _WINDOW)
    has = b > a
    ite = drawn_p1 - p0
    u = rng.random(len(rows))
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = treated & has & (ite < 0) & (u < -ite / p0)
        add = treated & ~has & (ite > 0) & (u < ite / (1 - p0))
    removed = np.zeros(len(t), dtype=bool)
    for lo_, hi_ in zip(a[drop].tolist(), b[drop].tolist(), strict=True):
        removed[lo_:hi_] = True
    add_t = send[add] + np.minimum(rng.gamma(2.0, 1.5, int(add.sum())) * DAY, _WINDOW - 60.0)
    cust = np.concatenate([cust[~removed], ci[add]])
    t = np.concatenate([t[~removed], add_t])
    added = np.concatenate([np.zeros(int((~removed).sum()), bool), np.ones(int(add.sum()), bool)])
    order = np.lexsort((t, cust))
    cust, t, added = cust[order], t[order], added[order]
    keys = _keys(cust, t)
    gross = _gross(rng, c, cust)

    # Coupons: a personal code for each treated recipient; the first order in the window uses it.
    tr = rows[treated]
    arm_coupon = np.zeros(
        max((a.id for p in camps.values() for a in p.arms), default=0) + 1, np.int64
    )
    for d in calendar.coupons:
        arm_coupon[d.arm_id] = d.id
    code_def = arm_coupon[exp.arm_id[tr]]
    first_code = ids.take("coupon_codes", len(tr))
    code_ids = np.arange(first_code, first_code + len(tr), dtype=np.int64)
    codes = {
        "id": code_ids,
        "definition_id": code_def,
        "cust": exp.cust[tr],
        "t": exp.sent[tr],
        "code": np.array(coupon_codes(code_ids, code_key), dtype=object),
    }

    a, b = _first_in(keys, exp.cust[tr], exp.sent[tr], exp.sent[tr] + _WINDOW)
    first = np.where(b > a, a, -1)
    offer = exp.offer[tr]
    min_value = np.array([o.min_order_value for o in OFFERS])[offer]
    ok = first >= 0
    ok &= np.where(ok, t[np.maximum(first, 0)] < window.length, False)
    is_added = np.where(ok, added[np.maximum(first, 0)], False)
    gross[first[is_added]] = np.maximum(
        gross[first[is_added]], np.round(min_value[is_added] * 1.1, 2)
    )
    ok &= is_added | (rng.random(len(tr)) < _REDEEM_IF_ANYWAY)
    ok &= np.where(ok, gross[np.maximum(first, 0)] >= min_value, False)
    for d in calendar.coupons:  # never past a total limit, in customer order across chunks
        m = np.flatnonzero(ok & (code_def == d.id))
        used = ledger.redeemed.get(d.id, 0)
        if d.total_limit is not None and used + len(m) > d.total_limit:
            ok[m[max(0, d.total_limit - used) :]] = False
        ledger.redeemed[d.id] = used + int(np.count_nonzero(ok & (code_def == d.id)))
    r = np.flatnonzero(ok)
    r_order = first[r]
    value = gross[r_order]
    kind = np.array([o.discount_type == "percent" for o in OFFERS])[offer[r]]
    amount = np.array([o.discount_value for o in OFFERS])[offer[r]]
    discount = np.round(np.where(kind, value * amount / 100.0, np.minimum(amount, value)), 2)
    redemptions = {
        "code_id": code_ids[r],
        "definition_id": code_def[r],
        "cust": cust[r_order],
        "t": t[r_order],
        "order_value": value,
        "discount": discount,
        "order": r_order,
    }
    for cid in camps:
        m = exp.campaign_id[tr][r] == cid
        ledger.spend[cid] = ledger.spend.get(cid, 0.0) + float(discount[m].sum())

    coupon = np.full(len(t), None, dtype=object)
    coupon[r_order] = codes["code"][r]
    campaign_id = np.zeros(len(t), dtype=np.int64)
    campaign_id[r_order] = exp.campaign_id[tr][r]
    net = gross.copy()
    net[r_order] = np.round(gross[r_order] - discount, 2)

    _attribute(exp, keys, t, net, window)
    inside = t < window.length
    business = c.business[cust]
    channel = np.where(
        business,
        rng.choice([0, 3], len(t), p=[0.6, 0.4]),
        rng.choice([0, 1, 2], len(t), p=[0.55, 0.4, 0.05]),
    )
    items = 1 + rng.poisson(np.where(business, 2.5, 1.2))
    orders = {
        "cust": cust[inside],
        "t": t[inside],
        "amount": net[inside],
        "items": items[inside],
        "channel": channel[inside],
        "campaign_id": campaign_id[inside],
        "coupon_code": coupon[inside],
    }
    _order_sessions(rng, c, orders, buf)
    # Redeemed orders all lie inside the window; point at their rows among the kept orders.
    redemptions["order"] = (np.cumsum(inside) - 1)[r_order]
    return Commerce(orders, codes, redemptions, effects)


def _attribute(
    exp: Exposures, keys: np.ndarray, t: np.ndarray, net: np.ndarray, window: Window
) -> None:
    """converted_at / revenue: first order within the promo window, or 7 days after a click."""
    start = np.where(exp.promo, exp.assigned, exp.clicked)
    span = np.where(exp.promo, _WINDOW, _NEWSLETTER_ATTRIBUTION_DAYS * DAY)
    ok = ~np.isnan(start)
    a, b = _first_in(keys, exp.cust[ok], start[ok], start[ok] + span[ok])
    hit = (b > a) & (t[np.minimum(a, len(t) - 1)] < window.length) if len(t) else b > a
    rows = np.flatnonzero(ok)[hit]
    exp.converted[rows] = t[a[hit]]
    exp.revenue[rows] = net[a[hit]]


def _order_sessions(
    rng: np.random.Generator, c: Customers, orders: dict[str, np.ndarray], buf: EventBuffer
) -> None:
    """A checkout visit for each order, and browsing of products and prices in the week before."""
    cust, t = orders["cust"], orders["t"]
    add_sessions(
        buf,
        rng,
        c.ids[cust],
        t - rng.uniform(120, 900, len(t)),
        "pre_order",
        mean_pages=2.0,
        last_page=P_CHECKOUT,
    )
    k = rng.poisson(1.2, len(t))
    idx = np.repeat(np.arange(len(t)), k)
    before = 7 * DAY * rng.beta(1.0, 2.0, len(idx))
    add_sessions(buf, rng, c.ids[cust[idx]], t[idx] - before, "pre_order", mean_pages=2.5)
