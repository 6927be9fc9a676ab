"""Feature build throughput and memory, as ratios to baselines measured in the same process.

    python benchmarks/bench_features.py                              # 100,000 customers, 180 days
    python benchmarks/bench_features.py --customers 1000000
    python benchmarks/bench_features.py --data-dir /w/data --database-url sqlite:////w/sim.db

Without --data-dir a world is simulated into a temporary directory first (in a child process,
as benchmarks/bench_simulator.py does); with it, the existing world is read and left as it is:
the features go to a temporary directory whose `events` links to the world's event log.

Measured, each build in its own spawned child (peak RSS is the child's own):
- a full build of every table: rows written/s, source rows read/s, peak RSS;
- an incremental build of one day right after it (re-building the last day, as a daily run
  that is repeated would): seconds, rows, peak RSS.
Baselines, in this process: DuckDB reading the whole event log with one GROUP BY (customer,
day) - source rows/s; pyarrow writing behaviour-shaped rows (27 int64 columns) to 180 files -
rows written/s. `read_ratio` and `write_ratio` are the build's rates over those.
And the choice of engine for the biggest table, customer_behaviour, computed in memory three
ways: the numpy day sweep the pipeline uses, numpy prefix sums with binary search, and DuckDB
SQL window functions with RANGE frames over the same due (customer, day) grid; all three
checksums must agree.
A JSON line is appended to benchmarks/results/features.json.
"""

import argparse
import multiprocessing as mp
import platform
import queue as queue_mod
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_simulator import run_simulation_child  # noqa: E402
from benchmarks.common import Timer, record  # noqa: E402

_BASELINE_MAX_ROWS = 2_000_000


