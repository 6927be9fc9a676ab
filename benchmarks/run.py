"""`make bench`: every benchmark in turn, each appending to benchmarks/results/NAME.json.

python benchmarks/run.py          # the sizes the issues ask for (1M customers: ~5 min)
python benchmarks/run.py --quick    # small sizes, a minute or so
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = ap.parse_args()
    customers = "20000" if args.quick else "1000000"
    seconds = "3" if args.quick else "10"
    redis_url = os.environ.get("LODESTAR_TEST_REDIS_URL")
    redis = ["--redis", redis_url] if redis_url else []
    runs = [
        (
            "coupon redemptions, PostgreSQL, 32 clients",
            ["bench_coupons.py", "--seconds", seconds, "--clients", "32"],
        ),
        (
            f"simulator, {int(customers):,} customers",
            ["bench_simulator.py", "--customers", customers, "--days", "180"],
        ),
        (
            "feature build, 100k customers" if not args.quick else "feature build, 20k customers",
            ["bench_features.py", "--customers", "20000" if args.quick else "100000"],
        ),
        (
            "materialize and online reads (SQLite, and Redis when LODESTAR_TEST_REDIS_URL is set)",
            ["bench_online.py", "--customers", "20000" if args.quick else "100000", *redis],
        ),
        ("training and batch scoring", ["bench_training.py", *(["--quick"] * args.quick)]),
    ]
    failed = []
    for i, (title, argv) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {title}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]])
        print(
            f"[{i}/{len(runs)}] {'done' if rc == 0 else 'FAILED'} in "
            f"{time.perf_counter() - t0:.0f} s\n",
            flush=True,
        )
        if rc:
            failed.append(title)
    print(f"results: {HERE / 'results'}/*.json" + (f"; failed: {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
