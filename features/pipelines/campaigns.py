"""customer_campaign_response and customer_send_time: campaign history to date, per customer.

Both read every exposure once per build (shared through the build's cache) and count each event
on the UTC day of its own timestamp: a send on sent_at's day, an open on opened_at's day, and
so on; a message opened later never counts as opened before it was. Send time buckets both
sends and opens by the UTC hour-of-week of the send.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import (
    HOURS_OF_WEEK,
    Table,
    customer_campaign_response,
    customer_send_time,
)
from features.pipelines.context import BuildContext
from features.pipelines.days import US_PER_DAY, day_of
from features.pipelines.output import Pieces
from features.pipelines.rolling import distinct
from features.pipelines.running import DayState, running_totals
from features.pipelines.schema import NULL_US, assemble, table_schema

CHANNELS = ("email", "sms", "push")  # web campaigns send nothing a customer opens
STEPS = (
    ("sends", "sent_at"),
    ("opens", "opened_at"),
    ("clicks", "clicked_at"),
    ("conversions", "converted_at"),
)
_TIMES = ("held_at", "sent_at", "opened_at", "clicked_at", "converted_at")
# held_at: when a holdout was assigned (NULL for the others, so no text is read for them)
_SQL = (
    "SELECT e.customer_id, e.campaign_id,"
    " CASE WHEN e.is_holdout THEN e.assigned_at END AS held_at,"
    " e.sent_at, e.opened_at, e.clicked_at, e.converted_at FROM exposures e"
)
_KINDS = {"customer_id": "int", "campaign_id": "int"} | dict.fromkeys(_TIMES, "ts")
_US_PER_HOUR = 3_600_000_000
_PIECE_ROWS = 50_000  # send-time rows converted to Arrow at once


def exposures(ctx: BuildContext, first: int | None, last: int) -> dict[str, np.ndarray]:
    """The exposures the days in [first, last] need: customer_id, channel (index in CHANNELS,
    -1 for others) and each timestamp as int64 us (NULL_US = none).

    Rows change only for customers with an exposure event in those days, and their totals to
    date need every exposure they ever had: so an incremental build reads exactly those
    customers' exposures (found through the customer_id index), a full build all of them.
    Batches become compact numpy columns as they arrive: the whole result never sits in
    Arrow and numpy at once.
    """
    cache = ctx.cache.setdefault("exposures", {})
    if (first, last) in cache:
        return cache[(first, last)]
    channels = ctx.sources.fetch(
        "SELECT id, channel FROM campaigns", {}, {"id": "int", "channel": "str"}
    )
    code = np.full(int(pc.max(channels.column("id")).as_py() or 0) + 1, -1, dtype=np.int8)
    for cid, ch in zip(
        channels.column("id").to_pylist(), channels.column("channel").to_pylist(), strict=True
    ):
        code[cid] = CHANNELS.index(ch) if ch in CHANNELS else -1
    sql, params = _SQL, {}
    if first is not None:
        times = ("assigned_at", *_TIMES[1:])
        touched = " OR ".join(f"({t} >= :lo AND {t} < :hi)" for t in times)
        sql += f" WHERE e.customer_id IN (SELECT customer_id FROM exposures WHERE {touched})"
        params = {"lo": ctx.sources.param(first), "hi": ctx.sources.param(last + 1)}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("customer_id", "channel", *_TIMES)}
    for batch in ctx.sources.fetch_batches(sql, params, _KINDS):
        parts["customer_id"].append(batch.column("customer_id").to_numpy())
        parts["channel"].append(code[batch.column("campaign_id").to_numpy()])
        for name in _TIMES:
            parts[name].append(batch.column(name).cast(pa.int64()).fill_null(NULL_US).to_numpy())
    out = {
        k: np.concatenate(v) if v else np.zeros(0, dtype=np.int8 if k == "channel" else np.int64)
        for k, v in parts.items()
    }
    cache[(first, last)] = out
    pa.default_memory_pool().release_unused()  # the batches' buffers, back to the system
    return out


def hour_of_week(us: np.ndarray) -> np.ndarray:
    """UTC hour of the week, 0 = Monday 00:00-01:00 (1970-01-01 was a Thursday)."""
    day = day_of(us)
    return ((day + 3) % 7) * 24 + (us - day * US_PER_DAY) // _US_PER_HOUR


def response_columns() -> list[str]:
    return [f"{ch}_{what}" for ch in CHANNELS for what, _ in STEPS] + ["holdout_count"]


def build_response(
    ctx: BuildContext, first: int | None, last: int
) -> Iterator[tuple[int, pa.Table]]:
    """customer_campaign_response rows for the days in [first, last] with any change."""
    names = response_columns()
    entity, day, column, latest = _response_increments(exposures(ctx, first, last))
    ctx.plan(_days_in(day, first, last))
    steps = running_totals(entity, day, column, len(names), first, last, latest=latest)
    del entity, day, column, latest  # running_totals keeps what it needs, and frees the rest
    for s in steps:
        values: dict[str, np.ndarray] = {n: s.counts[:, k] for k, n in enumerate(names)}
        values["last_open_at"] = s.latest
        yield s.day, _day_table(customer_campaign_response, s.day, s.entity, values, ctx)


def _response_increments(
    e: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(customer, day, column, instant for last_open_at or NULL_US), one per counted event."""
    rows, times, opens = [], [], []  # opens: the *_opens columns, which make last_open_at
    for k in range(len(CHANNELS)):
        for what, ts in STEPS:
            r = np.flatnonzero((e["channel"] == k) & (e[ts] != NULL_US))
            if what == "opens":
                opens.append(len(rows))
            rows.append(r)
            times.append(e[ts][r])
    # a holdout counts whatever the campaign's channel, on the day it was assigned
    r = np.flatnonzero(e["held_at"] != NULL_US)
    rows.append(r)
    times.append(e["held_at"][r])
    entity = np.concatenate([e["customer_id"][r] for r in rows])
    us = np.concatenate(times)
    column = np.concatenate([np.full(len(r), c, dtype=np.int16) for c, r in enumerate(rows)])
    latest = np.where(np.isin(column, opens), us, NULL_US)
    return entity, day_of(us), column, latest


