"""Customers: what the CRM knows about them, and the hidden traits that drive their behaviour.

The hidden traits (engagement, purchase rate, churn hazard, preferred hour, open rate, price
sensitivity, responsiveness to each offer) only ever reach ground_truth/; models must infer
them from what the observable columns and the behaviour they cause reveal.
"""

from dataclasses import dataclass

import numpy as np

from serving.simulator.timebase import DAY, Window
from serving.simulator.world import (
    CHURN_HAZARD,
    COMPANY_SIZE,
    CONSENT_P,
    CONSUMER,
    INDUSTRY_P,
    NEWSLETTER_SHARE,
    OFFERS,
    PRICE_SENSITIVITY,
    PURCHASE_RATE,
    REGION_P,
    REGION_ZONES,
    REGIONS,
    SEGMENT_P,
    TAGS,
    preferred_how_prior,
)

_FIRST = (
    "Ada",
    "Ben",
    "Carla",
    "Dev",
    "Elif",
    "Femi",
    "Gus",
    "Hiro",
    "Ines",
    "Jon",
    "Kira",
    "Luis",
    "Mia",
    "Nils",
    "Oona",
    "Pablo",
    "Qi",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Vic",
    "Wen",
    "Xavi",
    "Yara",
    "Zane",
    "Ali",
    "Bea",
    "Cy",
    "Dora",
)
_LAST = (
    "Silva",
    "Smith",
    "Kowalski",
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Tanaka",
    "Rossi",
    "Dubois",
    "Garcia",
    "Khan",
    "Larsen",
    "Moreau",
    "Novak",
    "Park",
    "Quinn",
    "Reyes",
    "Sato",
    "Tran",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Brown",
    "Costa",
    "Ivanova",
    "Jensen",
)
_CO_A = (
    "North",
    "Blue",
    "Iron",
    "Bright",
    "Silver",
    "Green",
    "Red",
    "Swift",
    "Clear",
    "True",
    "Open",
    "Prime",
    "Atlas",
    "Nova",
    "Summit",
    "Harbor",
    "Pioneer",
    "Vertex",
    "Lumen",
    "Cedar",
)
_CO_B = (
    "wind",
    "stone",
    "field",
    "bridge",
    "path",
    "wave",
    "peak",
    "forge",
    "line",
    "point",
    "gate",
    "works",
    "leaf",
    "spark",
    "grid",
)
_CO_KIND = ("Labs", "Systems", "Group", "Partners", "Industries", "Health", "Retail", "Analytics")
_TENURE_DAYS = 730


@dataclass
class Customers:
    """One chunk of customers, as parallel arrays (index i = customer ids[i])."""

    ids: np.ndarray
    region: np.ndarray  # index into REGIONS
    tz: np.ndarray  # index into ZONES
    segment: np.ndarray  # index into SEGMENTS
    industry: np.ndarray  # index into INDUSTRIES, -1 for consumers
    company_size: np.ndarray  # float, NaN for consumers
    consent: np.ndarray  # (n, 3) bool: email, sms, push
    created: np.ndarray  # window seconds (negative: before the window)
    birthday: np.ndarray  # datetime64[D], NaT when unknown
    tags: list[list[str]]
    name: list[str]
    email: list[str]
    company: list[str | None]
    # hidden traits
    engagement: np.ndarray
    purchase_rate: np.ndarray  # orders per day while alive, before seasonality
    churn_hazard: np.ndarray  # per day
    death: np.ndarray  # window seconds
    preferred_how_local: np.ndarray  # 0..167
    base_open_rate: np.ndarray  # open probability far from the preferred hour
    click_rate: np.ndarray  # click probability given an open
    price_sensitivity: np.ndarray  # 0..1
    responsiveness: np.ndarray  # (n, len(OFFERS)) multiplier of each offer's effect
    subscribed: np.ndarray  # receives the newsletter

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def business(self) -> np.ndarray:
        return self.segment != CONSUMER

    def alive_at(self, t: np.ndarray | float) -> np.ndarray:
        return (self.created <= t) & (self.death > t)


