"""Simulator throughput and memory, as a ratio to raw writes measured in the same process.

    python benchmarks/bench_simulator.py                      # 20,000 customers, 180 days
    python benchmarks/bench_simulator.py --customers 1000000 --days 180

The simulation runs in a child process, so its peak RSS (getrusage RUSAGE_CHILDREN) is its
own. The baseline writes the same number of rows with no simulation and no SQLAlchemy: DB rows
through the raw DBAPI (sqlite3 executemany into an indexed table shaped like `exposures`) and
event rows through `pyarrow.parquet.write_table`, each timed on up to 2 million rows. The
figure to watch is `ratio` = simulator rows/s / baseline rows/s (1.0 would mean simulating
costs nothing beyond writing). A JSON line is appended to benchmarks/results/simulator.json.
"""

import argparse
import json
import multiprocessing as mp
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "simulator.json"
_BASELINE_MAX_ROWS = 2_000_000


def _child(
    database_url: str,
    data_dir: str,
    customers: int,
    days: int,
    seed: int,
    queue: "mp.Queue[dict[str, Any]]",
) -> None:
    sys.path.insert(0, str(ROOT))
    from serving.config import Settings
    from serving.simulator import run_simulation

    settings = Settings(database_url=database_url, data_dir=Path(data_dir))
    s = run_simulation(settings, customers=customers, days=days, seed=seed, reset=True)
    queue.put(
        {
            "elapsed_s": s.elapsed_s,
            "db_rows": s.db_rows,
            "event_rows": s.event_rows,
            "event_files": s.event_files,
            "truth_rows": s.truth_rows,
            "summary": str(s),
        }
    )


def run_simulation_child(
    database_url: str, data_dir: Path, customers: int, days: int, seed: int
) -> tuple[dict[str, Any], float]:
    """Simulate in a spawned process; return its summary and its peak RSS in MiB."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue[dict[str, Any]] = ctx.Queue()
    proc = ctx.Process(
        target=_child, args=(database_url, str(data_dir), customers, days, seed, queue)
    )
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"simulation failed with exit code {proc.exitcode}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return result, peak_kib / 1024


def baseline_db_rows_per_s(n: int, tmp: Path) -> float:
    """Raw sqlite3 executemany of exposure-shaped rows (unique and secondary index included)."""
    con = sqlite3.connect(tmp / "baseline.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE e (id INTEGER PRIMARY KEY, campaign_id INT, customer_id INT,"
        " arm_id INT, is_holdout INT, assigned_at TEXT, sent_at TEXT, opened_at TEXT,"
        " clicked_at TEXT, converted_at TEXT, revenue NUMERIC,"
        " UNIQUE (campaign_id, customer_id))"
    )
    con.execute("CREATE INDEX ix_e_customer ON e (customer_id)")
    ts = "2026-10-01 12:00:00.000000"
    rows = [(i, i % 30, i, 1, 0, ts, ts, None, None, None, None) for i in range(n)]
    started = time.perf_counter()
    con.execute("BEGIN")
    for lo in range(0, n, 20_000):
        con.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows[lo : lo + 20_000])
    con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return n / elapsed


def baseline_event_rows_per_s(n: int, tmp: Path) -> float:
    """pyarrow write of an event-log-shaped table, one file per 'day'."""
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "customer_id": rng.integers(1, 1_000_000, n),
            "occurred_at": pa.array(
                np.sort(rng.integers(0, 180 * 86_400_000_000, n)), pa.timestamp("us", tz="UTC")
            ),
            "type": pa.array(rng.choice(["page_view", "session_start", "email_sent"], n)),
            "page": pa.array(rng.choice(["home", "product", "pricing"], n)),
            "channel": pa.array(rng.choice(["direct", "organic", "email"], n)),
            "campaign_id": pa.array(rng.integers(1, 40, n)),
            "session_id": pa.array(rng.integers(1, n, n)),
        }
    )
    started = time.perf_counter()
    per_file = max(1, n // 180)
    for k, lo in enumerate(range(0, n, per_file)):
        pq.write_table(table.slice(lo, per_file), tmp / f"part-{k:05d}.parquet")
    return n / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--database-url", default=None, help="default: a SQLite file in a temporary directory"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp_name:
        tmp = Path(tmp_name)
        url = args.database_url or f"sqlite:///{tmp / 'sim.db'}"
        sim, peak_mib = run_simulation_child(
            url, tmp / "data", args.customers, args.days, args.seed
        )
        db_rows = sum(sim["db_rows"].values())
        event_rows = sim["event_rows"]
        (tmp / "base").mkdir()
        db_base = baseline_db_rows_per_s(min(db_rows, _BASELINE_MAX_ROWS), tmp / "base")
        ev_base = baseline_event_rows_per_s(min(event_rows, _BASELINE_MAX_ROWS), tmp / "base")

    baseline_s = db_rows / db_base + event_rows / ev_base
    rows = db_rows + event_rows
    result = {
        "benchmark": "simulator",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.platform(),
        "backend": "sqlite" if args.database_url is None else url.split(":", 1)[0],
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
        "elapsed_s": round(sim["elapsed_s"], 2),
        "db_rows": db_rows,
        "event_rows": event_rows,
        "event_files": sim["event_files"],
        "truth_rows": sum(sim["truth_rows"].values()),
        "rows_per_s": round(rows / sim["elapsed_s"]),
        "baseline_rows_per_s": round(rows / baseline_s),
        "baseline_db_rows_per_s": round(db_base),
        "baseline_event_rows_per_s": round(ev_base),
        "ratio": round((rows / sim["elapsed_s"]) / (rows / baseline_s), 3),
        "peak_rss_mib": round(peak_mib, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")

    print(sim["summary"])
    print()
    print(f"{'measure':<34}{'value':>16}")
    for label, key in (
        ("customers", "customers"),
        ("days", "days"),
        ("rows written (DB + events)", None),
        ("elapsed s", "elapsed_s"),
        ("simulator rows/s", "rows_per_s"),
        ("baseline rows/s (raw writes)", "baseline_rows_per_s"),
        ("ratio simulator / baseline", "ratio"),
        ("peak RSS MiB (child)", "peak_rss_mib"),
    ):
        value = rows if key is None else result[key]
        print(f"{label:<34}{value:>16,}" if isinstance(value, int) else f"{label:<34}{value:>16}")
    print(f"\nappended to {RESULTS}")


if __name__ == "__main__":
    main()