def build_send_time(
    ctx: BuildContext, first: int | None, last: int
) -> Iterator[tuple[int, pa.Table]]:
    """customer_send_time rows for the days in [first, last] with an e-mail sent or opened."""
    entity, day, column = _send_time_increments(exposures(ctx, first, last))
    ctx.plan(_days_in(day, first, last))
    steps = running_totals(entity, day, column, 2 * HOURS_OF_WEEK, first, last, small=True)
    del entity, day, column
    for s in steps:
        yield s.day, _send_time_pieces(s, ctx.created_us)


def _send_time_pieces(s: DayState, created_us: int) -> Pieces:
    """A day's rows, converted to Arrow a slice at a time on the writer thread: a campaign day
    can change a million customers, whose 336 int64s each would take 2.7 GB at once."""
    end_us = (s.day + 1) * US_PER_DAY

    def tables() -> Iterator[pa.Table]:
        for lo in range(0, len(s.entity), _PIECE_ROWS):
            counts = s.counts[lo : lo + _PIECE_ROWS]
            yield assemble(
                customer_send_time,
                s.entity[lo : lo + _PIECE_ROWS],
                np.full(len(counts), end_us, dtype=np.int64),
                created_us,
                {
                    "sends_by_how": counts[:, :HOURS_OF_WEEK],
                    "opens_by_how": counts[:, HOURS_OF_WEEK:],
                },
            )

    piece = min(len(s.entity), _PIECE_ROWS) * 2 * HOURS_OF_WEEK * 8
    return Pieces(table_schema(customer_send_time), tables(), s.counts.nbytes + 2 * piece)


def _send_time_increments(e: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, day, column): a send adds to column how(sent_at) on its day, an open to
    168 + how(sent_at) on the open's day."""
    sent = np.flatnonzero((e["channel"] == CHANNELS.index("email")) & (e["sent_at"] != NULL_US))
    opened = sent[e["opened_at"][sent] != NULL_US]
    entity = np.concatenate([e["customer_id"][sent], e["customer_id"][opened]])
    day = day_of(np.concatenate([e["sent_at"][sent], e["opened_at"][opened]]))
    how = hour_of_week(e["sent_at"][sent])
    column = np.concatenate([how, HOURS_OF_WEEK + how[e["opened_at"][sent] != NULL_US]])
    return entity, day, column.astype(np.int16)


def _days_in(day: np.ndarray, first: int | None, last: int) -> int:
    keep = day <= last if first is None else (day >= first) & (day <= last)
    return len(distinct(day[keep]))


def _day_table(
    table: Table, day: int, entity: np.ndarray, values: dict[str, np.ndarray], ctx: BuildContext
) -> pa.Table:
    n = len(entity)
    end = np.full(n, (day + 1) * US_PER_DAY, dtype=np.int64)
    return assemble(table, entity, end, ctx.created_us, values)
