"""Running totals per entity, advanced day by day: for tables that count everything to date.

Increments (entity, day, column) are applied in day order to a dense state of counters, one row
per entity; after each day the rows of the entities that changed are handed out. A build that
starts later first applies every increment before its first day, so the state it starts from
is exactly the one a full build would have reached (integer counts: no rounding to drift).
"""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from features.pipelines.schema import NULL_US


@dataclass
class DayState:
    day: int
    entity: np.ndarray  # the entities that changed that day, ascending
    counts: np.ndarray  # their counters to date, one row each (a copy; uint16 when small)
    latest: np.ndarray | None  # their latest tracked instant to date (NULL_US: none yet)


def running_totals(
    entity: np.ndarray,
    day: np.ndarray,
    column: np.ndarray,
    width: int,
    first: int | None,
    last: int,
    *,
    latest: np.ndarray | None = None,
    small: bool = False,
) -> Iterator[DayState]:
    """Yield the changed entities' totals after each day in [first, last] with increments.

    Each increment adds 1 to counter `column` of its entity on its day; `latest` (optional,
    NULL_US where an increment has none) is an instant whose running maximum is tracked too.
    small=True keeps the counters in uint16 (a quarter of int64's memory, for wide states)
    and widens them to int64 before a day that could overflow them.
    The arrays passed in are dropped as soon as they are reordered: a caller that keeps no
    reference of its own frees them.
    """
    keep = day <= last
    entity, day, column = entity[keep], day[keep], column[keep]
    instants = None if latest is None else latest[keep]
    del latest
    ids, idx = np.unique(entity, return_inverse=True)
    del entity
    order = np.lexsort((idx, day))
    idx, day, column = idx[order], day[order], column[order]
    instants = None if instants is None else instants[order]
    del order, keep
    state = np.zeros((len(ids), width), dtype=np.uint16 if small else np.int64)
    top = np.full(len(ids), NULL_US, dtype=np.int64)
    peak = 0  # the largest counter so far, while they are uint16
    cuts = np.flatnonzero(np.diff(day)) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(day)].tolist(), strict=True):
        if hi <= lo:
            continue
        i = idx[lo:hi]
        starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])  # i is sorted within the day
        changed = i[starts]
        if state.dtype == np.uint16:  # no counter can grow by more than its entity's events
            most = int(np.diff(np.r_[starts, len(i)]).max())
            if peak + most > np.iinfo(np.uint16).max:
                state = state.astype(np.int64)
        np.add.at(state, (i, column[lo:hi]), 1)
        if instants is not None:
            np.maximum.at(top, i, instants[lo:hi])
        counts = state[changed]
        if state.dtype == np.uint16:
            peak = max(peak, int(counts.max()))
        if first is None or day[lo] >= first:
            yield DayState(
                int(day[lo]),
                ids[changed],
                counts,
                None if instants is None else top[changed],
            )
