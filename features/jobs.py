"""The feature-store jobs behind `lodestar features apply | materialize`, with their summaries."""

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

from features.catalog import TABLES
from features.materialize import write_latest
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
    written: dict[str, int] = {}
    starts = []
    for view in store.list_feature_views():
        if view.name not in names:
            continue
        begin = (view.most_recent_end_time if incremental else None) or EPOCH
        starts.append(begin)
        print(
            f"materializing {view.name} ({begin:%Y-%m-%d} .. {end:%Y-%m-%d %H:%M})",
            file=sys.stderr,
            flush=True,
        )
        written[view.name] = write_latest(
            store, view.name, sorted((fdir / view.name).glob("*.parquet")), begin, end
        )
    start = min(starts) if starts else EPOCH
    seconds = perf_counter() - t0
    online = (
        settings.online_store
        if settings.online_store != "sqlite"
        else str(paths(settings).feast_dir / "online.db")
    )
    return MaterializeSummary(start, end, written, seconds, online)


__all__ = ["ApplySummary", "MaterializeSummary", "apply_repo", "materialize"]
