"""Campaign sends: who gets which arm, when mail goes out, and who opens and clicks.

Arms come from the same hash as the API's (`unit_hashes` + `pick_arm`), so an exposure made
here is the one the API would have made. Newsletters go out at a random hour of their week
for each reader (exploration), so the data show how the open rate depends on the hour.
"""

from dataclasses import dataclass

import numpy as np

from serving.core.services.assignment import pick_arm, unit_hashes
from serving.simulator.behaviour import (
    CH_EMAIL,
    EMAIL_CLICK,
    EMAIL_OPEN,
    EMAIL_SENT,
    EventBuffer,
    add_sessions,
)
from serving.simulator.calendar import Calendar, CampaignPlan
from serving.simulator.customers import Customers
from serving.simulator.timebase import DAY, HOUR, TzTable, Window, circular_hours

# Open-probability kernel around the preferred hour: x(1 + 2) at the very hour of the week,
# x(1 + 1) at the same hour on another day, x1 far away.
_WEEK_PEAK, _WEEK_WIDTH_H = 2.0, 2.5
_DAY_PEAK, _DAY_WIDTH_H = 1.0, 1.5
_DEAD_OPEN = 0.15  # a churned customer still opens now and then
_OFFER_CLICK_LIFT = 1.4


def open_kernel(send_how_local: np.ndarray, preferred_how_local: np.ndarray) -> np.ndarray:
    """Multiplier of the base open rate for mail that lands at a given local hour-of-week."""
    dw = circular_hours(send_how_local, preferred_how_local)
    dd = circular_hours(send_how_local % 24, preferred_how_local % 24, 24)
    return (
        1.0
        + _WEEK_PEAK * np.exp(-0.5 * (dw / _WEEK_WIDTH_H) ** 2)
        + _DAY_PEAK * np.exp(-0.5 * (dd / _DAY_WIDTH_H) ** 2)
    )


def assign_arms(campaign: CampaignPlan, customer_ids: np.ndarray) -> np.ndarray:
    """Arm index per customer (-1 = holdout), exactly as the API's assignment would draw it.

    With a single arm and no holdout every draw lands on arm 0, so the hashes are skipped.
    """
    weights = [a.weight for a in campaign.arms]
    if len(weights) == 1 and campaign.holdout == 0:
        return np.zeros(len(customer_ids), dtype=np.int64)
    return pick_arm(unit_hashes(campaign.id, customer_ids), weights, campaign.holdout)


@dataclass
class Exposures:
    """Exposure rows of one chunk (times in window seconds, NaN = never)."""

    campaign_id: np.ndarray
    cust: np.ndarray  # index into the chunk's customers
    arm_id: np.ndarray  # 0 = none (holdout)
    offer: np.ndarray  # index into world.OFFERS, -1 = no offer
    promo: np.ndarray  # bool: a promotion (else a newsletter)
    assigned: np.ndarray
    sent: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray
    converted: np.ndarray
    revenue: np.ndarray

    def __len__(self) -> int:
        return len(self.cust)


def _one_campaign(
    rng: np.random.Generator, camp: CampaignPlan, c: Customers, window: Window
) -> dict[str, np.ndarray]:
    if camp.kind == "newsletter":
        send = camp.starts + rng.random(len(c)) * 7 * DAY
        eligible = c.subscribed & (c.created < send) & (send < window.length)
        idx = np.flatnonzero(eligible)
        send = send[idx]
    else:
        seg_ok = (
            np.ones(len(c), bool) if camp.segments is None else np.isin(c.segment, camp.segments)
        )
        idx = np.flatnonzero(c.consent[:, 0] & seg_ok & (c.created < camp.send))
        send = np.full(len(idx), camp.send)
    arm = assign_arms(camp, c.ids[idx])
    arm_ids = np.array([a.id for a in camp.arms])
    offers = np.array([-1 if a.offer is None else a.offer for a in camp.arms])
    holdout = arm < 0
    return {
        "campaign_id": np.full(len(idx), camp.id, dtype=np.int64),
        "cust": idx,
        "arm_id": np.where(holdout, 0, arm_ids[np.maximum(arm, 0)]),
        "offer": np.where(holdout, -1, offers[np.maximum(arm, 0)]),
        "promo": np.full(len(idx), camp.kind == "promo"),
        "assigned": send if camp.kind == "newsletter" else np.full(len(idx), camp.starts),
        "sent": np.where(holdout, np.nan, send),
    }


def send_campaigns(
    rng: np.random.Generator,
    c: Customers,
    calendar: Calendar,
    window: Window,
    tzt: TzTable,
    buf: EventBuffer,
) -> Exposures:
    """Every campaign's exposures for this chunk, with the e-mail events they cause."""
    parts = [_one_campaign(rng, camp, c, window) for camp in calendar.campaigns]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = len(cols["cust"])
    i, sent = cols["cust"], cols["sent"]
    was_sent = ~np.isnan(sent)
    how = tzt.local_how(np.nan_to_num(sent), c.tz[i])
    p_open = c.base_open_rate[i] * open_kernel(how, c.preferred_how_local[i])
    p_open = np.where(c.death[i] > np.nan_to_num(sent), p_open, p_open * _DEAD_OPEN)
    delay = rng.lognormal(np.log(1.5 * HOUR), 1.0, n)
    opened = np.where(was_sent & (rng.random(n) < np.minimum(p_open, 0.95)), sent + delay, np.nan)
    p_click = c.click_rate[i] * np.where(cols["offer"] >= 0, _OFFER_CLICK_LIFT, 1.0)
    clicked = np.where(
        ~np.isnan(opened) & (rng.random(n) < p_click), opened + rng.exponential(180.0, n), np.nan
    )
    # What happens after the window end is not known yet.
    opened[opened >= window.length] = np.nan
    clicked[np.isnan(opened) | (clicked >= window.length)] = np.nan

    ids, camp_ids = c.ids[i], cols["campaign_id"]
    buf.add(
        ids[was_sent], sent[was_sent], EMAIL_SENT, channel=CH_EMAIL, campaign=camp_ids[was_sent]
    )
    m = ~np.isnan(opened)
    buf.add(ids[m], opened[m], EMAIL_OPEN, channel=CH_EMAIL, campaign=camp_ids[m])
    m = ~np.isnan(clicked)
    buf.add(ids[m], clicked[m], EMAIL_CLICK, channel=CH_EMAIL, campaign=camp_ids[m])
    for promo, mix in ((False, "newsletter"), (True, "promo")):
        mm = m & (cols["promo"] == promo)
        add_sessions(
            buf,
            rng,
            ids[mm],
            clicked[mm] + 5.0,
            mix,
            mean_pages=2.0,
            channel=CH_EMAIL,
            campaign=camp_ids[mm],
        )
    return Exposures(
        **cols,
        opened=opened,
        clicked=clicked,
        converted=np.full(n, np.nan),
        revenue=np.full(n, np.nan),
    )
