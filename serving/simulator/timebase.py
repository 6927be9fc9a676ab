"""Simulated time: a fixed window, seconds as floats, and local hour-of-week per time zone.

Every simulated instant is a float64 number of seconds since the window start, which keeps the
vectorised maths simple; it becomes an int64 count of microseconds since the Unix epoch (UTC)
only when written. The window ends at a fixed date, so the same arguments give the same world
whatever day the simulator runs on.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

WINDOW_END = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86_400.0
HOUR = 3_600.0
WEEK_HOURS = 168
# 1970-01-01 was a Thursday: add three days of hours so that hour-of-week 0 is Monday 00:00.
_EPOCH_HOW_SHIFT = 72
# Time-zone offsets are tabulated this far around the window (orders and truths look ahead).
_PAD_BEFORE_DAYS = 2
_PAD_AFTER_DAYS = 130


@dataclass(frozen=True)
class Window:
    """The simulated period: `days` days ending at WINDOW_END."""

    days: int

    @property
    def end(self) -> datetime:
        return WINDOW_END

    @property
    def start(self) -> datetime:
        return WINDOW_END - timedelta(days=self.days)

    @property
    def length(self) -> float:
        """Seconds from start to end."""
        return self.days * DAY

    @property
    def start_epoch_s(self) -> int:
        return int(self.start.timestamp())

    def to_us(self, t: np.ndarray) -> np.ndarray:
        """Window seconds -> int64 epoch microseconds (UTC), rounded to the microsecond."""
        return self.start_epoch_s * 1_000_000 + np.rint(np.asarray(t) * 1e6).astype(np.int64)

    def at(self, t: float) -> datetime:
        """One window time as an aware UTC datetime (for the handful of calendar rows)."""
        return self.start + timedelta(microseconds=round(t * 1e6))

    def seconds(self, when: datetime) -> float:
        return (when - self.start).total_seconds()

    def day_start(self, t: float) -> date:
        return (self.start + timedelta(seconds=t)).date()


class TzTable:
    """UTC offset (seconds) of each zone at every UTC hour around the window, DST included.

    Looking offsets up in a table is what makes local time vectorisable: zoneinfo answers one
    datetime at a time.
    """

    def __init__(self, window: Window, zones: tuple[str, ...]) -> None:
        self.window = window
        self.zones = zones
        first = pd.Timestamp(window.start) - pd.Timedelta(days=_PAD_BEFORE_DAYS)
        hours = pd.date_range(
            first, pd.Timestamp(window.end) + pd.Timedelta(days=_PAD_AFTER_DAYS), freq="h"
        )
        naive_utc = hours.tz_localize(None)
        self._first_t = window.seconds(first.to_pydatetime())
        self._offsets = np.stack(
            [
                (hours.tz_convert(z).tz_localize(None) - naive_utc).total_seconds().to_numpy()
                for z in zones
            ]
        )

    def offset(self, t: np.ndarray, tz: np.ndarray) -> np.ndarray:
        """Offset in seconds of zone index `tz` at window time `t` (both arrays, same shape)."""
        idx = np.floor((np.asarray(t) - self._first_t) / HOUR).astype(np.int64)
        idx = np.clip(idx, 0, self._offsets.shape[1] - 1)
        return self._offsets[tz, idx]

    def offset_at_end(self, tz: np.ndarray) -> np.ndarray:
        return self.offset(np.full(np.shape(tz), self.window.length), tz)

    def local_how(self, t: np.ndarray, tz: np.ndarray) -> np.ndarray:
        """Local hour-of-week (0 = Monday 00:00 local) of window times `t`."""
        local_h = np.floor((self.window.start_epoch_s + t + self.offset(t, tz)) / HOUR)
        return ((local_h + _EPOCH_HOW_SHIFT) % WEEK_HOURS).astype(np.int64)

    def place_in_week(self, t_ref: np.ndarray, tz: np.ndarray, how: np.ndarray) -> np.ndarray:
        """The window time at local hour-of-week `how` (float hours) in the local week of `t_ref`.

        The offset at `t_ref` is used throughout, so a week that crosses a DST change can land
        an hour off; nothing downstream needs better than that.
        """
        off = self.offset(t_ref, tz)
        local_s = self.window.start_epoch_s + t_ref + off
        into_week_h = np.mod(local_s / HOUR + _EPOCH_HOW_SHIFT, WEEK_HOURS)
        return t_ref - into_week_h * HOUR + how * HOUR


def utc_how_of_local(how_local: np.ndarray, offset_s: np.ndarray) -> np.ndarray:
    """Convert a local hour-of-week to UTC given a zone's offset in seconds."""
    return np.mod(np.asarray(how_local) - np.rint(offset_s / HOUR), WEEK_HOURS).astype(np.int64)


def circular_hours(a: np.ndarray, b: np.ndarray, period: int = WEEK_HOURS) -> np.ndarray:
    """Distance in hours between two hour-of-week (or hour-of-day) values on a circle."""
    d = np.mod(np.asarray(a, dtype=np.float64) - b, period)
    return np.minimum(d, period - d)
