"""Behaviour on the site and in the inbox: sessions, page views, forms and e-mail events.

Events accumulate in an `EventBuffer` as small integer codes (cheap to build in numpy) and turn
into the Parquet event log's string columns only once, per chunk. Visits have a daily and
weekly rhythm in the customer's local time, and part of them cluster around the customer's
preferred hour, which is one of the ways send-time models can find that hour.
"""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from serving.simulator.customers import Customers
from serving.simulator.timebase import DAY, TzTable, Window
from serving.simulator.world import PAGE_MIX, PAGES, TRAFFIC, TRAFFIC_P, activity_how_profile

EVENT_TYPES = (
    "session_start",
    "page_view",
    "email_sent",
    "email_open",
    "email_click",
    "form_submit",
)
SESSION_START, PAGE_VIEW, EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK, FORM_SUBMIT = range(6)
CHANNELS = (*TRAFFIC, "email")
CH_EMAIL = len(TRAFFIC)
NONE = -1

EVENT_LOG_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("type", pa.string()),
        ("page", pa.string()),
        ("channel", pa.string()),
        ("campaign_id", pa.int64()),
        ("session_id", pa.int64()),
    ]
)

_BROWSE_RATE = 0.05  # sessions per day at engagement 1
_DEAD_ACTIVITY = 0.03  # share of that rate left once a customer has churned
_PAGE_GAP_S = 75.0


