"""B2B leads: when they arrive, who owns them, how they move through the pipeline.

Each lead has a hidden intent that makes the customer browse pricing, product and docs pages
in the weeks before it arrives. The true chance of converting within 30 days is a non-linear
function of what can be observed before the lead was created (those page views, e-mail
engagement, company size, industry, source) plus hidden noise, so a model can learn most of it
from the data, but not all.
"""

from dataclasses import dataclass

import numpy as np

from serving.simulator.behaviour import (
    EMAIL_CLICK,
    EMAIL_OPEN,
    FORM_SUBMIT,
    PAGE_VIEW,
    EventBuffer,
    add_sessions,
)
from serving.simulator.calendar import Calendar
from serving.simulator.customers import Customers
from serving.simulator.timebase import DAY, HOUR, Window
from serving.simulator.world import (
    FORM_SOURCES,
    INDUSTRIES,
    LEAD_RATE,
    LEAD_SOURCE_P,
    LEAD_SOURCES,
    P_DOCS,
    P_PRICING,
    P_PRODUCT,
    REGIONS,
    TRAFFIC,
    USERS,
)

# Logit terms of the true conversion model.
_INDUSTRY_EFFECT = {
    "software": 0.4,
    "retail": -0.2,
    "finance": 0.2,
    "healthcare": -0.1,
    "manufacturing": 0.0,
    "education": -0.4,
}
_SOURCE_EFFECT = {
    "web_form": 0.2,
    "webinar": 0.3,
    "referral": 0.8,
    "paid_search": 0.0,
    "social": -0.3,
    "event": 0.4,
    "outbound": -0.6,
}
_INTERCEPT = -3.9
_NOISE_SD = 0.5
_SOURCE_TRAFFIC = {"paid_search": TRAFFIC.index("paid"), "social": TRAFFIC.index("social")}


class Assigner:
    """The lead-assignment rules of services/leads.py: region, then industry, then least loaded.

    "Load" here is the number of leads handed out so far (the service counts open leads at the
    moment of creation, which chunked simulation cannot know), so ties rotate evenly.
    """

    def __init__(self, calendar: Calendar) -> None:
        self.reps = [
            (uid, u.region, u.industry)
            for uid, u in zip(calendar.user_ids, USERS, strict=True)
            if u.role == "sales_rep"
        ]
        self.load = {uid: 0 for uid, _, _ in self.reps}
        self._candidates: dict[tuple[str, str | None], list[int]] = {}

    def _for(self, region: str, industry: str | None) -> list[int]:
        key = (region, industry)
        if key not in self._candidates:
            reps = self.reps
            for pos, wanted in ((1, region), (2, industry)):
                exact = [r for r in reps if wanted is not None and r[pos] == wanted]
                wildcard = [r for r in reps if r[pos] is None]
                if exact or wildcard:
                    reps = exact or wildcard
            self._candidates[key] = [r[0] for r in reps]
        return self._candidates[key]

    def owner(self, region: str, industry: str | None) -> int:
        uid = min(self._for(region, industry), key=lambda r: (self.load[r], r))
        self.load[uid] += 1
        return uid


@dataclass
class Leads:
    cols: dict[str, np.ndarray]  # cust, owner_id, source, status, created, contacted, ...

    def __len__(self) -> int:
        return len(self.cols["cust"])


def _count_before(
    ev_cust: np.ndarray, ev_t: np.ndarray, cust: np.ndarray, t: np.ndarray, days: float
) -> np.ndarray:
    """Events of each lead's customer in the `days` before time t (ev_* sorted by cust, t)."""
    if len(ev_cust) == 0:
        return np.zeros(len(cust), dtype=np.int64)
    key = ev_cust * 10**10 + np.floor(ev_t).astype(np.int64)
    hi = np.searchsorted(key, cust * 10**10 + np.floor(t).astype(np.int64), side="left")
    lo = np.searchsorted(key, cust * 10**10 + np.floor(t - days * DAY).astype(np.int64), "left")
    return hi - lo


