"""Sliding-window sums per entity, swept day by day over a dense state.

Daily rows (one per entity and day) enter every window on their day and leave a w-day window on
day + w; after each day, the windows of the entities that are due are read off the state. Each
daily row is touched once per window on the way in and once on the way out, and the state has
one contiguous row per entity, so this runs at memory speed, whatever the windows' lengths.
Counts are integers, so a sweep that starts later (an incremental build, from the first day its
windows need) reaches exactly the same sums.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from features.pipelines.rolling import distinct
from features.pipelines.schema import NULL_US


@dataclass
class WindowDay:
    day: int
    entity: np.ndarray  # the entities due that day, ascending
    sums: np.ndarray  # their window sums: one row each, window-major (all metrics of window 0..)
    latest: np.ndarray  # their latest instant up to the end of the day (NULL_US: none)


def sliding_sums(
    entity: np.ndarray,
    day: np.ndarray,
    values: np.ndarray,
    latest: np.ndarray,
    windows: Sequence[int],
    first: int | None,
    last: int,
) -> Iterator[WindowDay]:
    """Window sums for every (entity, day) due in [first, last].

    Input: one row per (entity, day), `values` a (rows, metrics) integer array and `latest`
    the day's latest instant. A row is due on its day and on the day each window lets it go;
    sums cover the days (d - w, d], so the input must hold every day from first - max(w).
    """
    if len(day) == 0:
        return
    step_day, step_entity = np.diff(day), np.diff(entity)
    if not ((step_day > 0) | ((step_day == 0) & (step_entity > 0))).all():
        order = np.lexsort((entity, day))
        entity, day, values, latest = entity[order], day[order], values[order], latest[order]
    del step_day, step_entity
    ids, idx = np.unique(entity, return_inverse=True)
    del entity
    metrics, width = values.shape[1], values.shape[1] * len(windows)
    state = np.zeros((len(ids), width), dtype=np.int64)
    top = np.full(len(ids), NULL_US, dtype=np.int64)
    days, starts = np.unique(day, return_index=True)
    bounds = {
        int(d): (int(lo), int(hi))
        for d, lo, hi in zip(days, starts, np.r_[starts[1:], len(day)], strict=True)
    }
    offsets = (0, *windows)
    for d in range(int(days[0]), last + 1):
        if d in bounds:
            lo, hi = bounds[d]
            state[idx[lo:hi]] += np.tile(values[lo:hi], (1, len(windows)))  # enters them all
            top[idx[lo:hi]] = latest[lo:hi]  # days come in order: the day's latest is the latest
        for k, w in enumerate(windows):
            if d - w in bounds:
                lo, hi = bounds[d - w]
                state[idx[lo:hi], k * metrics : (k + 1) * metrics] -= values[lo:hi]
        if first is not None and d < first:
            continue
        due = [idx[slice(*bounds[d - o])] for o in offsets if d - o in bounds]
        if due:
            rows = distinct(np.concatenate(due))
            yield WindowDay(d, ids[rows], state[rows], top[rows])