@dataclass
class EventBuffer:
    """Events of one chunk as parallel code arrays; `session` is local to the chunk (0 = none)."""

    cust: list[np.ndarray] = field(default_factory=list)
    t: list[np.ndarray] = field(default_factory=list)
    type: list[np.ndarray] = field(default_factory=list)
    page: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)
    campaign: list[np.ndarray] = field(default_factory=list)
    session: list[np.ndarray] = field(default_factory=list)
    n_sessions: int = 0

    def add(
        self,
        cust: np.ndarray,
        t: np.ndarray,
        type_: int | np.ndarray,
        page: int | np.ndarray = NONE,
        channel: int | np.ndarray = NONE,
        campaign: int | np.ndarray = 0,
        session: int | np.ndarray = 0,
    ) -> None:
        n = len(cust)
        if n == 0:
            return

        def col(v: int | np.ndarray, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(v, dtype=dtype), (n,))

        self.cust.append(np.asarray(cust, dtype=np.int64))
        self.t.append(np.asarray(t, dtype=np.float64))
        self.type.append(col(type_, np.int8))
        self.page.append(col(page, np.int8))
        self.channel.append(col(channel, np.int8))
        self.campaign.append(col(campaign, np.int64))
        self.session.append(col(session, np.int64))

    def page_views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(customer id, time, page code) of every page view so far."""
        types = np.concatenate(self.type)
        m = types == PAGE_VIEW
        return (
            np.concatenate(self.cust)[m],
            np.concatenate(self.t)[m],
            np.concatenate(self.page)[m],
        )

    def to_table(self, window: Window, session_base: int) -> pa.Table:
        """Events inside the window, in time order, as an Arrow table of the event log schema."""
        t = np.concatenate(self.t)
        keep = (t >= 0) & (t < window.length)
        cust = np.concatenate(self.cust)[keep]
        t = t[keep]
        order = np.lexsort((cust, t))  # stable: ties keep their generation order
        cols = {
            k: np.concatenate(getattr(self, k))[keep][order]
            for k in ("type", "page", "channel", "campaign", "session")
        }
        session = cols["session"]
        campaign = cols["campaign"]
        return pa.table(
            [
                pa.array(cust[order], pa.int64()),
                pa.array(window.to_us(t[order]), pa.timestamp("us", tz="UTC")),
                _strings(cols["type"], EVENT_TYPES),
                _strings(cols["page"], PAGES),
                _strings(cols["channel"], CHANNELS),
                pa.array(campaign, pa.int64(), mask=campaign == 0),
                pa.array(session + session_base, pa.int64(), mask=session == 0),
            ],
            schema=EVENT_LOG_SCHEMA,
        )


def _strings(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    idx = pa.array(codes, pa.int8(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(idx, pa.array(names)).cast(pa.string())


def add_sessions(
    buf: EventBuffer,
    rng: np.random.Generator,
    cust: np.ndarray,
    start: np.ndarray,
    mix: str,
    *,
    mean_pages: float | np.ndarray = 1.6,
    channel: int | np.ndarray | None = None,
    campaign: int | np.ndarray = 0,
    last_page: int | None = None,
) -> np.ndarray:
    """Sessions starting at `start`: a session_start then page views drawn from a page mix.

    Returns the time each session ends (its last page view), for callers that hang an event
    such as a form submission or an order on it.
    """
    n = len(cust)
    if n == 0:
        return np.empty(0)
    sid = np.arange(buf.n_sessions + 1, buf.n_sessions + n + 1, dtype=np.int64)
    buf.n_sessions += n
    if channel is None:
        channel = rng.choice(len(TRAFFIC), size=n, p=TRAFFIC_P).astype(np.int8)
    ch = np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,))
    camp = np.broadcast_to(np.asarray(campaign, dtype=np.int64), (n,))
    buf.add(cust, start, SESSION_START, NONE, ch, camp, sid)

    k = 1 + rng.poisson(np.broadcast_to(mean_pages, (n,)))
    rep = np.repeat(np.arange(n), k)
    gaps = rng.exponential(_PAGE_GAP_S, len(rep))
    csum = np.cumsum(gaps)
    first = np.cumsum(k) - k
    before = np.repeat(csum[first] - gaps[first], k)
    t = start[rep] + (csum - before)
    pages = rng.choice(len(PAGES), size=len(rep), p=np.array(PAGE_MIX[mix]))
    if last_page is not None:
        pages[np.cumsum(k) - 1] = last_page
    buf.add(cust[rep], t, PAGE_VIEW, pages, ch[rep], camp[rep], sid[rep])
    return t[np.cumsum(k) - 1]


def _place_visits(
    rng: np.random.Generator, c: Customers, idx: np.ndarray, t_ref: np.ndarray, tzt: TzTable
) -> np.ndarray:
    """Move visits to a local hour-of-week: usually the segment rhythm, sometimes their own."""
    how = np.empty(len(idx))
    business = c.business[idx]
    for flag in (False, True):
        m = business == flag
        how[m] = rng.choice(168, size=int(m.sum()), p=activity_how_profile(flag))
    own = rng.random(len(idx)) < 0.3
    how[own] = c.preferred_how_local[idx[own]] + rng.normal(0.0, 1.5, int(own.sum()))
    how = how + rng.random(len(idx))
    return tzt.place_in_week(t_ref, c.tz[idx], how)


def background_sessions(
    buf: EventBuffer, rng: np.random.Generator, c: Customers, window: Window, tzt: TzTable
) -> None:
    """Browsing driven by engagement; a trickle keeps on after a customer churns."""
    rate = _BROWSE_RATE * c.engagement * np.where(c.business, 1.3, 1.0) / DAY
    lo = np.clip(c.created, 0.0, window.length)
    mid = np.clip(c.death, lo, window.length)
    spans = ((lo, mid, rate), (mid, np.full(len(c), window.length), rate * _DEAD_ACTIVITY))
    for a, b, r in spans:
        n = rng.poisson(r * (b - a))
        idx = np.repeat(np.arange(len(c)), n)
        t_ref = a[idx] + rng.random(len(idx)) * (b - a)[idx]
        t = _place_visits(rng, c, idx, t_ref, tzt)
        t = np.where((t >= a[idx]) & (t < b[idx]), t, t_ref)
        for flag, mix in ((False, "browse_b2c"), (True, "browse_b2b")):
            m = c.business[idx] == flag
            add_sessions(
                buf, rng, c.ids[idx[m]], t[m], mix, mean_pages=1.6 * c.engagement[idx[m]] ** 0.3
            )
