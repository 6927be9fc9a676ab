"""Online serving: latency and throughput of the scoring and recommendation endpoints.

The API runs in its own process (`lodestar serve`), the load comes from this one over loopback
(`--clients` threads, each with a keep-alive connection). Beside it, in the same session:
- `GET /health` from the same clients: the HTTP + framework floor of this API;
- `mlflow models serve` with the same champion, sent the same feature vectors (it cannot read
  features itself, so the client ships them): what a generic model server costs;
- the raw in-process floor: the online read and `predict_proba`, no HTTP, one thread.

    python benchmarks/bench_serving.py [--seconds 10] [--clients 8]
Needs a world with trained models: `make run` (or `lodestar demo --no-serve`) first; it uses the
settings from the environment like every `lodestar` command.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it, before LightGBM loads

import argparse  # noqa: E402
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load, percentiles, record, start_api  # noqa: E402
from serving.config import get_settings  # noqa: E402
from serving.core.db import make_engine, make_sessionmaker  # noqa: E402
from serving.core.models import Customer, Lead, Role  # noqa: E402
from serving.core.services.users import create_user  # noqa: E402
from serving.devserver import free_port  # noqa: E402
from serving.scoring import Scorer, load_champion  # noqa: E402


def _wait(url: str, proc: subprocess.Popen, what: str, seconds: float = 120) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{what} did not come up within {seconds:.0f} s")


def _in_process(seconds: float, call: Callable[[int], None]) -> dict[str, float]:
    lat, i, stop = [], 0, time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        t = time.perf_counter()
        call(i)
        lat.append(time.perf_counter() - t)
        i += 1
    return {
        "requests": len(lat),
        "per_second": len(lat) / (time.perf_counter() - t0),
        "errors": 0,
        **percentiles(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="API worker processes")
    args = ap.parse_args()
    settings = get_settings()
    model = load_champion(settings, "lead_scoring")
    if model is None:
        raise SystemExit("no lead_scoring champion: run `make run` (or `lodestar demo`) first")
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine, write=True)() as s:
        _, key = create_user(
            session=s,
            email=f"bench-{uuid.uuid4().hex[:8]}@lodestar.local",
            name="bench",
            role=Role.admin,
        )
        pairs = dict(
            s.execute(select(Lead.id, Lead.customer_id).order_by(Lead.id.desc()).limit(2_000)).all()
        )
        lead_ids = list(pairs)
        customer_ids = list(s.scalars(select(Customer.id).order_by(Customer.id).limit(5_000)))
        s.commit()
    engine.dispose()
    rng = np.random.default_rng(0)
    scorer = Scorer(settings, model)
    results: dict[str, dict[str, float]] = {}

    # -- the raw floor: online read + predict_proba, in this process
    def raw(n: int) -> Callable[[int], None]:
        def call(i: int) -> None:
            ids = [int(x) for x in rng.choice(lead_ids, n, replace=False)]
            X = scorer.vectors(ids, [pairs[x] for x in ids])
            model.estimator.predict_proba(X)

        return call

    for n in (1, 100):
        results[f"raw_in_process_{n}"] = _in_process(args.seconds, raw(n))
        print(f"raw in-process, {n} ids: {results[f'raw_in_process_{n}']}", flush=True)

    env = {**os.environ, "LODESTAR_MODEL_POLL_SECONDS": "0", "OMP_WAIT_POLICY": "PASSIVE"}
    port, mport = free_port(), free_port()
    api = start_api(port, args.workers, env)
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    served = subprocess.Popen(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            "models:/lead_scoring@champion",
            "--env-manager",
            "local",
            "--port",
            str(mport),
            "--workers",
            str(args.workers),
        ],
        env={**env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, mbase = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mport}"
    try:
        _wait(f"{base}/health", api, "the API")
        _wait(f"{mbase}/ping", served, "mlflow models serve")
        http = [
            httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)
            for _ in range(args.clients)
        ]
        mhttp = [httpx.Client(base_url=mbase, timeout=30) for _ in range(args.clients)]
        feature_rows = scorer.vectors(lead_ids[:500], [pairs[x] for x in lead_ids[:500]])

        def ok(r: httpx.Response) -> None:
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

        def health(c: int, i: int) -> None:
            ok(http[c].get("/health"))

        def scores(n: int) -> Callable[[int, int], None]:
            def call(c: int, i: int) -> None:
                ids = [int(x) for x in rng.choice(lead_ids, n, replace=False)]
                ok(http[c].post("/v1/scores/lead_scoring", json={"ids": ids}))

            return call

        def mlflow_scores(n: int) -> Callable[[int, int], None]:
            def call(c: int, i: int) -> None:
                rows = feature_rows.sample(n, random_state=i)
                payload = {"dataframe_split": rows.to_dict(orient="split")}
                ok(
                    mhttp[c].post(
                        "/invocations",
                        content=_json(payload),
                        headers={"Content-Type": "application/json"},
                    )
                )

            return call

        def send_time(c: int, i: int) -> None:
            cid = customer_ids[(c * 7919 + i) % len(customer_ids)]
            ok(
                http[c].get(
                    "/v1/recommendations/send-time", params={"customer_id": cid, "channel": "email"}
                )
            )

        def nba(c: int, i: int) -> None:
            cid = customer_ids[(c * 7919 + i) % len(customer_ids)]
            ok(http[c].get("/v1/recommendations/next-best-action", params={"customer_id": cid}))

        runs: list[tuple[str, Callable[[int, int], None]]] = [
            ("health", health),
            ("scores_1", scores(1)),
            ("scores_100", scores(100)),
            ("mlflow_serve_1", mlflow_scores(1)),
            ("mlflow_serve_100", mlflow_scores(100)),
        ]
        for name, path, call in (
            ("send_time", "/v1/recommendations/send-time", send_time),
            ("next_best_action", "/v1/recommendations/next-best-action", nba),
        ):
            probe = http[0].get(path, params={"customer_id": customer_ids[0], "channel": "email"})
            if probe.status_code != 404 or "customer" in probe.text:
                runs.append((name, call))
        for name, call in runs:
            call(0, 0)  # warm up caches and connections
            results[name] = load(args.clients, args.seconds, call)
            print(f"{name}: {results[name]}", flush=True)
    finally:
        for p in (api, served):
            p.terminate()
            p.wait(20)

    ratios = {}
    for n in (1, 100):
        api_r, raw_r, ml_r = (
            results[f"scores_{n}"],
            results[f"raw_in_process_{n}"],
            results[f"mlflow_serve_{n}"],
        )
        ratios[f"scores_{n}_p50_vs_raw"] = api_r["p50_ms"] / raw_r["p50_ms"]
        ratios[f"scores_{n}_rps_vs_mlflow_serve"] = api_r["per_second"] / ml_r["per_second"]
        ratios[f"scores_{n}_p50_vs_mlflow_serve"] = api_r["p50_ms"] / ml_r["p50_ms"]
    ratios["scores_1_rps_vs_health"] = (
        results["scores_1"]["per_second"] / results["health"]["per_second"]
    )
    path = record(
        "serving",
        {
            "clients": args.clients,
            "seconds": args.seconds,
            "workers": args.workers,
            "model": model.label,
            "online_store": settings.online_store,
            **results,
            "ratios": ratios,
        },
    )
    print(f"\nserving benchmark: {len(results)} loads, results appended to {path}")


def _json(payload: object) -> bytes:
    import json

    return json.dumps(payload, default=str).encode()


if __name__ == "__main__":
    main()
