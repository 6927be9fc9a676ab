"""UTC days as integers (days since 1970-01-01), and the microsecond instants they start at.

Every pipeline works on epoch microseconds (int64) and epoch days: integer arithmetic is exact,
has no time zone to get wrong, and vectorises.
"""

from datetime import UTC, date, datetime, timedelta

import numpy as np

US_PER_DAY = 86_400_000_000
EPOCH = date(1970, 1, 1)


def day_of(us: np.ndarray) -> np.ndarray:
    """The UTC day each instant falls on (floor division, so it is right before 1970 too)."""
    return np.floor_divide(np.asarray(us, dtype=np.int64), US_PER_DAY)


def to_day(d: date) -> int:
    return (d - EPOCH).days


def to_date(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def to_datetime(day: int) -> datetime:
    """Midnight UTC at the start of `day`, as an aware datetime (for SQL parameters)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(day))
