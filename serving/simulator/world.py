"""The static make-up of the simulated world: places, segments, staff, offers and campaign plans.

Plain data and small pure functions only; everything random happens elsewhere, seeded. Keeping
the catalogue in one place lets tests and docs say what the world contains without running it.
"""

from dataclasses import dataclass

import numpy as np

from serving.simulator.timebase import WEEK_HOURS

# --- places ---------------------------------------------------------------------------------

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
REGION_P = np.array([0.40, 0.30, 0.20, 0.10])
# (zone, weight within its region)
REGION_ZONES: dict[str, tuple[tuple[str, float], ...]] = {
    "NA": (
        ("America/New_York", 0.40),
        ("America/Chicago", 0.25),
        ("America/Denver", 0.10),
        ("America/Los_Angeles", 0.25),
    ),
    "EMEA": (
        ("Europe/London", 0.25),
        ("Europe/Berlin", 0.30),
        ("Europe/Paris", 0.20),
        ("Europe/Madrid", 0.10),
        ("Africa/Johannesburg", 0.05),
        ("Asia/Dubai", 0.10),
    ),
    "APAC": (
        ("Asia/Tokyo", 0.25),
        ("Asia/Singapore", 0.20),
        ("Australia/Sydney", 0.20),
        ("Asia/Kolkata", 0.25),
        ("Asia/Shanghai", 0.10),
    ),
    "LATAM": (
        ("America/Sao_Paulo", 0.45),
        ("America/Mexico_City", 0.30),
        ("America/Bogota", 0.15),
        ("America/Argentina/Buenos_Aires", 0.10),
    ),
}
ZONES: tuple[str, ...] = tuple(z for r in REGIONS for z, _ in REGION_ZONES[r])

# --- customers ------------------------------------------------------------------------------

SEGMENTS = ("consumer", "smb", "mid_market", "enterprise")
SEGMENT_P = np.array([0.50, 0.28, 0.14, 0.08])
CONSUMER = 0
INDUSTRIES = ("software", "retail", "finance", "healthcare", "manufacturing", "education")
INDUSTRY_P = np.array([0.24, 0.18, 0.16, 0.14, 0.16, 0.12])
# company_size ~ lognormal(log(median), sigma) clipped to the segment's band; consumers: None.
COMPANY_SIZE = {
    1: (18.0, 0.8, 1, 199),
    2: (600.0, 0.6, 200, 1_999),
    3: (6_000.0, 0.9, 2_000, 250_000),
}
# Consent shares per channel: e-mail, SMS, push.
CONSENT_P = (0.85, 0.40, 0.30)
TAGS = (
    "newsletter",
    "deal_seeker",
    "vip",
    "beta",
    "webinar_attendee",
    "partner",
    "trial",
    "student",
    "event_2025",
    "app_user",
)

# Mean orders per day for an average-engagement customer, per segment.
PURCHASE_RATE = np.array([1 / 70, 1 / 55, 1 / 40, 1 / 32])
# Mean churn hazard per day (mean lifetime = 1 / hazard), per segment.
CHURN_HAZARD = np.array([1 / 700, 1 / 900, 1 / 1_400, 1 / 2_000])
# Order value: lognormal(log(median), sigma) per segment.
ORDER_VALUE = ((45.0, 0.6), (260.0, 0.7), (1_200.0, 0.8), (5_000.0, 0.9))
# Price sensitivity ~ Beta(a, b) per segment.
PRICE_SENSITIVITY = ((3.0, 2.0), (2.5, 2.5), (2.0, 3.0), (1.5, 4.0))
# Leads per day per B2B customer (consumers create none), per segment.
LEAD_RATE = np.array([0.0, 0.0040, 0.0055, 0.0070])

