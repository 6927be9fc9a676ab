"""Concurrent redemptions over real HTTP never pass a limit and never double-count a retry."""

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from serving.app import create_app
from serving.core.db import make_engine, make_sessionmaker
from serving.core.migrate import upgrade
from serving.core.models import CouponDefinition, Redemption, Role
from serving.devserver import live_server
from tests import factories
from tests.databases import fresh_database


@pytest.fixture
def world(backend: str, tmp_path: Path) -> Iterator[dict]:
    with fresh_database(backend, tmp_path) as url:
        upgrade(url)
        engine = make_engine(url, pool_size=20, max_overflow=40)
        factory = make_sessionmaker(engine)
        with make_sessionmaker(engine, write=True)() as s:
            _, key = factories.user(s, Role.admin)
            d, code = factories.coupon(s, total_limit=10, per_customer_limit=1)
            customers = [factories.customer(s).id for _ in range(50)]
            s.commit()
            ids = {"definition": d.id, "code": code.code, "key": key, "customers": customers}
        with live_server(create_app(engine)) as base:
            yield {**ids, "base": base, "factory": factory}
        engine.dispose()


def _hammer(base: str, requests: list[tuple[dict, dict]]) -> list[int]:
    """Fire all requests at once from as many threads, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = [0] * len(requests)

    def run(i: int) -> None:
        body, headers = requests[i]
        with httpx.Client(base_url=base, timeout=60) as c:
            barrier.wait()
            statuses[i] = c.post("/v1/coupons/redeem", json=body, headers=headers).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_50_concurrent_redemptions_limit_10(world: dict) -> None:
    h = {"X-API-Key": world["key"]}
    reqs = [
        ({"code": world["code"], "customer_id": c, "order_value": 50}, h)
        for c in world["customers"]
    ]
    statuses = Counter(_hammer(world["base"], reqs))
    assert statuses == {201: 10, 409: 40}
    with world["factory"]() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == 10
        assert s.get(CouponDefinition, world["definition"]).redeemed_count == 10


def test_concurrent_retries_with_one_key_redeem_once(world: dict) -> None:
    body = {"code": world["code"], "customer_id": world["customers"][0], "order_value": 50}
    reqs = [(body, {"X-API-Key": world["key"], "Idempotency-Key": "checkout-1"})] * 20
    statuses = Counter(_hammer(world["base"], reqs))
    assert statuses[201] == 1 and statuses[200] == 19
    with world["factory"]() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == 1


def test_one_customer_racing_their_per_customer_limit(world: dict) -> None:
    body = {"code": world["code"], "customer_id": world["customers"][1], "order_value": 50}
    statuses = Counter(_hammer(world["base"], [(body, {"X-API-Key": world["key"]})] * 20))
    assert statuses == {201: 1, 409: 19}
