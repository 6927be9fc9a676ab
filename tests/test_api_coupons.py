"""Coupons: definitions, codes, validation rules, redemption, idempotency and stacking."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.core.models import CouponCustomerUsage, CouponDefinition, Redemption
from serving.core.services.coupons import ALPHABET
from tests import factories
from tests.factories import auth


def _redemptions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Redemption)) or 0


def _redeem(client, key, code, customer_id, value=100.0, idem=None, order_ref=None):
    headers = auth(key) | ({"Idempotency-Key": idem} if idem else {})
    body = {"code": code, "customer_id": customer_id, "order_value": value}
    if order_ref:
        body["order_ref"] = order_ref
    return client.post("/v1/coupons/redeem", json=body, headers=headers)


def test_create_coupon_with_unguessable_codes(client: TestClient, keys) -> None:
    body = {
        "name": "Autumn",
        "discount_type": "percent",
        "discount_value": 15,
        "codes": 50,
        "total_limit": 100,
    }
    r = client.post("/v1/coupons", json=body, headers=auth(keys.marketer))
    assert r.status_code == 201, r.text
    codes = [c["code"] for c in r.json()["codes"]]
    assert len(set(codes)) == 50
    for code in codes:
        raw = code.replace("-", "")
        assert len(raw) == 12 and set(raw) <= set(ALPHABET)


def test_coupon_input_rules(client: TestClient, keys, session) -> None:
    before = session.scalar(select(func.count()).select_from(CouponDefinition))
    now = datetime.now(UTC)
    bad = [
        {"name": "x", "discount_type": "percent", "discount_value": 150},
        {"name": "x", "discount_type": "fixed", "discount_value": 0},
        {
            "name": "x",
            "discount_type": "fixed",
            "discount_value": 5,
            "valid_from": now.isoformat(),
            "valid_until": (now - timedelta(days=1)).isoformat(),
        },
        {"name": "x", "discount_type": "fixed", "discount_value": 5, "per_customer_limit": 0},
        {
            "name": "x",
            "discount_type": "fixed",
            "discount_value": 5,
            "valid_from": "2026-01-01T00:00",
        },
    ]
    for body in bad:
        r = client.post("/v1/coupons", json=body, headers=auth(keys.marketer))
        assert r.status_code == 422, body
    assert session.scalar(select(func.count()).select_from(CouponDefinition)) == before


def test_chosen_code_and_customer_bound_code(client: TestClient, keys, session) -> None:
    d, _ = factories.coupon(session)
    alice, bob = factories.customer(session), factories.customer(session)
    url = f"/v1/coupons/{d.id}/codes"
    r = client.post(url, json={"code": "summer25"}, headers=auth(keys.marketer))
    assert r.status_code == 201 and r.json()[0]["code"] == "SUMMER25"
    assert (
        client.post(url, json={"code": "SUMMER25"}, headers=auth(keys.marketer)).status_code == 409
    )
    mine = client.post(url, json={"customer_id": alice.id}, headers=auth(keys.marketer)).json()[0]
    r = _redeem(client, keys.admin, mine["code"], bob.id)
    assert r.status_code == 422 and "another customer" in r.json()["detail"]
    assert _redeem(client, keys.admin, mine["code"], alice.id).status_code == 201


def test_validate_explains_and_changes_nothing(client: TestClient, keys, session) -> None:
    d, code = factories.coupon(
        session, min_order_value=50, discount_type="fixed", discount_value=20
    )
    c = factories.customer(session)
    before = _redemptions(session)
    body = {"code": code.code.lower(), "customer_id": c.id, "order_value": 30}
    r = client.post("/v1/coupons/validate", json=body, headers=auth(keys.rep)).json()
    assert r["valid"] is False and "minimum of 50.00" in r["reason"]
    body["order_value"] = 80
    r = client.post("/v1/coupons/validate", json=body, headers=auth(keys.rep)).json()
    assert r == {
        "valid": True,
        "code": code.code,
        "reason": None,
        "discount_amount": 20.0,
        "final_amount": 60.0,
    }
    assert _redemptions(session) == before


def test_redeem_rejections_store_nothing(client: TestClient, keys, session) -> None:
    c = factories.customer(session)
    now = datetime.now(UTC)
    _, expired = factories.coupon(
        session, valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    _, future = factories.coupon(session, valid_from=now + timedelta(days=1))
    before = _redemptions(session)
    r = _redeem(client, keys.admin, expired.code, c.id)
    assert r.status_code == 422 and "expired" in r.json()["detail"]
    r = _redeem(client, keys.admin, future.code, c.id)
    assert r.status_code == 422 and "valid from" in r.json()["detail"]
    assert _redeem(client, keys.admin, "NOPE-NOPE-NOPE", c.id).status_code == 404
    assert _redeem(client, keys.admin, expired.code, 10**9).status_code == 422
    r = client.post(
        "/v1/coupons/redeem",
        json={"code": expired.code, "customer_id": c.id, "order_value": -1},
        headers=auth(keys.admin),
    )
    assert r.status_code == 422
    assert _redemptions(session) == before


def test_percent_discount_and_total_limit(client: TestClient, keys, session) -> None:
    d, code = factories.coupon(session, discount_value=12.5, total_limit=2)
    customers = [factories.customer(session) for _ in range(3)]
    r = _redeem(client, keys.admin, code.code, customers[0].id, value=80)
    assert r.status_code == 201 and r.json()["discount_amount"] == 10.0
    assert _redeem(client, keys.admin, code.code, customers[1].id).status_code == 201
    r = _redeem(client, keys.admin, code.code, customers[2].id)
    assert r.status_code == 409 and r.json()["code"] == "limit_reached"
    session.refresh(d)
    assert d.redeemed_count == 2


def test_per_customer_limit(client: TestClient, keys, session) -> None:
    d, code = factories.coupon(session, per_customer_limit=2)
    c, other = factories.customer(session), factories.customer(session)
    assert _redeem(client, keys.admin, code.code, c.id).status_code == 201
    assert _redeem(client, keys.admin, code.code, c.id).status_code == 201
    r = _redeem(client, keys.admin, code.code, c.id)
    assert r.status_code == 409 and "2 times" in r.json()["detail"]
    assert _redeem(client, keys.admin, code.code, other.id).status_code == 201
    usage = session.scalar(
        select(CouponCustomerUsage.count).where(
            CouponCustomerUsage.definition_id == d.id, CouponCustomerUsage.customer_id == c.id
        )
    )
    assert usage == 2


def test_idempotent_retry_returns_same_result_once(client: TestClient, keys, session) -> None:
    d, code = factories.coupon(session, total_limit=5)
    c = factories.customer(session)
    first = _redeem(client, keys.admin, code.code, c.id, idem="order-77-try")
    again = _redeem(client, keys.admin, code.code, c.id, idem="order-77-try")
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    session.refresh(d)
    assert d.redeemed_count == 1
    other = _redeem(client, keys.admin, code.code, c.id, value=999, idem="order-77-try")
    assert other.status_code == 409 and "different redemption" in other.json()["detail"]


def test_stacking_rules(client: TestClient, keys, session) -> None:
    c = factories.customer(session)
    _, solo = factories.coupon(session, stackable=False)
    _, stack1 = factories.coupon(session, stackable=True)
    _, stack2 = factories.coupon(session, stackable=True)
    assert _redeem(client, keys.admin, stack1.code, c.id, order_ref="o1").status_code == 201
    assert _redeem(client, keys.admin, stack2.code, c.id, order_ref="o1").status_code == 201
    r = _redeem(client, keys.admin, solo.code, c.id, order_ref="o1")
    assert r.status_code == 409 and "do not stack" in r.json()["detail"]
    r = _redeem(client, keys.admin, stack1.code, c.id, order_ref="o1")
    assert r.status_code == 409 and "already applied" in r.json()["detail"]


def test_limit_cannot_drop_below_redeemed(client: TestClient, keys, session) -> None:
    d, code = factories.coupon(session, total_limit=5)
    c = factories.customer(session)
    _redeem(client, keys.admin, code.code, c.id)
    _redeem(client, keys.admin, code.code, c.id)
    r = client.patch(f"/v1/coupons/{d.id}", json={"total_limit": 1}, headers=auth(keys.marketer))
    assert r.status_code == 409
    r = client.patch(f"/v1/coupons/{d.id}", json={"total_limit": 2}, headers=auth(keys.marketer))
    assert r.status_code == 200 and r.json()["total_limit"] == 2
