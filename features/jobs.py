"""The feature-store jobs behind `lodestar features apply | materialize`, with their summaries."""

from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

import duckdb

from features.catalog import TABLES
from features.repo.definitions import definitions
from features.store import open_store, paths, render_yaml
from serving.config import Settings

# Older than any data we hold: a full materialization starts here.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ApplySummary:
    objects: dict[str, int]
    registry: str
    yaml: str

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.objects.items())
        return f"applied {counts}\nregistry: {self.registry}\nconfig:   {self.yaml}"


def apply_repo(settings: Settings) -> ApplySummary:
    yaml_path = render_yaml(settings)
    store = open_store(settings)
    d = definitions(paths(settings).features_dir)
    store.apply(d.objects())
    return ApplySummary(
        objects={
            "entities": len(d.entities),
            "feature views": len(d.views),
            "on-demand views": len(d.on_demand),
            "feature services": len(d.services),
        },
        registry=str(paths(settings).feast_dir / "registry.db"),
        yaml=str(yaml_path),
    )


@dataclass(frozen=True)
class MaterializeSummary:
    start: datetime | None
    end: datetime
    entities: dict[str, int]
    seconds: float
    online_store: str

    def __str__(self) -> str:
        total = sum(self.entities.values())
        span = f"{self.start:%Y-%m-%d %H:%M}" if self.start else "last run"
        lines = [f"materialized {span} .. {self.end:%Y-%m-%d %H:%M} UTC into {self.online_store}"]
        lines += [f"  {name}: {n:,} entities" for name, n in self.entities.items()]
        lines.append(
            f"{total:,} entity rows in {self.seconds:.1f} s "
            f"({total / max(self.seconds, 1e-9):,.0f} rows/s)"
        )
        return "\n".join(lines)


def entities_in_tables(settings: Settings, end: datetime, start: datetime | None) -> dict[str, int]:
    """How many entities each table has rows for in the window: what materialize writes."""
    fdir = paths(settings).features_dir
    counts = {}
    con = duckdb.connect()
    for name, t in TABLES.items():
        files = sorted((fdir / name).glob("*.parquet"))
        if not files:
            counts[name] = 0
            continue
        lo = start or EPOCH
        counts[name] = con.execute(
            f"SELECT count(DISTINCT {t.key}) FROM read_parquet(?) "
            "WHERE event_timestamp > ? AND event_timestamp <= ?",
            [[str(f) for f in files], lo, end],
        ).fetchone()[0]
    con.close()
    return counts


def materialize(
    settings: Settings, *, incremental: bool, end: datetime | None = None
) -> MaterializeSummary:
    """Copy the latest row per entity into the online store (all history, or since last run)."""
    end = end or datetime.now(UTC)
    store = open_store(settings)
    fdir = paths(settings).features_dir
    # a table with no rows yet (say, no leads) has nothing to load, and DuckDB rejects its glob
    names = [n for n in TABLES if any((fdir / n).glob("*.parquet"))]
    t0 = perf_counter()
    if incremental:
        views = [v for v in store.list_feature_views() if v.name in names]
        last = [v.most_recent_end_time for v in views if v.most_recent_end_time]
        start = min(last) if last else None
        store.materialize_incremental(end_date=end, feature_views=names)
    else:
        start = EPOCH
        store.materialize(start_date=EPOCH, end_date=end, feature_views=names)
    seconds = perf_counter() - t0
    online = (
        settings.online_store
        if settings.online_store != "sqlite"
        else str(paths(settings).feast_dir / "online.db")
    )
    return MaterializeSummary(start, end, entities_in_tables(settings, end, start), seconds, online)


__all__ = ["ApplySummary", "MaterializeSummary", "apply_repo", "materialize"]