PAGES = ("home", "product", "pricing", "blog", "docs", "checkout")
P_HOME, P_PRODUCT, P_PRICING, P_BLOG, P_DOCS, P_CHECKOUT = range(6)
# Page mix per kind of visit (rows sum to 1).
PAGE_MIX = {
    "browse_b2c": (0.30, 0.35, 0.05, 0.20, 0.02, 0.08),
    "browse_b2b": (0.25, 0.20, 0.08, 0.17, 0.25, 0.05),
    "pre_order": (0.15, 0.45, 0.20, 0.05, 0.00, 0.15),
    "pre_lead": (0.10, 0.30, 0.35, 0.05, 0.20, 0.00),
    "newsletter": (0.10, 0.15, 0.05, 0.65, 0.05, 0.00),
    "promo": (0.10, 0.50, 0.25, 0.05, 0.00, 0.10),
}
TRAFFIC = ("direct", "organic", "paid", "social", "referral")
TRAFFIC_P = np.array([0.35, 0.35, 0.10, 0.10, 0.10])

# --- staff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSpec:
    name: str
    email: str
    role: str
    region: str | None
    industry: str | None


# Reps cover regions (and some an industry); LATAM has no rep of its own, so its leads go to the
# rep with no region, who covers "any".
USERS: tuple[UserSpec, ...] = (
    UserSpec("Avery Chen", "avery.chen@lodestar.example", "sales_rep", "NA", "software"),
    UserSpec("Blake Ortiz", "blake.ortiz@lodestar.example", "sales_rep", "NA", None),
    UserSpec("Grace Kim", "grace.kim@lodestar.example", "sales_rep", "NA", "healthcare"),
    UserSpec("Chloe Martin", "chloe.martin@lodestar.example", "sales_rep", "EMEA", "finance"),
    UserSpec("Dieter Wolf", "dieter.wolf@lodestar.example", "sales_rep", "EMEA", None),
    UserSpec("Emi Sato", "emi.sato@lodestar.example", "sales_rep", "APAC", None),
    UserSpec("Farah Iqbal", "farah.iqbal@lodestar.example", "sales_rep", "APAC", None),
    UserSpec("Hana Novak", "hana.novak@lodestar.example", "sales_rep", None, None),
    UserSpec("Maya Lopez", "maya.lopez@lodestar.example", "marketer", None, None),
    UserSpec("Sam Admin", "sam.admin@lodestar.example", "admin", None, None),
)
MARKETER = 8  # index into USERS

LEAD_SOURCES = ("web_form", "webinar", "referral", "paid_search", "social", "event", "outbound")
# Source mix per B2B segment (smb, mid_market, enterprise).
LEAD_SOURCE_P = {
    1: (0.32, 0.12, 0.10, 0.20, 0.14, 0.04, 0.08),
    2: (0.22, 0.16, 0.14, 0.12, 0.08, 0.12, 0.16),
    3: (0.12, 0.14, 0.18, 0.06, 0.04, 0.18, 0.28),
}
# Sources whose lead arrives through a form on the site (so the event log shows a form_submit).
FORM_SOURCES = frozenset({"web_form", "webinar", "paid_search", "social"})

# --- offers and campaigns -------------------------------------------------------------------


@dataclass(frozen=True)
class OfferSpec:
    key: str
    name: str
    description: str
    value: float  # what the customer perceives it is worth
    cost: float  # what one redemption costs us, on average
    discount_type: str
    discount_value: float
    min_order_value: float


OFFERS: tuple[OfferSpec, ...] = (
    OfferSpec(
        "pct10", "10% off", "10% off the next order over 20", 10.0, 6.0, "percent", 10.0, 20.0
    ),
    OfferSpec(
        "free_shipping",
        "Free shipping",
        "Shipping on us for orders over 30",
        7.0,
        6.5,
        "fixed",
        7.0,
        30.0,
    ),
    OfferSpec(
        "premium_trial",
        "Premium trial",
        "25 off a first premium plan order",
        49.0,
        12.0,
        "fixed",
        25.0,
        50.0,
    ),
    OfferSpec(
        "bundle", "Bundle deal", "15% off bundles over 80", 20.0, 11.0, "percent", 15.0, 80.0
    ),
)
OFFER_INDEX = {o.key: i for i, o in enumerate(OFFERS)}


