"""Cutting rows sorted by (day, entity) into batches of whole days and into one table per day."""

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from features.catalog import Table
from features.pipelines.days import US_PER_DAY
from features.pipelines.schema import assemble

BATCH_ROWS = 1_000_000  # rows computed at once: bounds memory, keeps numpy calls large


def day_ranges(day: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) index ranges of each day in a day-sorted array."""
    cuts = np.flatnonzero(np.diff(day)) + 1
    yield from zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(day)].tolist(), strict=True)


def count_days(day: np.ndarray) -> int:
    """How many distinct days a day-sorted array holds."""
    return int(np.count_nonzero(np.diff(day))) + 1 if len(day) else 0


def batches_by_day(day: np.ndarray, max_rows: int = BATCH_ROWS) -> Iterator[tuple[int, int]]:
    """[lo, hi) ranges of whole days, each about `max_rows` rows (a bigger day goes alone)."""
    start = end = 0
    for lo, hi in day_ranges(day) if len(day) else ():
        if hi - start > max_rows and end > start:
            yield start, end
            start = lo
        end = hi
    if end > start:
        yield start, end


def end_of_day_tables(
    table: Table,
    entity: np.ndarray,
    day: np.ndarray,
    values: Mapping[str, Any],
    created_us: int,
) -> Iterator[tuple[int, pa.Table]]:
    """Rows sorted by (day, entity) -> (day, table) per day, stamped at the end of the day."""
    for lo, hi in day_ranges(day) if len(day) else ():
        d = int(day[lo])
        yield (
            d,
            assemble(
                table,
                entity[lo:hi],
                np.full(hi - lo, (d + 1) * US_PER_DAY, dtype=np.int64),
                created_us,
                {k: v[lo:hi] for k, v in values.items()},
            ),
        )
