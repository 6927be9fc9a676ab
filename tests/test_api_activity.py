"""Batch ingest of orders and events: all or nothing."""

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.core.models import Event, Order
from tests import factories
from tests.factories import auth

NOW = datetime.now(UTC).isoformat()


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_order_batch_and_read_back(client: TestClient, keys, session) -> None:
    c = factories.customer(session)
    orders = [
        {"external_id": f"o{i}", "customer_id": c.id, "ordered_at": NOW, "amount": 10 + i}
        for i in range(3)
    ]
    r = client.post("/v1/orders/batch", json={"orders": orders}, headers=auth(keys.marketer))
    assert r.status_code == 201 and r.json() == {"accepted": 3}
    listed = client.get(f"/v1/orders?customer_id={c.id}", headers=auth(keys.rep)).json()
    assert listed["total"] == 3


def test_bad_order_batch_stores_nothing(client: TestClient, keys, session) -> None:
    c = factories.customer(session)
    before = _count(session, Order)
    good = {"external_id": "g1", "customer_id": c.id, "ordered_at": NOW, "amount": 5}
    cases = [
        [good, {**good, "external_id": "g2", "customer_id": 10**9}],  # unknown customer
        [good, {**good, "external_id": "g3", "amount": -1}],  # negative amount
        [good, {**good, "external_id": "g4", "ordered_at": "2026-01-01T10:00:00"}],  # naive
        [good, good],  # repeated id
    ]
    for batch in cases:
        r = client.post("/v1/orders/batch", json={"orders": batch}, headers=auth(keys.marketer))
        assert r.status_code == 422, batch
    assert _count(session, Order) == before
    client.post("/v1/orders/batch", json={"orders": [good]}, headers=auth(keys.marketer))
    r = client.post("/v1/orders/batch", json={"orders": [good]}, headers=auth(keys.marketer))
    assert r.status_code == 409 and "g1" in r.json()["detail"]


def test_events_batch(client: TestClient, keys, session) -> None:
    c = factories.customer(session)
    before = _count(session, Event)
    ev = {"customer_id": c.id, "occurred_at": NOW, "type": "page_view", "page": "pricing"}
    r = client.post(
        "/v1/events/batch",
        json={"events": [ev, {**ev, "type": "email_open"}]},
        headers=auth(keys.marketer),
    )
    assert r.status_code == 201 and _count(session, Event) == before + 2
    r = client.post(
        "/v1/events/batch",
        json={"events": [ev, {**ev, "type": "teleport"}]},
        headers=auth(keys.marketer),
    )
    assert r.status_code == 422 and _count(session, Event) == before + 2
    r = client.post("/v1/events/batch", json={"events": [ev]}, headers=auth(keys.rep))
    assert r.status_code == 403
