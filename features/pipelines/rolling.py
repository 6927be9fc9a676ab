"""Rolling-window totals per entity and day, answered from prefix sums.

Daily totals are sorted by (entity, day) and summed cumulatively once; the total over any window
of days (d - w, d] is then the difference of two prefix sums found by binary search, so a
table's every row and window costs a few vectorised searches, whatever the window's length.
Counts are integers (money in cents), so the differences are exact and a full build and an
incremental one agree to the last bit.
"""

from collections.abc import Mapping, Sequence

import numpy as np

_SPAN = 1 << 21  # days per entity in the composite key (about 5,700 years)
_MARGIN = 400  # room below the first day, for windows that start before it


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; sorting is several times faster than np.unique's hashing here."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def group_rows(
    entity: np.ndarray,
    day: np.ndarray,
    sums: Mapping[str, np.ndarray],
    mins: Mapping[str, np.ndarray] | None = None,
    maxs: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Raw rows -> one row per (entity, day), sorted, with `sums` summed and `mins`/`maxs`
    reduced per group (all returned in one dict)."""
    order = np.lexsort((day, entity))
    entity, day = entity[order], day[order]
    if len(entity) == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        starts = np.flatnonzero(np.r_[True, (np.diff(entity) != 0) | (np.diff(day) != 0)])
    out: dict[str, np.ndarray] = {}
    for values, ufunc in ((sums, np.add), (mins or {}, np.minimum), (maxs or {}, np.maximum)):
        for k, v in values.items():
            v = np.asarray(v)[order]
            out[k] = ufunc.reduceat(v, starts) if len(v) else v
    return entity[starts], day[starts], out


class DailyTotals:
    """One row per (entity, day) with what happened that day, and window sums over them."""

    def __init__(
        self,
        entity: np.ndarray,
        day: np.ndarray,
        totals: Mapping[str, np.ndarray],
        extra: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """`totals` are summed over windows; `extra` columns are only looked up (first/last)."""
        entity = np.asarray(entity, dtype=np.int64)
        day = np.asarray(day, dtype=np.int64)
        order = np.lexsort((day, entity))
        self.entity, self.day = entity[order], day[order]
        self._base = int(self.day.min()) - _MARGIN if len(day) else 0
        self._keys = self._key(self.entity, self.day)
        if len(self._keys) > 1 and not (np.diff(self._keys) > 0).all():
            raise ValueError("daily totals must have one row per (entity, day)")
        self._prefix = {
            k: np.concatenate(([0], np.cumsum(np.asarray(v, dtype=np.int64)[order])))
            for k, v in totals.items()
        }
        self._extra = {k: np.asarray(v)[order] for k, v in (extra or {}).items()}

    def __len__(self) -> int:
        return len(self.entity)

    def _key(self, entity: np.ndarray, day: np.ndarray) -> np.ndarray:
        rel = np.maximum(np.asarray(day, dtype=np.int64) - self._base, 0)
        return np.asarray(entity, dtype=np.int64) * _SPAN + rel

    def due(
        self, offsets: Sequence[int], first: int | None, last: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(entity, day) pairs with a day in [first, last] that is a day with data plus one of
        `offsets` (0 = the day itself, w = the day a w-day window lets it go), sorted by
        (day, entity)."""
        ent = np.concatenate([self.entity] * len(offsets))
        day = np.concatenate([self.day + o for o in offsets])
        keep = day <= last
        if first is not None:
            keep &= day >= first
        ent, day = ent[keep], day[keep]
        if len(ent) == 0:
            return ent, day
        lo, span = int(day.min()), int(ent.max()) + 1
        pair = distinct((day - lo) * span + ent)
        return pair % span, pair // span + lo

    def positions(self, entity: np.ndarray, day: np.ndarray) -> np.ndarray:
        """For each (entity, day): the index just past the entity's rows up to that day."""
        return np.searchsorted(self._keys, self._key(entity, day), side="right")

    def entity_start(self, entity: np.ndarray) -> np.ndarray:
        """For each entity: the index of its first row (for lifetime totals and first values)."""
        return np.searchsorted(self._keys, np.asarray(entity, dtype=np.int64) * _SPAN, side="left")

    def window(self, name: str, end: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Totals of `name` between two `positions` (rows in (start, end])."""
        prefix = self._prefix[name]
        return prefix[end] - prefix[start]

    def extra(self, name: str, pos: np.ndarray) -> np.ndarray:
        """An extra column at row `pos` (e.g. positions(...) - 1: the entity's latest row)."""
        return self._extra[name][pos]
