"""customer_behaviour: web and e-mail behaviour over rolling 1/7/30/90-day windows.

Daily counts per customer come from one DuckDB GROUP BY over the event log partitions (and the
API-ingested events) the days need; the windows are then swept day by day (sliding.py).
A row is due on each day with activity and on each day a window lets an active day go (a+1,
a+7, a+30, a+90), so a row that says the counts fell to zero is written too.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from features.catalog import BEHAVIOUR_WINDOWS, customer_behaviour
from features.pipelines.context import BuildContext
from features.pipelines.days import US_PER_DAY
from features.pipelines.rolling import distinct
from features.pipelines.schema import assemble
from features.pipelines.sliding import WindowDay, sliding_sums

TABLE = customer_behaviour
# metric -> the events it counts (DuckDB SQL over the `ev` view)
METRICS = {
    "sessions": "type = 'session_start'",
    "page_views": "type = 'page_view'",
    "pricing_views": "type = 'page_view' AND page = 'pricing'",
    "product_views": "type = 'page_view' AND page = 'product'",
    "email_opens": "type = 'email_open'",
    "email_clicks": "type = 'email_click'",
}


def daily_sql() -> str:
    """Counts per (customer, day), in that order; int32 counts halve the result's memory."""
    counts = ",\n  ".join(
        f"count(*) FILTER (WHERE {cond})::INTEGER AS {m}" for m, cond in METRICS.items()
    )
    return (
        f"SELECT customer_id, us // {US_PER_DAY} AS day,\n  {counts},\n  max(us) AS last_us\n"
        "FROM ev GROUP BY ALL ORDER BY day, customer_id"
    )


def daily_counts(ctx: BuildContext, first: int | None, last: int) -> dict[str, np.ndarray]:
    """Per (customer, day) counts for every day the rows in [first, last] look at."""
    lo = None if first is None else first - max(BEHAVIOUR_WINDOWS)
    with ctx.sources.behaviour_events(lo, last) as con:
        d = con.execute(daily_sql()).fetchnumpy()
    return {k: np.asarray(v) for k, v in d.items()}


def windows(daily: dict[str, np.ndarray], first: int | None, last: int) -> Iterator[WindowDay]:
    """The due rows of each day in [first, last], from `daily_counts` (which it empties, so
    the sweep alone holds the arrays)."""
    values = np.column_stack([daily.pop(m) for m in METRICS])
    return sliding_sums(
        daily.pop("customer_id"),
        daily.pop("day"),
        values,
        daily.pop("last_us").astype(np.int64),
        BEHAVIOUR_WINDOWS,
        first,
        last,
    )


def build(ctx: BuildContext, first: int | None, last: int) -> Iterator[tuple[int, pa.Table]]:
    """Rows for the days in [first, last] (first=None: from the first day with data)."""
    daily = daily_counts(ctx, first, last)
    due = distinct(np.concatenate([daily["day"] + o for o in (0, *BEHAVIOUR_WINDOWS)]))
    ctx.plan(int(((due <= last) & (due >= (first if first is not None else -(2**62)))).sum()))
    del due
    steps = windows(daily, first, last)
    names = [f"{m}_{w}d" for w in BEHAVIOUR_WINDOWS for m in METRICS]
    for w in steps:
        values: dict[str, np.ndarray] = {n: w.sums[:, k] for k, n in enumerate(names)}
        values["last_activity_at"] = w.latest
        end = np.full(len(w.entity), (w.day + 1) * US_PER_DAY, dtype=np.int64)
        yield w.day, assemble(TABLE, w.entity, end, ctx.created_us, values)
