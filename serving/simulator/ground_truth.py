"""The oracle: hidden traits and true probabilities, written to ground_truth/*.parquet only.

Models are judged against these (see DESIGN.md, "Models and what good means"); nothing here
ever reaches the core DB or the event log. Files and columns (`SCHEMA` is the source of truth):

customers.parquet
    one row per customer: the hidden traits that drove the simulation.
leads.parquet
    one row per lead: the true P(convert within 30 days) and the drawn outcome.
    `converted_30d` is the simulated outcome even when the 30 days end after the window (the
    DB then still shows an open lead).
treatment_effects.parquet
    one row per (promotion exposure, treatment arm of that campaign): potential outcomes
    P(order within 14 days of the send) without the offer (`p_control`, the same for the
    control arm and the holdout) and with that arm's offer (`p_treated`); `ite` is their
    difference. `assigned_arm_id` is the arm the customer actually drew (null = holdout).
customer_snapshots.parquet
    weekly as-of dates from a week after the window start to the end: for each customer who
    existed then, whether they were alive and the true chance of at least one order in the
    next 14 days and of none in the next 90 (baseline purchase process, without campaigns).

All probabilities condition on the hidden state at that moment (alive, rates), integrating
over the unknown future churn time; a customer who already churned has p_order 0.

No model can reach that oracle: part of it is hidden from every observer (a lead's noise term,
whether a silent customer has already churned). The `*_knowable` columns are the same
probabilities for an observer who knows each customer's traits exactly but sees only what
happened: no noise for leads, and for customers the chance of being alive given the silence
since their last order. They are the ceiling a model of the recorded data can approach (it can
beat them a little: browsing after churn is rare, and the model sees browsing).
"""

import numpy as np
import pyarrow as pa

from serving.simulator.commerce import Commerce
from serving.simulator.customers import Customers
from serving.simulator.intensity import PurchaseIntensity
from serving.simulator.leads import Leads, p_convert_knowable
from serving.simulator.timebase import DAY, TzTable, Window, utc_how_of_local
from serving.simulator.world import OFFERS

_TS = pa.timestamp("us", tz="UTC")

SCHEMA: dict[str, dict[str, tuple[pa.DataType, str]]] = {
    "customers": {
        "customer_id": (pa.int64(), "customers.id"),
        "engagement": (pa.float64(), "activity level, mean 1: drives visits, opens, purchases"),
        "preferred_how_local": (pa.int64(), "hour-of-week (0 = Mon 00:00) opens peak, local"),
        "preferred_how_utc": (pa.int64(), "the same in UTC, at the zone's offset at window end"),
        "base_open_rate": (pa.float64(), "open probability far from the preferred hour"),
        "click_rate": (pa.float64(), "click probability given an open"),
        "purchase_rate": (pa.float64(), "orders per day while alive, before seasonality"),
        "churn_hazard": (pa.float64(), "churn hazard per day (exponential lifetime)"),
        "death_at": (_TS, "when the customer churns (may be before or after the window)"),
        "price_sensitivity": (pa.float64(), "0..1; scales discount effects"),
        **{
            f"responsiveness_{o.key}": (pa.float64(), f"multiplier of the '{o.name}' effect")
            for o in OFFERS
        },
    },
    "leads": {
        "lead_id": (pa.int64(), "leads.id"),
        "customer_id": (pa.int64(), "customers.id"),
        "created_at": (_TS, "leads.created_at"),
        "intent": (pa.float64(), "hidden buying intent (drives pre-lead browsing)"),
        "noise": (pa.float64(), "unobservable part of the true log-odds"),
        "p_convert_30d": (pa.float64(), "true P(converted within 30 days)"),
        "p_convert_30d_knowable": (pa.float64(), "the same, averaged over the noise term"),
        "converted_30d": (pa.bool_(), "simulated outcome"),
    },
    "treatment_effects": {
        "campaign_id": (pa.int64(), "campaigns.id"),
        "customer_id": (pa.int64(), "customers.id"),
        "arm_id": (pa.int64(), "the treatment arm these potential outcomes are for"),
        "offer_id": (pa.int64(), "that arm's offer"),
        "assigned_arm_id": (pa.int64(), "arm drawn (exposures.arm_id); null = holdout"),
        "is_holdout": (pa.bool_(), "exposures.is_holdout"),
        "alive_at_send": (pa.bool_(), "churned customers neither buy nor respond"),
        "p_control": (pa.float64(), "P(order in 14 days) without an offer"),
        "p_treated": (pa.float64(), "P(order in 14 days) with this arm's offer"),
        "ite": (pa.float64(), "p_treated - p_control"),
    },
    "customer_snapshots": {
        "as_of": (_TS, "snapshot time"),
        "customer_id": (pa.int64(), "customers.id"),
        "alive": (pa.bool_(), "not churned at as_of"),
        "p_order_14d": (pa.float64(), "true P(at least one order in (as_of, as_of + 14 days])"),
        "p_churn_90d": (pa.float64(), "true P(no order in (as_of, as_of + 90 days])"),
        "p_alive_knowable": (pa.float64(), "P(alive) given traits and the orders so far"),
        "p_order_14d_knowable": (pa.float64(), "p_order_14d for that observer"),
        "p_churn_90d_knowable": (pa.float64(), "p_churn_90d for that observer"),
    },
}
# Columns that are keys shared with the DB; every other column is hidden from models.
KEY_COLUMNS = frozenset(
    {
        "customer_id",
        "lead_id",
        "campaign_id",
        "arm_id",
        "offer_id",
        "created_at",
        "is_holdout",
        "as_of",
    }
)


