"""A/B analysis of a 10M-exposure experiment, as a ratio to numpy doing the bare minimum.

    python benchmarks/bench_experiments.py                 # 10,000,000 exposures
    python benchmarks/bench_experiments.py --n 1000000     # smaller
    python benchmarks/bench_experiments.py --quick         # 1,000,000, one repeat

The data are synthetic per-unit arrays shaped like a campaign's table: control and three arms
(equal weights) as a categorical, a 0/1 conversion and a revenue per user (float64), a
pre-period revenue covariate, four regions (categorical) and 14 assignment days (looks).

- analysis: `models.experiments.analyze` with everything on: both metrics, every arm against
  control (z / Welch, delta-method relative lifts, exact Beta-Binomial and normal Bayesian,
  CUPED, mSPRT over the 14 looks, SRM) overall and per region.
- baseline: numpy computing only the per-arm means and variances of the same three arrays
  (a boolean mask per arm, then `.mean()` and `.var(ddof=1)`): what any analysis must at least
  read. `ratio` = analysis s / baseline s, each the best of --repeats runs taken in turns.
- memory: the high-water RSS during each step (VmHWM reset just before it) minus the RSS
  before it, i.e. what the step adds on top of the data; and the process's peak RSS.
A JSON line is appended to benchmarks/results/experiments.json.
"""

import argparse
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Timer, record  # noqa: E402
from models.experiments import analyze  # noqa: E402

ARMS = ["control", "subject_a", "subject_b", "discount"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
LOOKS = 14
SEED = 20_261_101


def make_data(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, len(ARMS), n, dtype=np.int8)
    region = rng.integers(0, len(REGIONS), n, dtype=np.int8)
    pre = rng.gamma(0.4, 150.0, n)  # pre-period revenue: most near 0, a long tail
    lift = np.array([0.0, 0.002, 0.004, 0.010])[arm]
    p = 0.04 + lift + 0.0002 * np.minimum(pre, 100.0)
    converted = (rng.random(n) < p).astype(np.float64)
    revenue = converted * (rng.lognormal(3.5, 0.9, n) + 0.3 * pre)
    return {
        "arm": pd.Categorical.from_codes(arm, ARMS),
        "codes": arm,
        "region": pd.Categorical.from_codes(region, REGIONS),
        "look": rng.integers(0, LOOKS, n, dtype=np.int8),
        "converted": converted,
        "revenue": revenue,
        "pre": pre,
    }


def baseline(d: dict[str, Any]) -> dict[int, tuple[float, ...]]:
    out = {}
    for g in range(len(ARMS)):
        m = d["codes"] == g
        stats = []
        for col in ("converted", "revenue", "pre"):
            v = d[col][m]
            stats += [float(v.mean()), float(v.var(ddof=1))]
        out[g] = tuple(stats)
    return out


def analysis(d: dict[str, Any]) -> Any:
    return analyze(
        d["arm"],
        {"conversion_rate": d["converted"], "revenue_per_user": d["revenue"]},
        control="control",
        binary=["conversion_rate"],
        covariate=d["pre"],
        segment=d["region"],
        look=d["look"],
        weights={a: 1.0 for a in ARMS},
    )


def _hwm_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
        return True
    except OSError:
        return False


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(fn: Any, d: dict[str, Any]) -> tuple[float, float, Any]:
    """Seconds and the RSS the call adds at its peak (MiB), and its result."""
    gc.collect()
    before = psutil.Process().memory_info().rss / 2**20
    reset = _hwm_reset()
    t = Timer()
    with t:
        out = fn(d)
    added = _hwm_mib() - before if reset else float("nan")
    return t.seconds, added, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--quick", action="store_true", help="1,000,000 exposures, one repeat")
    args = ap.parse_args()
    n, repeats = (1_000_000, 1) if args.quick else (args.n, args.repeats)

    print(
        f"[experiments] generating {n:,} exposures (4 groups, 4 regions, {LOOKS} looks)…",
        flush=True,
    )
    t0 = time.perf_counter()
    d = make_data(n, args.seed)
    data_mib = (
        sum((v.codes.nbytes if isinstance(v, pd.Categorical) else v.nbytes) for v in d.values())
        / 2**20
    )
    print(
        f"[experiments] data ready in {time.perf_counter() - t0:.1f} s ({data_mib:,.0f} MiB)",
        flush=True,
    )

    times: dict[str, list[float]] = {"baseline": [], "analysis": []}
    added: dict[str, list[float]] = {"baseline": [], "analysis": []}
    result = None
    for r in range(repeats):  # in turns, so a load change on the machine hits both alike
        for name, fn in (("baseline", baseline), ("analysis", analysis)):
            s, mib, out = measured(fn, d)
            times[name].append(s)
            added[name].append(mib)
            if name == "analysis":
                result = out
            print(
                f"[experiments] run {r + 1}/{repeats} {name}: {s:.2f} s, +{mib:,.0f} MiB",
                flush=True,
            )

    best = {k: min(v) for k, v in times.items()}
    assert result is not None
    figures = {
        "exposures": n,
        "groups": len(ARMS),
        "segments": len(REGIONS),
        "looks": LOOKS,
        "comparisons": len(result.comparisons)
        + sum(len(s.comparisons) for s in result.segments or []),
        "analysis_s": round(best["analysis"], 3),
        "baseline_s": round(best["baseline"], 3),
        "ratio": round(best["analysis"] / best["baseline"], 2),
        "analysis_added_mib": round(max(added["analysis"]), 1),
        "baseline_added_mib": round(max(added["baseline"]), 1),
        "data_mib": round(data_mib, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "srm_p": round(result.srm.p_value, 4),
        "repeats": repeats,
    }
    record("experiments", figures)
    lift = result.comparison("discount", "conversion_rate")
    print(
        f"\nsummary: {n:,} exposures, {figures['comparisons']} comparisons (overall + "
        f"{len(REGIONS)} regions) in {best['analysis']:.2f} s against {best['baseline']:.2f} s "
        f"for per-arm means and variances alone: {figures['ratio']}x. "
        f"Memory on top of the {data_mib:,.0f} MiB of data: analysis "
        f"+{figures['analysis_added_mib']:,.0f} MiB, baseline +{figures['baseline_added_mib']:,.0f}"
        f" MiB; process peak {figures['peak_rss_mib']:,.0f} MiB. "
        f"(discount vs control: {lift.frequentist.rel_lift:+.1%} conversion, "
        f"p = {lift.frequentist.p_value:.2g}, sequential p = {lift.sequential.p_value:.2g})"
    )


if __name__ == "__main__":
    main()
