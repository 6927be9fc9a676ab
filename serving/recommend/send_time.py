"""Send-time recommendations: a customer's e-mail history from the online store, the champion
send-time model's priors, and the answer in the customer's own time and in UTC.

The feature store keeps sends and opens by UTC hour-of-week; the model works in local time, so
the arrays are shifted by the customer's offset now (exact except for sends made on the other
side of a DST change).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.send_time import HOURS_OF_WEEK, hour_label, local_how_to_utc, recommend_for
from serving.core.models import Customer
from serving.scoring import ScoringService
from training.send_time import utc_offset_hours, utc_to_local_arrays

HISTORY = ["customer_send_time:sends_by_how", "customer_send_time:opens_by_how"]


@dataclass(frozen=True)
class CustomerRow:
    id: int
    segment: str | None
    timezone: str
    consent_email: bool


def customers(session: Session, ids: Sequence[int]) -> dict[int, CustomerRow]:
    rows = session.execute(
        select(Customer.id, Customer.segment, Customer.timezone, Customer.consent_email).where(
            Customer.id.in_(ids)
        )
    ).all()
    return {r[0]: CustomerRow(r[0], r[1], r[2] or "UTC", bool(r[3])) for r in rows}


def next_at(how_utc: float, after: datetime) -> datetime:
    """The first moment at or after `after` that falls on UTC hour-of-week `how_utc`."""
    monday = (after - timedelta(days=after.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    at = monday + timedelta(hours=float(how_utc))
    return at if at >= after else at + timedelta(days=7)


def _counts(values: list[Any]) -> np.ndarray:
    """168 counts per customer from the online store; none yet (a new customer) is zeros."""
    out = np.zeros((len(values), HOURS_OF_WEEK))
    for i, v in enumerate(values):
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and len(v):
            out[i] = np.asarray(v, dtype=np.float64)
    return out


def recommend(
    scoring: ScoringService, rows: Sequence[CustomerRow], *, now: datetime | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(model label, one recommendation per row) from the send_time champion."""
    model = scoring.model("send_time")
    if model is None:
        raise LookupError("no send_time champion is registered yet: run `lodestar train send_time`")
    now = now or datetime.now(UTC)
    if not rows:
        return model.label, []
    history = scoring.reader("customer", HISTORY).read([r.id for r in rows])
    offsets = utc_offset_hours([r.timezone for r in rows], at=now)
    sends, opens = utc_to_local_arrays(
        _counts(history.iloc[:, 0].tolist()), _counts(history.iloc[:, 1].tolist()), offsets
    )
    recs = recommend_for(
        model.estimator,
        (
            {"customer_id": r.id, "sends": sends[i], "opens": opens[i], "segment": r.segment}
            for i, r in enumerate(rows)
        ),
    )
    out = []
    for r, rec, off, s, o in zip(rows, recs, offsets, sends, opens, strict=True):
        hours = [(rec["best_how"], rec["open_rate"])] + [
            (rec[f"alt_how_{j}"], rec[f"alt_rate_{j}"])
            for j in range(1, 10)
            if f"alt_how_{j}" in rec
        ]
        slots = [_slot(int(h), float(rate), float(off), now) for h, rate in hours]
        out.append(
            {
                "customer_id": r.id,
                "timezone": r.timezone,
                "utc_offset_hours": float(off),
                "best": slots[0],
                "runner_ups": slots[1:],
                "source": rec["source"],
                "evidence": {
                    "own_weight": rec["own_weight"],
                    "segment_weight": rec["segment_weight"],
                    "global_weight": rec["global_weight"],
                    "emails_sent": int(round(float(s.sum()))),
                    "emails_opened": int(round(float(o.sum()))),
                    "segment": r.segment,
                },
                "consent_email": r.consent_email,
            }
        )
    return model.label, out


def _slot(how_local: int, rate: float, offset: float, now: datetime) -> dict[str, Any]:
    how_utc = float(local_how_to_utc(how_local, offset))
    return {
        "hour_of_week_local": how_local,
        "local": hour_label(how_local),
        "hour_of_week_utc": how_utc,
        "utc": _label(how_utc),
        "expected_open_rate": rate,
        "next_send_at": next_at(how_utc, now),
    }


def _label(how: float) -> str:
    minutes = int(round(how * 60)) % (HOURS_OF_WEEK * 60)
    day, rest = divmod(minutes, 24 * 60)
    return f"{hour_label(day * 24)[:3]} {rest // 60:02d}:{rest % 60:02d}"