@dataclass(frozen=True)
class PromoTemplate:
    name: str
    # (arm name, weight, offer key or None for the control arm)
    arms: tuple[tuple[str, float, str | None], ...]
    holdout: float
    segments: tuple[int, ...] | None  # audience segments (None = everyone with e-mail consent)
    total_limit_share: float | None  # total_limit as a share of the treated audience


PROMOS: tuple[PromoTemplate, ...] = (
    PromoTemplate(
        "Seasonal sale",
        (
            ("control", 1.0, None),
            ("10% off", 1.0, "pct10"),
            ("free shipping", 1.0, "free_shipping"),
        ),
        0.10,
        None,
        None,
    ),
    PromoTemplate(
        "Premium trial push",
        (("control", 1.0, None), ("trial", 2.0, "premium_trial")),
        0.15,
        (1, 2, 3),
        0.25,
    ),
    PromoTemplate(
        "Bundle launch",
        (("control", 1.0, None), ("bundle", 1.0, "bundle"), ("10% off", 1.0, "pct10")),
        0.10,
        None,
        None,
    ),
    PromoTemplate(
        "Shipping on us",
        (("control", 1.0, None), ("free shipping", 1.0, "free_shipping")),
        0.20,
        (0, 1),
        0.06,
    ),
)
PROMO_EVERY_DAYS = 28
PROMO_WINDOW_DAYS = 14  # coupon validity and attribution window
NEWSLETTER_SHARE = 0.70  # of customers with e-mail consent who subscribe to the newsletter

# --- time-of-week habits ----------------------------------------------------------------------


def _how_grid() -> tuple[np.ndarray, np.ndarray]:
    how = np.arange(WEEK_HOURS)
    return how // 24, how % 24  # day of week (0 = Monday), hour of day


def preferred_how_prior(business: bool) -> np.ndarray:
    """Prior over the local hour-of-week a customer prefers to read mail, by kind of customer.

    Business people read on weekday mornings; consumers on weekday evenings and weekends.
    """
    dow, hod = _how_grid()
    weekday = dow < 5
    if business:
        w = np.where(weekday & (hod >= 7) & (hod <= 11), 8.0, 0.0)
        w += np.where(weekday & (hod >= 12) & (hod <= 17), 3.0, 0.0)
        w += np.where(weekday & ((hod == 6) | (hod >= 18) & (hod <= 21)), 0.8, 0.0)
        w += np.where(~weekday & (hod >= 8) & (hod <= 20), 0.3, 0.0)
    else:
        w = np.where(weekday & (hod >= 18) & (hod <= 22), 6.0, 0.0)
        w += np.where(~weekday & (hod >= 9) & (hod <= 21), 5.0, 0.0)
        w += np.where(weekday & (hod >= 12) & (hod <= 13), 2.0, 0.0)
        w += np.where(weekday & (hod >= 7) & (hod <= 8), 1.0, 0.0)
    w = w + np.where((hod >= 1) & (hod <= 5), 0.02, 0.15)
    return w / w.sum()


def activity_how_profile(business: bool) -> np.ndarray:
    """Share of site visits per local hour-of-week: the daily and weekly rhythm of browsing."""
    dow, hod = _how_grid()
    weekday = dow < 5
    day_curve = np.exp(-0.5 * ((hod - (11 if business else 20)) / (3.5 if business else 3.0)) ** 2)
    w = 0.05 + day_curve * np.where(weekday, 1.0 if business else 0.8, 0.35 if business else 1.2)
    return w / w.sum()


def order_day_factor(
    day_of_week: np.ndarray, day_of_year: np.ndarray, business: bool
) -> np.ndarray:
    """Relative purchase intensity of a day (mean about 1): weekday rhythm and a year-end peak."""
    weekly = (
        np.where(day_of_week < 5, 1.2, 0.5) if business else np.where(day_of_week < 5, 0.92, 1.2)
    )
    annual = 1.0 + 0.15 * np.cos(2 * np.pi * (day_of_year - 335) / 365.25)
    return weekly * annual
