"""Training and batch scoring overhead of ScoreModel, as ratios to raw LightGBM in one process.

    python benchmarks/bench_training.py                          # 100,000 and 1,000,000 rows
    python benchmarks/bench_training.py --sizes 100000 --models lead_scoring
    python benchmarks/bench_training.py --quick                  # 20,000 rows

The data is synthetic, shaped like the training sets (models/features.py): 45 float64 columns
(behaviour counts over 1/7/30/90 days, order and campaign counts, recency days, a consent flag)
with NaN where an entity has no feature row or never did the thing, and 4 text columns
(segment, region, industry, company_size: 4-12 levels, a few missing). The label depends on
them non-linearly (log counts, activity trend, thresholds, an interaction, per-level effects)
with an intercept solved for each model's positive rate; the three model names are labels only
(different seed and positive rate). Rows split 80/20 into train and validation.

For each size and model:
- training: `ScoreModel(random_state=0).fit(X_tr, y_tr, eval_set=(X_va, y_va))` against raw
  `lightgbm.train` on the same prepared matrices (`model._prepare`, not timed for raw) with the
  params the fitted booster was trained with (`booster_.params`), the same categorical columns,
  no validation set and `num_boost_round` = the trees ScoreModel grew (best_iteration_ + the
  early-stopping patience, at most n_estimators). `overhead` = ScoreModel s / raw s, each the
  best of --train-repeats runs taken in turns; the fit is broken down into preparing X,
  LightGBM, the post-fit steps (validation predict + calibration, grade thresholds) and the
  rest (mostly per-round validation scoring). `same_trees` checks that both boosters predict
  the same.
- batch scoring of all rows (first model of the size): `predict_proba(X)` against
  `booster_.predict(prepared, num_iteration=best_iteration_)` and against `_prepare` + that
  predict; and TreeSHAP: `contributions` on 10,000 rows against the raw `pred_contrib=True`
  predict; best of --repeats runs taken in turns.
- peak memory (largest size, first model): the fit in a spawned child, and raw LightGBM in
  another, each after generating the data; `peak_rss_mib` is the child's high-water RSS
  (ru_maxrss), `fit_hwm_mib` the high-water mark during the fit alone (VmHWM reset just before
  it), `rss_before_mib` the RSS at that moment.
A JSON line is appended to benchmarks/results/training.json.
"""

import argparse
import gc
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import resource
import sys
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Timer, record  # noqa: E402
from models.scoring import ScoreModel, _calibrator  # noqa: E402

MODELS = {"lead_scoring": 0.25, "conversion": 0.12, "churn": 0.30}  # label -> positive rate
SEED = 20_240_601
SHAP_ROWS = 10_000

_BEHAVIOUR = {  # events per active day at activity 1
    "sessions": 0.3,
    "page_views": 1.2,
    "pricing_views": 0.05,
    "product_views": 0.4,
    "email_opens": 0.1,
    "email_clicks": 0.02,
}
_TEXT = {
    "segment": ["smb", "mid_market", "enterprise", "consumer"],
    "region": [
        "na_east",
        "na_west",
        "emea_north",
        "emea_south",
        "latam",
        "apac_n",
        "apac_s",
        "anz",
    ],
    "industry": [f"industry_{i:02d}" for i in range(12)],
    "company_size": ["1-10", "11-50", "51-200", "201-1000", "1000+"],
}


