"""customer_orders: recency, frequency and money over 30/90/365 days and lifetime.

Orders are few beside events, so every build reads them all up to its last day (lifetime totals
and first orders need them) and sums them per customer and day; money is summed in integer
cents, so rolling differences are exact. Rows are due on each day with an order and on each
day a window lets one go (a+30, a+90, a+365).
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from features.catalog import ORDER_WINDOWS, customer_orders
from features.pipelines.context import BuildContext
from features.pipelines.dayrows import batches_by_day, count_days, end_of_day_tables
from features.pipelines.days import day_of
from features.pipelines.rolling import DailyTotals, group_rows

TABLE = customer_orders
_SQL = (
    "SELECT customer_id, ordered_at, CAST(ROUND(amount * 100) AS BIGINT) AS cents,"
    " CASE WHEN coupon_code IS NULL OR coupon_code = '' THEN 0 ELSE 1 END AS coupon"
    " FROM orders WHERE ordered_at < :hi"
)


def daily_totals(ctx: BuildContext, first: int | None, last: int) -> DailyTotals:
    """Per (customer, day) orders of the customers with rows due in [first, last].

    A customer has a row due on day d only after an order on d, d-30, d-90 or d-365; an
    incremental build reads just those customers' orders (all of them: lifetime totals need
    them), through the (customer_id, ordered_at) index.
    """
    sql, params = _SQL, {"hi": ctx.sources.param(last + 1)}
    if first is not None:
        spans = []
        for k, o in enumerate((0, *ORDER_WINDOWS)):
            spans.append(f"(ordered_at >= :lo{k} AND ordered_at < :hi{k})")
            params[f"lo{k}"] = ctx.sources.param(first - o)
            params[f"hi{k}"] = ctx.sources.param(last - o + 1)
        sql += f" AND customer_id IN (SELECT customer_id FROM orders WHERE {' OR '.join(spans)})"
    t = ctx.sources.fetch(
        sql, params, {"customer_id": "int", "ordered_at": "ts", "cents": "int", "coupon": "int"}
    )
    customer = t.column("customer_id").to_numpy()
    us = t.column("ordered_at").cast(pa.int64()).to_numpy()
    entity, days, g = group_rows(
        customer,
        day_of(us),
        sums={
            "orders": np.ones(len(us), dtype=np.int64),
            "cents": t.column("cents").to_numpy(),
            "coupons": t.column("coupon").to_numpy(),
        },
        mins={"first_us": us},
        maxs={"last_us": us},
    )
    extra = {k: g.pop(k) for k in ("first_us", "last_us")}
    return DailyTotals(entity, days, g, extra=extra)


def build(ctx: BuildContext, first: int | None, last: int) -> Iterator[tuple[int, pa.Table]]:
    """Rows for the days in [first, last] (first=None: from the first order)."""
    totals = daily_totals(ctx, first, last)
    customer, day = totals.due((0, *ORDER_WINDOWS), first, last)
    ctx.plan(count_days(day))
    for lo, hi in batches_by_day(day):
        c, d = customer[lo:hi], day[lo:hi]
        end, begin = totals.positions(c, d), totals.entity_start(c)
        values: dict[str, np.ndarray] = {}
        for w in ORDER_WINDOWS:
            start = totals.positions(c, d - w)
            values[f"orders_{w}d"] = totals.window("orders", end, start)
            values[f"revenue_{w}d"] = totals.window("cents", end, start) / 100
        n = totals.window("orders", end, begin)
        cents = totals.window("cents", end, begin)
        with np.errstate(divide="ignore", invalid="ignore"):  # n is 0 only without orders
            values["avg_order_value"] = np.where(n > 0, cents / n / 100, np.nan)
            values["coupon_use_rate"] = np.where(
                n > 0, totals.window("coupons", end, begin) / n, np.nan
            )
        values["orders_total"] = n
        values["revenue_total"] = cents / 100
        values["first_order_at"] = totals.extra("first_us", begin)
        values["last_order_at"] = totals.extra("last_us", end - 1)
        yield from end_of_day_tables(TABLE, c, d, values, ctx.created_us)
