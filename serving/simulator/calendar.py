"""The campaign calendar: weekly newsletters and promotions with arms, offers and coupons.

Fixed by the window and the customer count alone (no randomness), so every chunk of customers
sees the same campaigns and the ids are known before any customer is simulated.
"""

from dataclasses import dataclass
from datetime import timedelta

from serving.simulator.timebase import DAY, HOUR, Window
from serving.simulator.world import (
    CONSENT_P,
    OFFER_INDEX,
    OFFERS,
    PROMO_EVERY_DAYS,
    PROMO_WINDOW_DAYS,
    PROMOS,
    SEGMENT_P,
    USERS,
)

PROMO_SEND_HOUR_UTC = 14  # 10:00 in New York, 15:00 in London, 23:00 in Tokyo


class Ids:
    """Hands out contiguous primary keys per table, starting after what the DB already holds."""

    def __init__(self, start_after: dict[str, int]) -> None:
        self._next = {t: n + 1 for t, n in start_after.items()}

    def take(self, table: str, n: int) -> int:
        """First id of a block of `n` fresh ids."""
        first = self._next[table]
        self._next[table] = first + n
        return first


@dataclass(frozen=True)
class ArmPlan:
    id: int
    name: str
    weight: float
    is_control: bool
    offer: int | None  # index into world.OFFERS


@dataclass(frozen=True)
class CouponPlan:
    id: int
    name: str
    offer: int
    campaign_id: int
    arm_id: int
    valid_from: float  # window seconds
    valid_until: float
    total_limit: int | None


@dataclass(frozen=True)
class CampaignPlan:
    id: int
    name: str
    kind: str  # "newsletter" | "promo"
    starts: float  # window seconds
    ends: float
    status: str
    holdout: float
    arms: tuple[ArmPlan, ...]
    segments: tuple[int, ...] | None
    coupons: tuple[CouponPlan, ...]  # one per treatment arm of a promotion
    budget: float | None
    created_at: float

    @property
    def send(self) -> float:
        """A promotion goes out at one instant; a newsletter's sends spread over its week."""
        return self.starts

    def coupon_for_arm(self, arm_id: int) -> CouponPlan | None:
        return next((c for c in self.coupons if c.arm_id == arm_id), None)


@dataclass(frozen=True)
class Calendar:
    user_ids: tuple[int, ...]  # parallel to world.USERS
    offer_ids: tuple[int, ...]  # parallel to world.OFFERS
    campaigns: tuple[CampaignPlan, ...]

    @property
    def newsletters(self) -> tuple[CampaignPlan, ...]:
        return tuple(c for c in self.campaigns if c.kind == "newsletter")

    @property
    def promos(self) -> tuple[CampaignPlan, ...]:
        return tuple(c for c in self.campaigns if c.kind == "promo")

    @property
    def coupons(self) -> tuple[CouponPlan, ...]:
        return tuple(cp for c in self.campaigns for cp in c.coupons)

    @property
    def rep_ids(self) -> tuple[int, ...]:
        return tuple(i for i, u in zip(self.user_ids, USERS, strict=True) if u.role == "sales_rep")


def _status(starts: float, ends: float, window: Window) -> str:
    if ends <= window.length:
        return "ended"
    return "running" if starts <= window.length else "scheduled"


def _newsletter_weeks(window: Window) -> list[float]:
    """Monday 00:00 UTC of each week that starts inside the window."""
    start = window.start
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    first = first.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(days=7)
    weeks = []
    t = window.seconds(first)
    while t < window.length:
        weeks.append(t)
        t += 7 * DAY
    return weeks


def _promo_sends(window: Window) -> list[float]:
    """Every four weeks back from six days before the end, so the last one is still running."""
    sends = []
    day = window.days - 6
    while day >= 7:
        sends.append(day * DAY + PROMO_SEND_HOUR_UTC * HOUR)
        day -= PROMO_EVERY_DAYS
    return sorted(sends)


def build_calendar(window: Window, n_customers: int, ids: Ids) -> Calendar:
    """Plan users, offers and campaigns (ids included) for a world of `n_customers`."""
    first_user = ids.take("users", len(USERS))
    user_ids = tuple(range(first_user, first_user + len(USERS)))
    first_offer = ids.take("offers", len(OFFERS))
    offer_ids = tuple(range(first_offer, first_offer + len(OFFERS)))

    plans: list[tuple[float, str, object]] = [
        (t, "newsletter", None) for t in _newsletter_weeks(window)
    ]
    plans += [(t, "promo", PROMOS[k % len(PROMOS)]) for k, t in enumerate(_promo_sends(window))]
    plans.sort(key=lambda p: (p[0], p[1]))

    campaigns = []
    for t, kind, template in plans:
        cid = ids.take("campaigns", 1)
        day = window.at(t).date().isoformat()
        if kind == "newsletter":
            arm = ArmPlan(ids.take("campaign_arms", 1), "newsletter", 1.0, False, None)
            ends = t + 7 * DAY
            campaigns.append(
                CampaignPlan(
                    cid,
                    f"Weekly newsletter {day}",
                    kind,
                    t,
                    ends,
                    _status(t, ends, window),
                    0.0,
                    (arm,),
                    None,
                    (),
                    None,
                    t - 3 * DAY,
                )
            )
            continue
        assert isinstance(template, type(PROMOS[0]))
        arms = tuple(
            ArmPlan(
                ids.take("campaign_arms", 1),
                name,
                weight,
                offer is None,
                None if offer is None else OFFER_INDEX[offer],
            )
            for name, weight, offer in template.arms
        )
        ends = t + PROMO_WINDOW_DAYS * DAY
        audience = (
            n_customers
            * CONSENT_P[0]
            * (
                SEGMENT_P.sum()
                if template.segments is None
                else SEGMENT_P[list(template.segments)].sum()
            )
        )
        total_weight = sum(a.weight for a in arms)
        coupons = []
        for arm in arms:
            if arm.offer is None:
                continue
            limit = None
            if template.total_limit_share is not None:
                treated = audience * (1 - template.holdout) * arm.weight / total_weight
                limit = max(1, int(template.total_limit_share * treated))
            name = f"{template.name} {day}: {OFFERS[arm.offer].name}"
            coupons.append(
                CouponPlan(
                    ids.take("coupon_definitions", 1), name, arm.offer, cid, arm.id, t, ends, limit
                )
            )
        campaigns.append(
            CampaignPlan(
                cid,
                f"{template.name} {day}",
                kind,
                t,
                ends,
                _status(t, ends, window),
                template.holdout,
                arms,
                template.segments,
                tuple(coupons),
                float(max(1_000, round(n_customers * 10, -3))),
                t - 7 * DAY,
            )
        )
    return Calendar(user_ids, offer_ids, tuple(campaigns))
