"""lead_activity: each lead's company, and what its customer did since the lead arrived.

A lead's first row is stamped at its created_at (touches 0): what was known when it arrived.
Then, on each day of the 90 after arrival (and before it closed, if it did) when the customer
started a session, opened or clicked an e-mail, or viewed the pricing page strictly after the
lead arrived, an end-of-day row carries the counts since arrival. Events come from the same
DuckDB view as customer_behaviour, joined to the leads by customer.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import lead_activity
from features.pipelines.context import BuildContext
from features.pipelines.dayrows import count_days, day_ranges
from features.pipelines.days import US_PER_DAY, day_of
from features.pipelines.schema import NULL_US, assemble

TABLE = lead_activity
ACTIVE_DAYS = 90  # a lead's activity is followed this long after it arrives
TOUCHES = ("session_start", "email_open", "email_click")
_FIRMOGRAPHICS = ("source", "segment", "region", "industry")
_SQL = (
    "SELECT l.id, l.customer_id, l.source, c.segment, c.region, c.industry, c.company_size,"
    " l.created_at, l.closed_at FROM leads l JOIN customers c ON c.id = l.customer_id"
    " WHERE l.created_at < :hi"
)
_KINDS = {
    "id": "int",
    "customer_id": "int",
    "source": "str",
    "segment": "str",
    "region": "str",
    "industry": "str",
    "company_size": "int",
    "created_at": "ts",
    "closed_at": "ts",
}


def activity_sql() -> str:
    touches = ", ".join(f"'{t}'" for t in TOUCHES)
    return (
        f"SELECT l.lead_id, e.us // {US_PER_DAY} AS day,"
        f" count(*) FILTER (WHERE e.type IN ({touches})) AS touches,"
        " count(*) FILTER (WHERE e.type = 'page_view' AND e.page = 'pricing') AS pricing"
        " FROM ev e JOIN leads l ON e.customer_id = l.customer_id"
        " WHERE e.us > l.created_us AND e.us < l.stop_us"
        " GROUP BY ALL HAVING touches > 0 OR pricing > 0"
    )


# What the customer did in the days before the lead arrived, to the exact moment: the signal a
# score at arrival has, which end-of-day behaviour rows (the day before) would miss.
BEFORE = {
    "pricing_views_7d_before": ("e.type = 'page_view' AND e.page = 'pricing'", 7),
    "pricing_views_30d_before": ("e.type = 'page_view' AND e.page = 'pricing'", 30),
    "product_views_30d_before": ("e.type = 'page_view' AND e.page = 'product'", 30),
    "docs_views_30d_before": ("e.type = 'page_view' AND e.page = 'docs'", 30),
    "sessions_30d_before": ("e.type = 'session_start'", 30),
    "email_opens_30d_before": ("e.type = 'email_open'", 30),
    "email_clicks_30d_before": ("e.type = 'email_click'", 30),
}
BEFORE_DAYS = max(days for _, days in BEFORE.values())


def before_sql() -> str:
    counts = ", ".join(
        f"count(*) FILTER (WHERE {cond} AND e.us >= l.created_us - {days * US_PER_DAY}) AS {name}"
        for name, (cond, days) in BEFORE.items()
    )
    return (
        f"SELECT l.lead_id, {counts} FROM ev e JOIN leads l ON e.customer_id = l.customer_id"
        f" WHERE e.us < l.created_us AND e.us >= l.created_us - {BEFORE_DAYS * US_PER_DAY}"
        " GROUP BY l.lead_id"
    )


def read_leads(ctx: BuildContext, first: int | None, last: int) -> pa.Table:
    """Leads that may have rows in [first, last]: created by its end, at most 90 days before."""
    sql, params = _SQL, {"hi": ctx.sources.param(last + 1)}
    if first is not None:
        sql += " AND l.created_at >= :lo"
        params["lo"] = ctx.sources.param(first - ACTIVE_DAYS)
    leads = ctx.sources.fetch(sql + " ORDER BY l.id", params, _KINDS)
    return leads.set_column(6, "company_size", pc.fill_null(leads.column("company_size"), -1))


def build(ctx: BuildContext, first: int | None, last: int) -> Iterator[tuple[int, pa.Table]]:
    """Rows for the days in [first, last] (first=None: from the first lead)."""
    leads = read_leads(ctx, first, last)
    lead_id = leads.column("id").to_numpy()
    created = leads.column("created_at").cast(pa.int64()).to_numpy()
    closed = leads.column("closed_at").cast(pa.int64()).fill_null(NULL_US).to_numpy()
    stop = created + ACTIVE_DAYS * US_PER_DAY
    stop = np.where((closed != NULL_US) & (closed < stop), closed, stop)

    lo = None if first is None else first - ACTIVE_DAYS - BEFORE_DAYS
    with ctx.sources.behaviour_events(lo, last) as con:
        con.register(
            "leads",
            pa.table(
                {
                    "lead_id": lead_id,
                    "customer_id": leads.column("customer_id"),
                    "created_us": created,
                    "stop_us": stop,
                }
            ),
        )
        act = con.execute(activity_sql()).fetchnumpy()
        pre = con.execute(before_sql()).fetchnumpy()
    before = {name: np.zeros(len(lead_id), dtype=np.int64) for name in BEFORE}
    at = np.searchsorted(lead_id, np.asarray(pre["lead_id"]))
    for name in BEFORE:
        before[name][at] = np.asarray(pre[name])
    a_lead, a_day = np.asarray(act["lead_id"]), np.asarray(act["day"])
    order = np.lexsort((a_day, a_lead))
    a_lead, a_day = a_lead[order], a_day[order]
    touches = _cumulative_per(a_lead, np.asarray(act["touches"])[order])
    pricing = _cumulative_per(a_lead, np.asarray(act["pricing"])[order])

    new = day_of(created) >= (first if first is not None else np.iinfo(np.int64).min)
    keep = a_day >= first if first is not None else np.ones(len(a_day), dtype=bool)
    key = np.concatenate([lead_id[new], a_lead[keep]])
    day = np.concatenate([day_of(created[new]), a_day[keep]])
    event_us = np.concatenate([created[new], (a_day[keep] + 1) * US_PER_DAY])
    zeros = np.zeros(int(new.sum()), dtype=np.int64)
    counts = {
        "touches": np.concatenate([zeros, touches[keep]]),
        "pricing_views_since_created": np.concatenate([zeros, pricing[keep]]),
    }
    order = np.lexsort((event_us, key, day))
    key, day, event_us = key[order], day[order], event_us[order]
    counts = {k: v[order] for k, v in counts.items()}
    attrs = leads.take(pa.array(np.searchsorted(lead_id, key)))
    ctx.plan(count_days(day))
    for lo_, hi in day_ranges(day) if len(day) else ():
        values = {
            "customer_id": attrs.column("customer_id").slice(lo_, hi - lo_),
            "company_size": attrs.column("company_size").slice(lo_, hi - lo_),
            "lead_created_at": attrs.column("created_at").slice(lo_, hi - lo_),
        }
        values |= {k: attrs.column(k).slice(lo_, hi - lo_) for k in _FIRMOGRAPHICS}
        values |= {k: v[lo_:hi] for k, v in counts.items()}
        values |= {k: v[np.searchsorted(lead_id, key[lo_:hi])] for k, v in before.items()}
        yield int(day[lo_]), assemble(TABLE, key[lo_:hi], event_us[lo_:hi], ctx.created_us, values)


def _cumulative_per(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of `values` restarting at each new `group` (rows sorted by group)."""
    total = np.cumsum(values.astype(np.int64))
    if len(group) == 0:
        return total
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    offset = np.repeat(np.r_[0, total[starts[1:] - 1]], np.diff(np.r_[starts, len(group)]))
    return total - offset
