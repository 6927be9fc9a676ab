"""build_features: compute the feature tables' dated Parquet files, fully or incrementally.

A full build recomputes every day of a table up to `through` and replaces its directory; an
incremental one computes only the days after the last complete day recorded in _state.json
(at least the `through` day itself, so re-running a day rewrites it). Both compute a day from
the sources alone, the same way, so a full build and any sequence of incremental ones write the
same rows (only `created`, the run's timestamp, differs).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from features.catalog import TABLES
from features.pipelines import behaviour, campaigns, leads, orders, profile
from features.pipelines.context import BuildContext
from features.pipelines.days import to_date, to_day
from features.pipelines.output import DayFiles, Pieces, features_dir, read_state, write_state
from features.pipelines.sources import Sources
from serving.config import Settings

Builder = Callable[[BuildContext, int | None, int], Iterator[tuple[int, pa.Table | Pieces]]]
BUILDERS: dict[str, Builder] = {
    "customer_profile": profile.build,
    "customer_behaviour": behaviour.build,
    "customer_orders": orders.build,
    "customer_campaign_response": campaigns.build_response,
    "customer_send_time": campaigns.build_send_time,
    "lead_activity": leads.build,
}
_USES_EXPOSURES = {"customer_campaign_response", "customer_send_time"}


@dataclass
class TableSummary:
    """What one table's build wrote."""

    name: str
    mode: str  # "full" or "incremental"
    first_day: date | None  # first day computed (None: nothing to compute)
    last_day: date | None
    days: int = 0  # day files written
    rows: int = 0
    bytes: int = 0
    source_rows: int = 0  # source rows read for this table
    seconds: float = 0.0


@dataclass
class BuildSummary:
    """What a build wrote, where, and how fast."""

    out_dir: Path
    through: date | None
    tables: list[TableSummary] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def days(self) -> int:
        return sum(t.days for t in self.tables)

    @property
    def source_rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        if self.through is None:
            return "no source data: nothing to build"
        lines = [f"feature tables through {self.through} in {self.out_dir}:"]
        for t in self.tables:
            span = "up to date" if t.first_day is None else f"{t.first_day} .. {t.last_day}"
            lines.append(
                f"  {t.name:<28} {t.mode:<11} {t.rows:>12,} rows {t.days:>5,} day files "
                f"{t.bytes / 2**20:>8.1f} MiB  {t.seconds:>7.1f} s  ({span})"
            )
        lines.append(
            f"{self.rows:,} rows in {self.days:,} files, {self.seconds:.1f} s, "
            f"{self.rows_per_second:,.0f} rows/s ({self.source_rows:,} source rows read)"
        )
        return "\n".join(lines)


def build_features(
    settings: Settings,
    *,
    tables: Sequence[str] | None = None,
    incremental: bool = False,
    through: date | None = None,
) -> BuildSummary:
    """Build the feature tables (all, or `tables`) up to `through` (default: the last day with
    data in the sources, but never today or later, whose data is not complete yet).

    incremental=True computes only the days after each table's last complete day (a table
    never built is built in full); otherwise each table is rebuilt from scratch.
    """
    names = _table_names(tables)
    started = time.perf_counter()
    root = features_dir(settings.data_dir)
    sources = Sources(settings)
    try:
        last = _last_day(sources, through)
        summary = BuildSummary(out_dir=root, through=None if last is None else to_date(last))
        if last is None:
            return summary
        state = read_state(root) if incremental else {}
        created_us = int(datetime.now(UTC).timestamp() * 1_000_000)
        ctx = BuildContext(sources=sources, created_us=created_us)
        with _progress() as progress:
            for i, name in enumerate(names):
                done = state.get(name)
                first = None if done is None else min(to_day(done) + 1, last)
                summary.tables.append(_build_table(ctx, root, name, first, last, done, progress))
                if not _USES_EXPOSURES & set(names[i + 1 :]):
                    ctx.cache.pop("exposures", None)
        summary.seconds = time.perf_counter() - started
        return summary
    finally:
        sources.close()


def _build_table(
    ctx: BuildContext,
    root: Path,
    name: str,
    first: int | None,
    last: int,
    done: date | None,
    progress: Progress,
) -> TableSummary:
    started = time.perf_counter()
    read_before = ctx.sources.rows_read
    task = progress.add_task(name, total=None)
    ctx.plan = lambda days: progress.update(task, total=days)
    files = DayFiles(root, name, full=first is None)
    summary = TableSummary(name, "full" if first is None else "incremental", None, None)
    try:
        for day, table in BUILDERS[name](ctx, first, last):
            files.write(day, table)
            progress.advance(task)
            summary.first_day = summary.first_day or to_date(day)
            summary.last_day = to_date(day)
        files.commit(first, last)
    except BaseException:
        files.abort()
        raise
    finally:
        ctx.plan = lambda days: None
    through = to_date(last) if done is None else max(done, to_date(last))
    write_state(
        root,
        name,
        {
            "through": through.isoformat(),
            "built_at": datetime.fromtimestamp(ctx.created_us / 1e6, UTC).isoformat(),
            "mode": summary.mode,
        },
    )
    summary.days, summary.rows, summary.bytes = len(files.written), files.rows, files.bytes
    summary.source_rows = ctx.sources.rows_read - read_before
    summary.seconds = time.perf_counter() - started
    return summary


def _table_names(tables: Sequence[str] | None) -> list[str]:
    """The requested tables in catalog order (all when None); unknown names are an error."""
    if tables is None:
        return list(TABLES)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown feature tables {unknown}; known: {', '.join(TABLES)}")
    return [t for t in TABLES if t in set(tables)]


def _last_day(sources: Sources, through: date | None) -> int | None:
    if through is not None:
        return to_day(through)
    last = sources.last_day()
    if last is None:
        return None
    return min(last, to_day(datetime.now(UTC).date()) - 1)


def _progress() -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