# -- data ---------------------------------------------------------------------------------------
def make_data(n: int, positive_rate: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A training-set-shaped frame (45 float64 + 4 text columns) and a 0/1 label."""
    rng = np.random.default_rng(seed)
    c: dict[str, Any] = {}
    activity = rng.gamma(0.6, 1.0, n)
    trend = rng.lognormal(0.0, 0.5, n)  # recent activity relative to the past quarter
    no_row = rng.random(n) < 0.04  # no behaviour row at the as-of time: all NaN
    for metric, rate in _BEHAVIOUR.items():
        lam = rate * activity
        total = np.zeros(n)
        for lo, hi in ((0, 1), (1, 7), (7, 30), (30, 90)):
            recent = trend if hi <= 30 else 1.0
            total = total + rng.poisson(lam * recent * (hi - lo))
            c[f"{metric}_{hi}d"] = np.where(no_row, np.nan, total)
    order_rate = 0.004 * activity * rng.lognormal(0.0, 0.7, n)
    aov = rng.lognormal(4.0, 0.6, n)
    tenure = rng.uniform(1, 1500, n)
    orders = np.zeros(n)
    for lo, hi in ((0, 30), (30, 90), (90, 365)):
        orders = orders + rng.poisson(order_rate * (hi - lo))
        c[f"orders_{hi}d"] = orders.copy()
        c[f"revenue_{hi}d"] = orders * aov * rng.lognormal(0.0, 0.1, n)
    orders_total = orders + rng.poisson(order_rate * np.maximum(tenure - 365, 0))
    has_orders = orders_total > 0
    c["orders_total"] = orders_total
    c["revenue_total"] = orders_total * aov
    c["avg_order_value"] = np.where(has_orders, aov, np.nan)
    c["coupon_use_rate"] = np.where(has_orders, rng.beta(2.0, 5.0, n), np.nan)
    no_campaign = rng.random(n) < 0.02
    sends = rng.poisson(20, n)
    opens = rng.binomial(sends, np.clip(0.05 + 0.1 * activity, 0, 0.9))
    clicks = rng.binomial(opens, 0.2)
    campaign = {
        "email_sends": sends,
        "email_opens": opens,
        "email_clicks": clicks,
        "email_conversions": rng.binomial(clicks, 0.1),
        "holdout_count": rng.binomial(3, 0.1, n),
    }
    for name, v in campaign.items():
        c[name] = np.where(no_campaign, np.nan, v.astype(float))
    c["tenure_days"] = tenure
    active = activity > np.quantile(activity, 0.05)
    since_activity = np.minimum(rng.exponential(1 / (0.3 * activity * trend + 1e-3)), tenure)
    c["days_since_last_activity"] = np.where(active, since_activity, np.nan)
    since_order = np.minimum(rng.exponential(1 / (order_rate + 1e-3)), tenure)
    c["days_since_last_order"] = np.where(has_orders, since_order, np.nan)
    c["days_since_first_order"] = np.where(has_orders, rng.uniform(since_order, tenure), np.nan)
    c["days_since_last_open"] = np.where(opens > 0, rng.exponential(30 / (opens + 1)), np.nan)
    c["consent_email"] = np.where(rng.random(n) < 0.03, np.nan, rng.random(n) < 0.7)
    codes = {}
    for name, levels in _TEXT.items():
        codes[name] = rng.integers(0, len(levels), n)
        values = np.asarray([*levels, None], dtype=object)
        c[name] = values[np.where(rng.random(n) < 0.02, len(levels), codes[name])]
    X = pd.DataFrame(c)

    f = {k: np.nan_to_num(np.asarray(v, dtype=float)) for k, v in c.items() if k not in _TEXT}
    industry = rng.normal(0.0, 0.4, len(_TEXT["industry"]))[codes["industry"]]
    region = rng.normal(0.0, 0.2, len(_TEXT["region"]))[codes["region"]]
    enterprise = codes["segment"] == _TEXT["segment"].index("enterprise")
    inactive = np.isnan(c["days_since_last_activity"]) | (c["days_since_last_activity"] > 30)
    z = (
        0.9 * np.log1p(f["pricing_views_30d"])
        + 0.6 * np.tanh(f["sessions_7d"] / 3 - f["sessions_90d"] / 30)
        - 0.6 * inactive
        + 0.4 * np.log1p(f["orders_365d"]) * np.where(enterprise, 1.5, 1.0)
        + 0.3 * np.sin(f["tenure_days"] / 200)
        + 0.5 * (f["email_clicks_30d"] > 0) * (f["consent_email"] == 1)
        - 0.3 * (f["coupon_use_rate"] > 0.5)
        + industry
        + region
    )
    lo, hi = -20.0, 20.0  # intercept for the positive rate, by bisection
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(z + mid)))) < positive_rate else (lo, mid)
    y = (rng.random(n) < 1 / (1 + np.exp(-(z + lo)))).astype(np.int64)
    return X, y


def split(X: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, Any]:
    cut = int(len(y) * 0.8)  # rows are i.i.d.: the first 80% train, the rest validate
    return X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:]


def raw_params(model: ScoreModel) -> dict[str, Any]:
    """The params ScoreModel.fit passed to lightgbm.train, as the fitted booster kept them
    (minus the round count and the categorical columns, which go to train() and the Dataset)."""
    drop = {"num_iterations", "categorical_column"}
    return {k: v for k, v in model.booster_.params.items() if k not in drop}


def trees_grown(model: ScoreModel) -> int:
    """Early stopping keeps best_iteration_ trees but grows `early_stopping_rounds` more."""
    return min(model.best_iteration_ + model.early_stopping_rounds, model.n_estimators)


def raw_train(
    params: dict[str, Any], categories: dict[str, Any], Xp: pd.DataFrame, y: Any, rounds: int
) -> lgb.Booster:
    """lightgbm.train as ScoreModel.fit calls it, minus the validation set and early stopping."""
    cats = [c for c in Xp.columns if str(c) in categories]
    train = lgb.Dataset(Xp, y, categorical_feature=cats or "auto", free_raw_data=False)
    return lgb.train(params, train, num_boost_round=rounds)


def interleaved(repeats: int, fns: dict[str, Any]) -> dict[str, list[float]]:
    """Seconds of each function over `repeats` rounds, taking turns (A B C A B C …) so that a
    load change on a shared machine hits every side alike; compare the minima."""
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            with Timer() as t:
                fn()
            seconds[name].append(t.seconds)
    return seconds


# -- measurements -------------------------------------------------------------------------------
def bench_training(
    X: pd.DataFrame, y: np.ndarray, repeats: int
) -> tuple[ScoreModel, dict[str, Any]]:
    X_tr, y_tr, X_va, y_va = split(X, y)
    fitted: list[ScoreModel] = []
    boosters: list[lgb.Booster] = []

    def fit() -> None:
        fitted[:] = [ScoreModel(random_state=0).fit(X_tr, y_tr, eval_set=(X_va, y_va))]

    def raw() -> None:  # the same trees on the same prepared matrix
        boosters[:] = [raw_train(params, model.categories_, Xp_tr, y_tr, rounds)]

    gc.collect()
    with Timer() as t_first:
        fit()
    model = fitted[0]
    Xp_tr, Xp_va = model._prepare(X_tr), model._prepare(X_va)
    params, rounds = raw_params(model), trees_grown(model)
    runs = interleaved(1, {"raw": raw})
    if repeats > 1:
        more = interleaved(repeats - 1, {"scoremodel": fit, "raw": raw})
        runs = {
            "scoremodel": [t_first.seconds, *more["scoremodel"]],
            "raw": [*runs["raw"], *more["raw"]],
        }
    else:
        runs["scoremodel"] = [t_first.seconds]
    # the parts of ScoreModel.fit, timed alone on the same inputs
    post = interleaved(
        repeats,
        {
            "prepare": lambda: (model._prepare(X_tr), model._prepare(X_va)),
            "valid_predict_calibrate": lambda: _calibrator(len(y_va)).fit(model._raw(Xp_va), y_va),
            "grade_thresholds": lambda: model.set_grade_thresholds(Xp_tr),  # as fit does it
        },
    )
    same = np.array_equal(
        boosters[0].predict(Xp_va, num_iteration=model.best_iteration_), model._raw(Xp_va)
    )
    t_fit, t_raw = min(runs["scoremodel"]), min(runs["raw"])
    parts = {k: min(v) for k, v in post.items()}
    figures = {
        "train_rows": len(y_tr),
        "valid_rows": len(y_va),
        "positive_rate": round(float(y.mean()), 4),
        "best_iteration": model.best_iteration_,
        "trees_grown": rounds,
        "scoremodel_s": round(t_fit, 3),
        "raw_lgb_s": round(t_raw, 3),
        "overhead": round(t_fit / t_raw, 3),
        "breakdown_s": {
            "prepare": round(parts["prepare"], 3),
            "lightgbm_raw": round(t_raw, 3),
            "valid_predict_calibrate": round(parts["valid_predict_calibrate"], 3),
            "grade_thresholds": round(parts["grade_thresholds"], 3),
            "rest": round(t_fit - t_raw - sum(parts.values()), 3),
        },
        "samples_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "same_trees": bool(same),
    }
    return model, figures


def bench_scoring(model: ScoreModel, X: pd.DataFrame, repeats: int) -> dict[str, Any]:
    n = len(X)
    Xp = model._prepare(X)
    it = model.best_iteration_
    X_shap = X.iloc[: min(SHAP_ROWS, n)]
    Xp_shap = Xp.iloc[: len(X_shap)]
    runs = interleaved(
        repeats,
        {
            "predict_proba": lambda: model.predict_proba(X),
            "raw": lambda: model.booster_.predict(Xp, num_iteration=it),
            "prepare_raw": lambda: model.booster_.predict(model._prepare(X), num_iteration=it),
            "contributions": lambda: model.contributions(X_shap),
            "raw_contrib": lambda: model.booster_.predict(
                Xp_shap, num_iteration=it, pred_contrib=True
            ),
        },
    )
    s = {k: min(v) for k, v in runs.items()}
    return {
        "rows": n,
        "trees": it,
        "predict_proba_rows_per_s": round(n / s["predict_proba"]),
        "raw_predict_rows_per_s": round(n / s["raw"]),
        "prepare_raw_predict_rows_per_s": round(n / s["prepare_raw"]),
        "overhead_vs_raw": round(s["predict_proba"] / s["raw"], 3),
        "overhead_vs_prepare_raw": round(s["predict_proba"] / s["prepare_raw"], 3),
        "shap_rows": len(X_shap),
        "contributions_rows_per_s": round(len(X_shap) / s["contributions"]),
        "raw_contrib_rows_per_s": round(len(X_shap) / s["raw_contrib"]),
        "contributions_overhead": round(s["contributions"] / s["raw_contrib"], 3),
        "samples_s": {k: [round(x, 4) for x in v] for k, v in runs.items()},
    }


# -- peak memory in a child ---------------------------------------------------------------------
def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _memory_child(
    kind: str,
    n: int,
    rate: float,
    seed: int,
    params: dict[str, Any],
    rounds: int,
    out: "mp.Queue[dict[str, Any]]",
) -> None:
    sys.path.insert(0, str(ROOT))
    X, y = make_data(n, rate, seed)
    X_tr, y_tr, X_va, y_va = split(X, y)
    if kind == "raw":  # the prepared matrix is an input here, as it is for the timed raw run
        prep = ScoreModel(random_state=0)
        prep._learn_columns(X_tr)
        Xp_tr = prep._prepare(X_tr)
    gc.collect()
    before = _rss_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    t0 = time.perf_counter()
    if kind == "scoremodel":
        ScoreModel(random_state=0).fit(X_tr, y_tr, eval_set=(X_va, y_va))
    else:
        raw_train(params, prep.categories_, Xp_tr, y_tr, rounds)
    seconds = time.perf_counter() - t0
    out.put(
        {
            "seconds": round(seconds, 2),
            "rss_before_mib": round(before / 1024, 1),
            "fit_hwm_mib": round(_rss_kib("VmHWM") / 1024, 1) if hwm_reset else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "data_mib": round(X.memory_usage(deep=False).sum() / 2**20, 1),
        }
    )


def run_memory_child(
    kind: str, n: int, rate: float, seed: int, rounds: int, params: dict[str, Any]
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: mp.Queue[dict[str, Any]] = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(kind, n, rate, seed, params, rounds, out))
    proc.start()
    while True:  # a child that dies (e.g. killed for memory) must not leave us waiting forever
        try:
            result = out.get(timeout=1)
            break
        except queue_mod.Empty:
            if not proc.is_alive():
                raise SystemExit(f"{kind} child failed with exit code {proc.exitcode}") from None
    proc.join()
    return result


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    ap.add_argument("--quick", action="store_true", help="20,000 rows only")
    ap.add_argument("--models", default=",".join(MODELS), help="which model labels to train")
    ap.add_argument("--repeats", type=int, default=3, help="scoring: best of this many runs")
    ap.add_argument(
        "--train-repeats", type=int, default=2, help="training: best of this many fits each"
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    args = ap.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; choose from {list(MODELS)}")

    load_start = os.getloadavg()[0]
    # warm-up: first-call costs (imports, OpenMP pool) must not land on the first timed fit
    Xw, yw = make_data(5_000, 0.2, SEED)
    Xw_tr, yw_tr, Xw_va, yw_va = split(Xw, yw)
    warm = ScoreModel(random_state=0).fit(Xw_tr, yw_tr, eval_set=(Xw_va, yw_va))
    warm.predict_proba(Xw)
    params = raw_params(warm)  # what every fit passes to lightgbm.train (same constructor args)

    training: dict[str, dict[str, Any]] = {}
    scoring: dict[str, dict[str, Any]] = {}
    for n in sizes:
        for i, name in enumerate(models):
            X, y = make_data(n, MODELS[name], SEED + 1000 * list(MODELS).index(name))
            model, fig = bench_training(X, y, args.train_repeats)
            training[f"{n}/{name}"] = {"rows": n, "model": name, **fig}
            print(
                f"  train {n:>9,} {name:<13} ScoreModel {fig['scoremodel_s']:8.2f} s  "
                f"raw {fig['raw_lgb_s']:8.2f} s  x{fig['overhead']:.2f}  "
                f"({fig['trees_grown']} trees)",
                flush=True,
            )
            if i == 0:
                scoring[str(n)] = {"model": name, **bench_scoring(model, X, args.repeats)}
                sc = scoring[str(n)]
                print(
                    f"  score {n:>9,} predict_proba {sc['predict_proba_rows_per_s']:,} rows/s"
                    f"  raw {sc['raw_predict_rows_per_s']:,}  x{sc['overhead_vs_raw']:.2f}",
                    flush=True,
                )
            del model, X, y
            gc.collect()

    memory = None
    if not args.no_memory:
        n, name = max(sizes), models[0]
        seed, rate = SEED + 1000 * list(MODELS).index(name), MODELS[name]
        rounds = training[f"{n}/{name}"]["trees_grown"]
        sm = run_memory_child("scoremodel", n, rate, seed, rounds, params)
        raw = run_memory_child("raw", n, rate, seed, rounds, params)
        memory = {"rows": n, "model": name, "scoremodel": sm, "raw_lgb": raw}
        if sm["fit_hwm_mib"] is not None and raw["fit_hwm_mib"] is not None:
            sm_inc = sm["fit_hwm_mib"] - sm["rss_before_mib"]
            raw_inc = raw["fit_hwm_mib"] - raw["rss_before_mib"]
            memory["fit_increase_mib"] = {"scoremodel": round(sm_inc, 1), "raw": round(raw_inc, 1)}
            memory["increase_ratio"] = round(sm_inc / raw_inc, 3) if raw_inc > 0 else None
            memory["fit_hwm_ratio"] = round(sm["fit_hwm_mib"] / raw["fit_hwm_mib"], 3)

    print()
    print(
        f"{'rows':>10} {'model':<13}{'trees':>6}{'ScoreModel s':>14}{'raw lgb s':>11}"
        f"{'overhead':>10}{'prepare s':>11}{'post-fit s':>11}{'rest s':>8}"
    )
    for fig in training.values():
        b = fig["breakdown_s"]
        post = b["valid_predict_calibrate"] + b["grade_thresholds"]
        print(
            f"{fig['rows']:>10,} {fig['model']:<13}{fig['trees_grown']:>6}"
            f"{fig['scoremodel_s']:>14.2f}{fig['raw_lgb_s']:>11.2f}{fig['overhead']:>10.2f}"
            f"{b['prepare']:>11.2f}{post:>11.2f}{b['rest']:>8.2f}"
            + ("" if fig["same_trees"] else "  (boosters differ!)")
        )
    print()
    print(
        f"{'rows':>10}  {'predict_proba/s':>16}{'raw/s':>12}{'prep+raw/s':>12}"
        f"{'x raw':>7}{'x prep+raw':>11}   {'SHAP rows/s':>12}{'raw/s':>9}{'x':>6}"
    )
    for sc in scoring.values():
        print(
            f"{sc['rows']:>10,}  {sc['predict_proba_rows_per_s']:>16,}"
            f"{sc['raw_predict_rows_per_s']:>12,}{sc['prepare_raw_predict_rows_per_s']:>12,}"
            f"{sc['overhead_vs_raw']:>7.2f}{sc['overhead_vs_prepare_raw']:>11.2f}   "
            f"{sc['contributions_rows_per_s']:>12,}{sc['raw_contrib_rows_per_s']:>9,}"
            f"{sc['contributions_overhead']:>6.2f}"
        )
    if memory:
        print()
        for kind in ("scoremodel", "raw_lgb"):
            m = memory[kind]
            print(
                f"RSS, {memory['rows']:,} rows {memory['model']}, {kind:<10}: high-water during "
                f"the fit {m['fit_hwm_mib'] or float('nan'):,.0f} MiB (before it "
                f"{m['rss_before_mib']:,.0f}; X {m['data_mib']:,.0f}; child peak incl. data "
                f"generation {m['peak_rss_mib']:,.0f}; fit {m['seconds']} s)"
            )
        if "increase_ratio" in memory:
            inc = memory["fit_increase_mib"]
            print(
                f"fit's RSS increase: ScoreModel {inc['scoremodel']:,.0f} MiB, raw "
                f"{inc['raw']:,.0f} MiB (x{memory['increase_ratio']})"
            )
    load_end = os.getloadavg()[0]
    if max(load_start, load_end) > (os.cpu_count() or 1):
        print(
            f"\nnote: load average {load_start:.1f} at the start, {load_end:.1f} at the end, on "
            f"{os.cpu_count()} CPUs: other processes competed for the CPUs; ratios are the "
            "minima over interleaved runs, absolute times are inflated"
        )
    print()
    record(
        "training",
        {
            "benchmark": "training",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_1m": [round(load_start, 2), round(load_end, 2)],
            "train_repeats": args.train_repeats,
            "repeats": args.repeats,
            "lightgbm": lgb.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "sizes": sizes,
            "models": {m: MODELS[m] for m in models},
            "seed": SEED,
            "lgb_params": params,
            "training": training,
            "scoring": scoring,
            "memory": memory,
        },
    )


if __name__ == "__main__":
    main()
