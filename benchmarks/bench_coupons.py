"""Coupon redemptions per second on PostgreSQL with 32 concurrent HTTP clients.

Two loads: every client redeeming the same coupon (worst case: all queue on its counter row)
and clients spread over 50 coupons.
The API runs in its own process (`lodestar serve`), the clients in this one. Two baselines run
against the same server and database in the same session, so the figures are ratios:
- `GET /health` from the same 32 clients: the HTTP + framework floor on this machine;
- the redemption service called directly from 32 threads: the database floor, no HTTP.

    python benchmarks/bench_coupons.py [--seconds 10] [--clients 32]
Needs LODESTAR_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load, record, start_api  # noqa: E402
from serving.core.db import make_engine, make_sessionmaker  # noqa: E402
from serving.core.migrate import upgrade  # noqa: E402
from serving.core.models import Role  # noqa: E402
from serving.core.services import coupons  # noqa: E402
from serving.devserver import free_port  # noqa: E402
from tests import factories  # noqa: E402
from tests.databases import fresh_postgres  # noqa: E402

N_CUSTOMERS = 5_000
N_SPREAD = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="API worker processes")
    args = ap.parse_args()
    admin_url = os.environ.get(
        "LODESTAR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    with fresh_postgres(admin_url) as url:
        upgrade(url)
        engine = make_engine(url, pool_size=args.clients, max_overflow=8)
        factory = make_sessionmaker(engine)
        with factory() as s:
            _, key = factories.user(s, Role.admin)
            # no limits, so every redemption succeeds; one hot coupon, and 50 for the spread case
            codes = [factories.coupon(s)[1].code for _ in range(N_SPREAD)]
            customers = [factories.customer(s).id for _ in range(N_CUSTOMERS)]
            s.commit()
            code_str = codes[0]
        port = free_port()
        env = {"LODESTAR_DATABASE_URL": url, "LODESTAR_DB_POOL_SIZE": "20"}
        server = start_api(port, args.workers, env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            http = [
                httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)
                for _ in range(args.clients)
            ]

            def health(c: int, i: int) -> None:
                http[c].get("/health").raise_for_status()

            def redeem_http(c: int, i: int) -> None:
                cust = customers[(c * 7919 + i) % N_CUSTOMERS]
                r = http[c].post(
                    "/v1/coupons/redeem",
                    json={"code": code_str, "customer_id": cust, "order_value": 80},
                )
                if r.status_code != 201:
                    raise RuntimeError(r.text)

            def redeem_http_spread(c: int, i: int) -> None:
                cust = customers[(c * 7919 + i) % N_CUSTOMERS]
                r = http[c].post(
                    "/v1/coupons/redeem",
                    json={
                        "code": codes[(c + i) % N_SPREAD],
                        "customer_id": cust,
                        "order_value": 80,
                    },
                )
                if r.status_code != 201:
                    raise RuntimeError(r.text)

            def redeem_direct(c: int, i: int) -> None:
                with factory() as s:
                    coupons.redeem(
                        session=s,
                        code=code_str,
                        customer_id=customers[(c * 104729 + i) % N_CUSTOMERS],
                        order_value=80,
                    )

            print(
                f"warming up, then {args.seconds:.0f} s per phase with {args.clients} clients",
                file=sys.stderr,
            )
            load(args.clients, 2, redeem_http)
            phases = {}
            for name, fn in (
                ("health_http", health),
                ("redeem_http", redeem_http),
                ("redeem_http_spread", redeem_http_spread),
                ("redeem_direct", redeem_direct),
            ):
                phases[name] = load(args.clients, args.seconds, fn)
                print(
                    f"  {name:14s} {phases[name]['per_second']:8.0f}/s  "
                    f"p50 {phases[name]['p50_ms']:.1f} ms  p99 {phases[name]['p99_ms']:.1f} ms"
                    f"  errors {phases[name]['errors']}",
                    file=sys.stderr,
                )
            for c in http:
                c.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
            engine.dispose()
    redeem = phases["redeem_http"]["per_second"]
    record(
        "coupons",
        {
            "clients": args.clients,
            "api_workers": args.workers,
            "seconds": args.seconds,
            **{f"{k}_{m}": round(v, 2) for k, ph in phases.items() for m, v in ph.items()},
            "redeem_http_vs_health_http": round(redeem / phases["health_http"]["per_second"], 3),
            "redeem_http_vs_direct": round(redeem / phases["redeem_direct"]["per_second"], 3),
        },
    )


if __name__ == "__main__":
    main()
