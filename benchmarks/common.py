"""What every benchmark shares: timing, peak memory, latency percentiles and the results file."""

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).parent / "results"


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def record(name: str, figures: dict[str, Any]) -> Path:
    """Append one JSON line to benchmarks/results/NAME.json (gitignored) and print it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    row = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        **figures,
    }
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=2))
    return path


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def load(clients: int, seconds: float, one_call: Callable[[int, int], None]) -> dict[str, float]:
    """Run `one_call(client, i)` in a loop from `clients` threads for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def worker(c: int) -> None:
        barrier.wait()
        i = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                one_call(c, i)
            except Exception:
                errors[c] += 1
            latencies[c].append(time.perf_counter() - t0)
            i += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = [x for lat in latencies for x in lat]
    return {
        "requests": len(flat),
        "per_second": len(flat) / elapsed,
        "errors": sum(errors),
        **percentiles(flat),
    }


def start_api(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:  # type: ignore[type-arg]
    """`lodestar serve` in its own process, so the load comes from another one."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-migrate",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