def schema(name: str) -> pa.Schema:
    return pa.schema([(col, typ) for col, (typ, _) in SCHEMA[name].items()])


def snapshot_times(window: Window) -> np.ndarray:
    return np.arange(1, window.days // 7 + 1) * 7 * DAY


def customers_table(c: Customers, window: Window, tzt: TzTable) -> pa.Table:
    cols = {
        "customer_id": c.ids,
        "engagement": c.engagement,
        "preferred_how_local": c.preferred_how_local,
        "preferred_how_utc": utc_how_of_local(c.preferred_how_local, tzt.offset_at_end(c.tz)),
        "base_open_rate": c.base_open_rate,
        "click_rate": c.click_rate,
        "purchase_rate": c.purchase_rate,
        "churn_hazard": c.churn_hazard,
        "death_at": window.to_us(np.minimum(c.death, 1e11)),
        "price_sensitivity": c.price_sensitivity,
        **{f"responsiveness_{o.key}": c.responsiveness[:, k] for k, o in enumerate(OFFERS)},
    }
    return pa.table(cols, schema=schema("customers"))


def leads_table(c: Customers, leads: Leads, lead_ids: np.ndarray, window: Window) -> pa.Table:
    lc = leads.cols
    return pa.table(
        {
            "lead_id": lead_ids,
            "customer_id": c.ids[lc["cust"]],
            "created_at": window.to_us(lc["created"]),
            "intent": lc["intent"],
            "noise": lc["noise"],
            "p_convert_30d": lc["p_convert"],
            "p_convert_30d_knowable": p_convert_knowable(lc["p_convert"], lc["noise"]),
            "converted_30d": lc["converted_30d"],
        },
        schema=schema("leads"),
    )


def effects_table(c: Customers, com: Commerce, offer_ids: tuple[int, ...]) -> pa.Table:
    e = com.effects
    assigned = e["assigned_arm_id"].astype(np.int64)
    return pa.table(
        {
            "campaign_id": e["campaign_id"].astype(np.int64),
            "customer_id": c.ids[e["cust"].astype(np.int64)],
            "arm_id": e["arm_id"].astype(np.int64),
            "offer_id": np.asarray(offer_ids, dtype=np.int64)[e["offer"].astype(np.int64)],
            "assigned_arm_id": pa.array(assigned, pa.int64(), mask=assigned == 0),
            "is_holdout": e["is_holdout"].astype(bool),
            "alive_at_send": e["alive"].astype(bool),
            "p_control": e["p_control"].astype(np.float64),
            "p_treated": e["p_treated"].astype(np.float64),
            "ite": (e["p_treated"] - e["p_control"]).astype(np.float64),
        },
        schema=schema("treatment_effects"),
    )


def _last_order(n: int, orders: dict[str, np.ndarray], t: float) -> np.ndarray:
    """Each customer's latest order time up to `t` (window seconds), -inf for none."""
    last = np.full(n, -np.inf)
    m = orders["t"] <= t
    np.maximum.at(last, orders["cust"][m].astype(np.int64), orders["t"][m])
    return last


def snapshots_table(
    c: Customers, window: Window, pi: PurchaseIntensity, orders: dict[str, np.ndarray]
) -> pa.Table:
    parts = []
    for t in snapshot_times(window):
        idx = np.flatnonzero(c.created <= t)
        alive = c.death[idx] > t
        tt = np.full(len(idx), t)
        rate, haz, bus = c.purchase_rate[idx], c.churn_hazard[idx], c.business[idx]
        p14_if_alive = 1.0 - pi.p_no_order(tt, rate, haz, 14, bus)
        p90_if_alive = pi.p_no_order(tt, rate, haz, 90, bus)
        # The observer's view: alive at the last order; with none, alive when first seen in
        # the window (a customer from before it may already have churned by then).
        last = _last_order(len(c), orders, t)[idx]
        first_seen = np.maximum(c.created[idx], 0.0)
        s0 = np.where(np.isfinite(last), last, first_seen)
        prior = np.where(
            np.isfinite(last) | (c.created[idx] >= 0), 1.0, np.exp(haz * c.created[idx] / DAY)
        )
        p_alive = pi.p_alive_after_silence(s0, tt, rate, haz, bus, prior)
        parts.append(
            pa.table(
                {
                    "as_of": np.full(len(idx), window.to_us(np.array(t))),
                    "customer_id": c.ids[idx],
                    "alive": alive,
                    "p_order_14d": np.where(alive, p14_if_alive, 0.0),
                    "p_churn_90d": np.where(alive, p90_if_alive, 1.0),
                    "p_alive_knowable": p_alive,
                    "p_order_14d_knowable": p_alive * p14_if_alive,
                    "p_churn_90d_knowable": 1.0 - p_alive * (1.0 - p90_if_alive),
                },
                schema=schema("customer_snapshots"),
            )
        )
    if not parts:
        return schema("customer_snapshots").empty_table()
    return pa.concat_tables(parts)