def _build_child(
    database_url: str,
    data_dir: str,
    incremental: bool,
    through: str | None,
    queue: "mp.Queue[dict[str, Any]]",
) -> None:
    sys.path.insert(0, str(ROOT))
    from features.pipelines import build_features
    from serving.config import Settings

    settings = Settings(database_url=database_url, data_dir=Path(data_dir))
    s = build_features(
        settings,
        incremental=incremental,
        through=None if through is None else date.fromisoformat(through),
    )
    queue.put(
        {
            "seconds": s.seconds,
            "rows": s.rows,
            "files": s.days,
            "source_rows": s.source_rows,
            "through": None if s.through is None else s.through.isoformat(),
            "tables": {
                t.name: {
                    "rows": t.rows,
                    "files": t.days,
                    "seconds": round(t.seconds, 2),
                    "mib": round(t.bytes / 2**20, 1),
                }
                for t in s.tables
            },
            "summary": str(s),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def run_build_child(
    database_url: str, data_dir: Path, *, incremental: bool, through: str | None
) -> dict[str, Any]:
    """Build features in a spawned process; return its summary and its own peak RSS."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue[dict[str, Any]] = ctx.Queue()
    proc = ctx.Process(
        target=_build_child, args=(database_url, str(data_dir), incremental, through, queue)
    )
    proc.start()
    while True:  # a child that dies before reporting must not leave us waiting forever
        try:
            result = queue.get(timeout=1)
            break
        except queue_mod.Empty:
            if not proc.is_alive():
                raise SystemExit(f"feature build failed with exit code {proc.exitcode}") from None
    proc.join()
    return result


def baseline_groupby_rows_per_s(event_log_dir: Path) -> tuple[int, float]:
    """DuckDB: the whole event log, one GROUP BY (customer, day) with a count and a max."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    with Timer() as t:
        rows = con.execute(
            f"SELECT sum(n) FROM (SELECT customer_id, epoch_us(occurred_at) // 86400000000,"
            f" count(*) AS n, max(occurred_at) FROM read_parquet('{event_log_dir}/*/*.parquet',"
            f" hive_partitioning = true) GROUP BY ALL)"
        ).fetchall()[0][0]
    con.close()
    return int(rows or 0), (rows or 0) / t.seconds


def baseline_write_rows_per_s(n: int, tmp: Path) -> float:
    """pyarrow: behaviour-shaped rows (27 int64 columns) to 180 zstd files, no computing."""
    rng = np.random.default_rng(0)
    cols = {f"c{i}": rng.integers(0, 5, n) for i in range(27)}
    cols["customer_id"] = np.sort(rng.integers(1, 1_000_000, n))
    table = pa.table(cols)
    per_file = max(1, n // 180)
    with Timer() as t:
        for k, lo in enumerate(range(0, n, per_file)):
            pq.write_table(
                table.slice(lo, per_file),
                tmp / f"b-{k:05d}.parquet",
                compression="zstd",
                use_dictionary=False,
            )
    return n / t.seconds


def compare_behaviour_engines(database_url: str, data_dir: Path, through: str) -> dict[str, Any]:
    """customer_behaviour for every day, in memory, three ways; each includes DuckDB's daily
    GROUP BY and yields every column of every row in (day, customer) order:
    the numpy day sweep (the pipeline), numpy prefix sums + binary search, DuckDB windows."""
    from features.catalog import BEHAVIOUR_WINDOWS
    from features.pipelines import behaviour
    from features.pipelines.context import BuildContext
    from features.pipelines.dayrows import batches_by_day
    from features.pipelines.days import to_day
    from features.pipelines.rolling import DailyTotals
    from features.pipelines.sources import Sources
    from serving.config import Settings

    last = to_day(date.fromisoformat(through))
    sources = Sources(Settings(database_url=database_url, data_dir=data_dir))
    ctx = BuildContext(sources=sources, created_us=0)
    metrics = list(behaviour.METRICS)
    names = [f"{m}_{w}d" for w in BEHAVIOUR_WINDOWS for m in metrics]

    def empty() -> dict[str, int]:
        return dict.fromkeys(["rows", "last", *names], 0)

    sweep = empty()
    with Timer() as sweep_t:
        for day in behaviour.windows(behaviour.daily_counts(ctx, None, last), None, last):
            sweep["rows"] += len(day.entity)
            sweep["last"] += int((day.latest % 1_000_003).sum())
            for k, total in enumerate(day.sums.sum(axis=0).tolist()):
                sweep[names[k]] += total

    prefix = empty()
    with Timer() as prefix_t:
        d = behaviour.daily_counts(ctx, None, last)
        totals = DailyTotals(
            d["customer_id"], d["day"], {m: d[m] for m in metrics}, extra={"last": d["last_us"]}
        )
        customer, day = totals.due((0, *BEHAVIOUR_WINDOWS), None, last)
        for lo, hi in batches_by_day(day):
            c, dd = customer[lo:hi], day[lo:hi]
            end = totals.positions(c, dd)
            prefix["rows"] += hi - lo
            prefix["last"] += int((totals.extra("last", end - 1) % 1_000_003).sum())
            for w in BEHAVIOUR_WINDOWS:
                start = totals.positions(c, dd - w)
                for m in metrics:
                    prefix[f"{m}_{w}d"] += int(totals.window(m, end, start).sum())

    windows = ",\n".join(
        f"sum({m}) OVER w{w} AS {m}_{w}d" for w in BEHAVIOUR_WINDOWS for m in metrics
    )
    frames = ", ".join(
        f"w{w} AS (PARTITION BY customer_id ORDER BY day"
        f" RANGE BETWEEN {w - 1} PRECEDING AND CURRENT ROW)"
        for w in BEHAVIOUR_WINDOWS
    )
    offsets = ", ".join(f"({o})" for o in (0, *BEHAVIOUR_WINDOWS))
    filled = ", ".join(f"coalesce(d.{m}, 0) AS {m}" for m in metrics)
    sql = f"""
        WITH daily AS ({behaviour.daily_sql()}),
        due AS (SELECT DISTINCT customer_id, day + o AS day FROM daily, (VALUES {offsets}) t(o)
                WHERE day + o <= {last}),
        grid AS (SELECT g.customer_id, g.day, {filled}, d.last_us
                 FROM due g LEFT JOIN daily d USING (customer_id, day))
        SELECT customer_id, day, {windows},
          max(last_us) OVER (PARTITION BY customer_id ORDER BY day
                             ROWS UNBOUNDED PRECEDING) % 1000003 AS last
        FROM grid WINDOW {frames}
        ORDER BY day, customer_id
    """
    duck = empty()
    with Timer() as duck_t, sources.behaviour_events(None, last) as con:
        for batch in con.sql(sql).to_arrow_reader(1_000_000):
            duck["rows"] += batch.num_rows
            for name in ["last", *names]:
                duck[name] += pc.sum(batch.column(name)).as_py() or 0
    sources.close()
    return {
        "behaviour_rows": sweep["rows"],
        "numpy_sweep_s": round(sweep_t.seconds, 2),
        "numpy_prefix_sums_s": round(prefix_t.seconds, 2),
        "duckdb_windows_s": round(duck_t.seconds, 2),
        "duckdb_over_sweep": round(duck_t.seconds / sweep_t.seconds, 2),
        "agree": sweep == prefix == duck,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="an existing world's data dir (with events/); default: simulate one",
    )
    ap.add_argument(
        "--database-url",
        default=None,
        help="with --data-dir: that world's core DB (default: its sim.db beside it)",
    )
    ap.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the DuckDB-vs-numpy comparison for customer_behaviour",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp_name:
        tmp = Path(tmp_name)
        if args.data_dir is None:
            url = args.database_url or f"sqlite:///{tmp / 'sim.db'}"
            sim, sim_peak = run_simulation_child(
                url, tmp / "world", args.customers, args.days, args.seed
            )
            events = tmp / "world" / "events"
            print(sim["summary"], f"(simulator peak RSS {sim_peak:.0f} MiB)\n")
            world = {"customers": args.customers, "days": args.days, "seed": args.seed}
        else:
            url = args.database_url or f"sqlite:///{args.data_dir.parent / 'sim.db'}"
            events = args.data_dir / "events"
            world = {"data_dir": str(args.data_dir)}
        out = tmp / "out"
        out.mkdir()
        (out / "events").symlink_to(events.resolve(), target_is_directory=True)

        full = run_build_child(url, out, incremental=False, through=None)
        print(full["summary"], "\n")
        one_day = run_build_child(url, out, incremental=True, through=full["through"])
        print(one_day["summary"], "\n")

        base_rows, base_read = baseline_groupby_rows_per_s(events)
        (tmp / "base").mkdir()
        base_write = baseline_write_rows_per_s(min(full["rows"], _BASELINE_MAX_ROWS), tmp / "base")
        compare = None if args.no_compare else compare_behaviour_engines(url, out, full["through"])

    read_rate = full["source_rows"] / full["seconds"]
    write_rate = full["rows"] / full["seconds"]
    result = {
        "benchmark": "features",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.platform(),
        "backend": url.split(":", 1)[0],
        **world,
        "through": full["through"],
        "full_s": round(full["seconds"], 2),
        "rows": full["rows"],
        "files": full["files"],
        "source_rows": full["source_rows"],
        "rows_per_s": round(write_rate),
        "source_rows_per_s": round(read_rate),
        "peak_rss_mib": round(full["peak_rss_mib"], 1),
        "tables": full["tables"],
        "incremental_day_s": round(one_day["seconds"], 2),
        "incremental_day_rows": one_day["rows"],
        "incremental_day_source_rows": one_day["source_rows"],
        "incremental_peak_rss_mib": round(one_day["peak_rss_mib"], 1),
        "baseline_event_rows": base_rows,
        "baseline_groupby_rows_per_s": round(base_read),
        "baseline_write_rows_per_s": round(base_write),
        "read_ratio": round(read_rate / base_read, 3),
        "write_ratio": round(write_rate / base_write, 3),
        "behaviour_engines": compare,
    }
    record("features", result)


if __name__ == "__main__":
    main()
