"""Materialize throughput and online read latency, Feast's path beside a raw read.

    python benchmarks/bench_online.py --customers 100000 [--redis redis://127.0.0.1:6379/15]

Feature tables of the catalog's exact shape are generated for N customers (random values, one
row each), applied and materialized; then reads of 1 and 100 customers' full vectors are timed:
- feast:  FeatureStore.get_online_features (+ our conform), what serving would call naively;
- lodestar: features.online.OnlineReader, the serving path;
- raw:    the same keys fetched from the same store with no Feast code (SQLite SELECT or Redis
          HMGET pipeline), bytes only: the floor.
Peak memory (RSS high-water mark) of the whole run is reported too.
"""

import argparse
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import percentiles, record  # noqa: E402
from features.catalog import TABLES  # noqa: E402
from models.features import CONVERSION  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)
CUSTOMER_FEATURES = [
    f"{t.name}:{c.name}" for t in TABLES.values() if t.entity == "customer" for c in t.columns
] + [r for r in CONVERSION if r.startswith("customer_recency:")]


def synthetic_tables(features_dir: Path, n: int, seed: int = 1) -> int:
    """One row per customer per customer table, values random but of the right types."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    rows = 0
    for t in TABLES.values():
        if t.entity != "customer":
            continue
        ts = pd.Series(END - pd.to_timedelta(rng.integers(1, 60, n), unit="D")).astype(
            "datetime64[us, UTC]"
        )
        cols: dict[str, object] = {
            "customer_id": ids,
            "event_timestamp": ts,
            "created": pd.Series([END] * n).astype("datetime64[us, UTC]"),
        }
        for c in t.columns:
            if c.kind == "int":
                cols[c.name] = rng.integers(0, 50, n)
            elif c.kind == "float":
                cols[c.name] = rng.gamma(2, 30, n)
            elif c.kind == "str":
                cols[c.name] = rng.choice(["smb", "enterprise", "EMEA", "retail"], n)
            elif c.kind == "bool":
                cols[c.name] = rng.random(n) < 0.5
            elif c.kind == "ts":
                cols[c.name] = (ts - pd.to_timedelta(rng.integers(0, 300, n), unit="D")).astype(
                    "datetime64[us, UTC]"
                )
            elif c.kind == "ints":
                cols[c.name] = pa.array(
                    [rng.integers(0, 3, 168).tolist() for _ in range(n)], pa.list_(pa.int64())
                )
            else:
                cols[c.name] = pa.array(
                    [["vip"] if i % 7 == 0 else [] for i in range(n)], pa.list_(pa.string())
                )
        d = features_dir / t.name
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), d / "2026-11-01.parquet")
        rows += n
    return rows


def timed(fn, repeats: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fn()  # warm
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def raw_reader(store, online: str):  # type: ignore[no-untyped-def]
    """Fetch the stored bytes for ids with no Feast code: the floor for any read path."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    cfg = store.config
    views = [v for v in store.list_feature_views() if v.entities == ["customer"]]

    def keys(ids):  # type: ignore[no-untyped-def]
        return [
            serialize_entity_key(
                EntityKey(join_keys=["customer_id"], entity_values=[Value(int64_val=i)]),
                entity_key_serialization_version=3,
            )
            for i in ids
        ]

    if online == "sqlite":
        import sqlite3

        con = sqlite3.connect(cfg.online_store.path, check_same_thread=False)
        tables = [f"{cfg.project}_{v.name}" for v in views]

        def read(ids):  # type: ignore[no-untyped-def]
            k = keys(ids)
            marks = ",".join("?" * len(k))
            return [
                con.execute(
                    f'SELECT entity_key, feature_name, value FROM "{t}" '
                    f"WHERE entity_key IN ({marks})",
                    k,
                ).fetchall()
                for t in tables
            ]

        return read

    import redis
    from feast.infra.online_stores.helpers import _mmh3, _redis_key

    client = redis.Redis.from_url(online)
    fields = {v.name: [_mmh3(f"{v.name}:{f.name}") for f in v.features] for v in views}

    def read(ids):  # type: ignore[no-untyped-def]
        pipe = client.pipeline(transaction=False)
        for i in ids:
            key = _redis_key(
                cfg.project,
                EntityKey(join_keys=["customer_id"], entity_values=[Value(int64_val=i)]),
                entity_key_serialization_version=3,
            )
            for v in views:
                pipe.hmget(key, fields[v.name])
        return pipe.execute()

    return read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--redis", default=None, help="a redis:// URL to also measure Redis")
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()

    from features.jobs import apply_repo, materialize
    from features.online import OnlineReader, online_features
    from features.store import open_store, paths
    from serving.config import Settings

    results: dict[str, object] = {"customers": args.customers}
    with tempfile.TemporaryDirectory() as tmp:
        stores = [("sqlite", "sqlite")] + ([("redis", args.redis)] if args.redis else [])
        for label, online in stores:
            s = Settings(
                data_dir=Path(tmp) / label,
                online_store=online,
                feast_project=f"bench{uuid.uuid4().hex[:8]}",
            )
            t0 = time.perf_counter()
            rows = synthetic_tables(paths(s).features_dir, args.customers)
            print(
                f"[{label}] wrote {rows:,} feature rows in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
            apply_repo(s)
            m = materialize(s, incremental=False, end=END + timedelta(days=1))
            print(f"[{label}] {m}", file=sys.stderr)
            results[f"{label}_materialize_rows_per_s"] = round(rows / m.seconds)
            results[f"{label}_materialize_s"] = round(m.seconds, 2)
            store = open_store(s)
            reader = OnlineReader(store, "customer", CUSTOMER_FEATURES)
            raw = raw_reader(store, online)
            rng = np.random.default_rng(0)
            for n in (1, 100):
                ids = [int(i) for i in rng.integers(1, args.customers + 1, n)]
                figures = {
                    "feast": timed(
                        lambda ids=ids, store=store: online_features(
                            store, "customer", ids, CUSTOMER_FEATURES
                        ),
                        args.repeats // (1 + n // 50),
                    ),
                    "lodestar": timed(
                        lambda ids=ids, reader=reader: reader.read(ids), args.repeats
                    ),
                    "raw": timed(lambda ids=ids, raw=raw: raw(ids), args.repeats),
                }
                for path, f in figures.items():
                    for k, v in f.items():
                        results[f"{label}_{n}_{path}_{k}"] = round(v, 3)
                for path in ("feast", "lodestar"):
                    results[f"{label}_{n}_{path}_vs_raw_p50"] = round(
                        figures[path]["p50_ms"] / figures["raw"]["p50_ms"], 2
                    )
                print(
                    f"[{label}] {n:>3} ids  "
                    + "  ".join(
                        f"{p} p50 {f['p50_ms']:.2f} ms p99 {f['p99_ms']:.2f} ms"
                        for p, f in figures.items()
                    ),
                    file=sys.stderr,
                )
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    record("online", results)


if __name__ == "__main__":
    main()