def _zones(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    tz = np.empty(len(region), dtype=np.int64)
    offset = 0
    for r, name in enumerate(REGIONS):
        zones = REGION_ZONES[name]
        mask = region == r
        p = np.array([w for _, w in zones])
        tz[mask] = offset + rng.choice(len(zones), size=int(mask.sum()), p=p / p.sum())
        offset += len(zones)
    return tz


def _tags(rng: np.random.Generator, c: "Customers") -> list[list[str]]:
    """Tags are observable hints at hidden traits (deal seekers, VIPs), plus plain noise."""
    n = len(c)
    b = c.business
    lam90 = c.purchase_rate * 90
    p = np.column_stack(
        [
            c.subscribed.astype(float),
            0.04 + 0.55 * c.price_sensitivity**2,
            0.6 / (1 + np.exp(-(lam90 - 3.0))),
            np.full(n, 0.05),
            np.where(b, 0.10 * np.minimum(c.engagement, 2.5), 0.0),
            np.where(b, 0.04, 0.0),
            np.full(n, 0.08),
            np.where(b, 0.0, 0.06),
            np.where(b, 0.10, 0.0),
            np.where(b, 0.0, 0.12 * np.minimum(c.engagement, 2.5)),
        ]
    )
    has = rng.random(p.shape) < p
    rows, cols = np.nonzero(has)
    out: list[list[str]] = [[] for _ in range(n)]
    for r, k in zip(rows.tolist(), cols.tolist(), strict=True):
        out[r].append(TAGS[k])
    return out


def generate_customers(
    rng: np.random.Generator, first_id: int, n: int, window: Window
) -> Customers:
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    tz = _zones(rng, region)
    segment = rng.choice(len(SEGMENT_P), size=n, p=SEGMENT_P)
    business = segment != CONSUMER
    industry = np.where(business, rng.choice(len(INDUSTRY_P), size=n, p=INDUSTRY_P), -1)
    size = np.full(n, np.nan)
    for seg, (median, sigma, lo, hi) in COMPANY_SIZE.items():
        m = segment == seg
        size[m] = np.clip(np.rint(rng.lognormal(np.log(median), sigma, int(m.sum()))), lo, hi)
    consent = rng.random((n, 3)) < np.array(CONSENT_P)

    span = max(_TENURE_DAYS, window.days + 60) * DAY
    created = window.length - span * rng.random(n) ** 1.3
    birth_known = rng.random(n) < 0.75
    birth = np.datetime64("1955-01-01") + rng.integers(0, 50 * 365, n).astype("timedelta64[D]")
    birthday = np.where(birth_known, birth, np.datetime64("NaT"))

    engagement = rng.gamma(2.0, 0.5, n)
    purchase_rate = PURCHASE_RATE[segment] * engagement**0.7 * rng.gamma(1.5, 1 / 1.5, n)
    churn_hazard = CHURN_HAZARD[segment] * rng.gamma(2.0, 0.5, n) * 1.5 / (0.5 + engagement)
    death = created + rng.exponential(1.0 / churn_hazard) * DAY

    pref = np.empty(n, dtype=np.int64)
    for flag in (False, True):
        m = business == flag
        pref[m] = rng.choice(168, size=int(m.sum()), p=preferred_how_prior(flag))
    base_open = np.clip(
        rng.beta(2.0, 14.0, n) * (0.5 + 0.5 * np.minimum(engagement, 3.0)), 0.005, 0.3
    )
    click_rate = rng.beta(2.0, 10.0, n)
    ps = np.empty(n)
    for seg, (a, b) in enumerate(PRICE_SENSITIVITY):
        m = segment == seg
        ps[m] = rng.beta(a, b, int(m.sum()))
    responsiveness = rng.lognormal(0.0, 0.35, (n, len(OFFERS)))
    subscribed = consent[:, 0] & (rng.random(n) < NEWSLETTER_SHARE)

    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    co = np.column_stack([rng.integers(0, len(x), n) for x in (_CO_A, _CO_B, _CO_KIND)])
    names: list[str] = []
    emails: list[str] = []
    companies: list[str | None] = []
    for i, cid in enumerate(ids.tolist()):
        f, la = _FIRST[first[i]], _LAST[last[i]]
        names.append(f"{f} {la}")
        if business[i]:
            a, b, k = co[i]
            companies.append(f"{_CO_A[a]}{_CO_B[b]} {_CO_KIND[k]}")
            emails.append(f"{f}.{la}.{cid}@{_CO_A[a]}{_CO_B[b]}.example".lower())
        else:
            companies.append(None)
            emails.append(f"{f}.{la}.{cid}@mail.example".lower())

    c = Customers(
        ids=ids,
        region=region,
        tz=tz,
        segment=segment,
        industry=industry,
        company_size=size,
        consent=consent,
        created=created,
        birthday=birthday,
        tags=[],
        name=names,
        email=emails,
        company=companies,
        engagement=engagement,
        purchase_rate=purchase_rate,
        churn_hazard=churn_hazard,
        death=death,
        preferred_how_local=pref,
        base_open_rate=base_open,
        click_rate=click_rate,
        price_sensitivity=ps,
        responsiveness=responsiveness,
        subscribed=subscribed,
    )
    c.tags = _tags(rng, c)
    return c