def _features(buf: EventBuffer, cust_ids: np.ndarray, created: np.ndarray) -> dict[str, np.ndarray]:
    """Observable counts before each lead, from the events the log will hold (t >= 0)."""
    cust = np.concatenate(buf.cust)
    t = np.concatenate(buf.t)
    typ = np.concatenate(buf.type)
    page = np.concatenate(buf.page)
    seen = t >= 0
    order = np.lexsort((t, cust))
    out = {}
    for name, mask, days in (
        ("pricing_7d", (typ == PAGE_VIEW) & (page == P_PRICING), 7),
        ("pricing_30d", (typ == PAGE_VIEW) & (page == P_PRICING), 30),
        ("product_30d", (typ == PAGE_VIEW) & (page == P_PRODUCT), 30),
        ("docs_30d", (typ == PAGE_VIEW) & (page == P_DOCS), 30),
        ("opens_30d", typ == EMAIL_OPEN, 30),
        ("clicks_30d", typ == EMAIL_CLICK, 30),
    ):
        sel = order[(mask & seen)[order]]
        out[name] = _count_before(cust[sel], t[sel], cust_ids, created, days)
    return out


def p_convert_knowable(p: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """E[P(convert)] over the noise term: the best any observer of the lead can know."""
    z = np.log(p) - np.log1p(-p) - noise
    x, w = np.polynomial.hermite_e.hermegauss(40)  # nodes for a standard normal
    p_at_nodes = 1.0 / (1.0 + np.exp(-(z[:, None] + _NOISE_SD * x[None, :])))
    return p_at_nodes @ w / w.sum()


def true_logit(
    f: dict[str, np.ndarray], size: np.ndarray, industry: np.ndarray, source: np.ndarray
) -> np.ndarray:
    """The observable part of the true log-odds of converting within 30 days."""
    src = np.array(LEAD_SOURCES)[source]
    outbound = src == "outbound"
    return (
        _INTERCEPT
        + 1.1 * np.log1p(f["pricing_7d"])
        + 0.5 * np.log1p(f["pricing_30d"])
        + 0.6 * np.tanh(f["product_30d"] / 3.0)
        + 0.3 * np.sqrt(np.minimum(f["docs_30d"], 4))
        + 0.6 * (f["opens_30d"] > 0)
        + 0.4 * (f["clicks_30d"] > 0)
        - 0.5 * (np.log10(size) - 2.7) ** 2
        + np.array([_INDUSTRY_EFFECT[i] for i in INDUSTRIES])[industry]
        + np.array([_SOURCE_EFFECT[s] for s in LEAD_SOURCES])[source]
        - 0.6 * (outbound & (f["pricing_30d"] == 0))
    )


def arrivals(
    rng: np.random.Generator, c: Customers, window: Window, buf: EventBuffer
) -> dict[str, np.ndarray]:
    """When leads arrive and from where, with the browsing their intent causes beforehand."""
    rate = LEAD_RATE[c.segment] * np.sqrt(c.engagement) / DAY
    lo = np.clip(c.created, 0.0, window.length)
    hi = np.clip(c.death, lo, window.length)
    n = rng.poisson(rate * (hi - lo))
    idx = np.repeat(np.arange(len(c)), n)
    created = lo[idx] + rng.random(len(idx)) * (hi - lo)[idx]
    intent = rng.standard_normal(len(idx))
    source = np.empty(len(idx), dtype=np.int64)
    for seg, p in LEAD_SOURCE_P.items():
        m = c.segment[idx] == seg
        source[m] = rng.choice(len(LEAD_SOURCES), size=int(m.sum()), p=np.array(p))

    k = rng.poisson(np.exp(0.2 + 0.8 * intent))
    rep = np.repeat(np.arange(len(idx)), k)
    lead_in = np.minimum(rng.exponential(8.0 * np.exp(-0.4 * intent[rep])), 30.0) * DAY
    start = np.maximum(created[rep] - lead_in, c.created[idx[rep]])
    add_sessions(
        buf,
        rng,
        c.ids[idx[rep]],
        start,
        "pre_lead",
        mean_pages=2.0 + 0.5 * np.maximum(intent[rep], 0.0),
    )
    # Leads from a form: a visit that ends with the form submission, which is the creation time.
    form = np.isin(source, [LEAD_SOURCES.index(s) for s in FORM_SOURCES])
    f = np.flatnonzero(form)
    traffic = np.array([_SOURCE_TRAFFIC.get(LEAD_SOURCES[s], 0) for s in source[f]], np.int8)
    end = add_sessions(
        buf,
        rng,
        c.ids[idx[f]],
        created[f] - rng.uniform(60, 600, len(f)),
        "pre_lead",
        mean_pages=2.0,
        channel=traffic,
    )
    created[f] = np.minimum(end + 20.0, hi[idx[f]] - 1.0)
    buf.add(c.ids[idx[f]], created[f], FORM_SUBMIT, channel=traffic)
    order = np.argsort(created, kind="stable")
    return {
        "cust": idx[order],
        "created": created[order],
        "intent": intent[order],
        "source": source[order],
    }


def _pipeline(
    rng: np.random.Generator, created: np.ndarray, converted: np.ndarray, window: Window
) -> dict[str, np.ndarray]:
    """Contacted / qualified / closed times and the status as of the window end."""
    n = len(created)
    late = ~converted & (rng.random(n) < 0.06)
    won = converted | late
    close = (
        np.where(
            converted,
            np.clip(rng.gamma(3.0, 4.0, n), 1.5, 29.5),
            np.where(late, rng.uniform(31, 75, n), rng.uniform(3, 60, n)),
        )
        * DAY
    )
    contacted_p = np.where(won, 1.0, 0.9)
    delay = np.minimum(rng.lognormal(np.log(5 * HOUR), 1.2, n), 0.5 * close)
    contacted = np.where(rng.random(n) < contacted_p, created + delay, np.nan)
    qualify = won | (~np.isnan(contacted) & (rng.random(n) < 0.35))
    q_at = contacted + rng.uniform(0.2, 0.8, n) * (created + close - contacted)
    qualified = np.where(qualify & ~np.isnan(contacted), q_at, np.nan)
    closed = created + close
    # As of the window end, later steps have not happened yet.
    for arr in (contacted, qualified, closed):
        arr[arr >= window.length] = np.nan
    status = np.select(
        [~np.isnan(closed) & won, ~np.isnan(closed), ~np.isnan(qualified), ~np.isnan(contacted)],
        ["converted", "lost", "qualified", "contacted"],
        "new",
    ).astype(object)
    return {"contacted": contacted, "qualified": qualified, "closed": closed, "status": status}


def simulate_leads(
    rng: np.random.Generator,
    c: Customers,
    arrived: dict[str, np.ndarray],
    window: Window,
    assigner: Assigner,
    buf: EventBuffer,
) -> Leads:
    """Score the arrived leads with the true model, draw outcomes, assign owners."""
    idx, created = arrived["cust"], arrived["created"]
    f = _features(buf, c.ids[idx], created)
    noise = rng.normal(0.0, _NOISE_SD, len(idx))
    logit = true_logit(f, c.company_size[idx], c.industry[idx], arrived["source"]) + noise
    p = 1.0 / (1.0 + np.exp(-logit))
    converted = rng.random(len(idx)) < p
    owners = np.array(
        [
            assigner.owner(REGIONS[r], INDUSTRIES[i])
            for r, i in zip(c.region[idx].tolist(), c.industry[idx].tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    cols = {
        "cust": idx,
        "created": created,
        "owner_id": owners,
        "source": np.array(LEAD_SOURCES, dtype=object)[arrived["source"]],
        "intent": arrived["intent"],
        "noise": noise,
        "p_convert": p,
        "converted_30d": converted,
        **_pipeline(rng, created, converted, window),
    }
    return Leads(cols)
