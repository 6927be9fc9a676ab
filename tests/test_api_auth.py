"""Authentication, roles, and the shape of errors."""

from fastapi.testclient import TestClient

from tests.factories import auth


def test_missing_key_is_401_problem_json(client: TestClient) -> None:
    r = client.get("/v1/customers")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 401 and "X-API-Key" in body["detail"]


def test_wrong_key_is_401(client: TestClient) -> None:
    assert client.get("/v1/customers", headers=auth("lsk_nope")).status_code == 401


def test_bearer_header_works_too(client: TestClient, keys) -> None:
    r = client.get("/v1/me", headers={"Authorization": f"Bearer {keys.rep}"})
    assert r.status_code == 200 and r.json()["role"] == "sales_rep"


def test_rep_cannot_change_campaigns_or_coupons(client: TestClient, keys) -> None:
    r = client.post("/v1/campaigns", json={"name": "x", "channel": "email"}, headers=auth(keys.rep))
    assert r.status_code == 403
    assert "marketer" in r.json()["detail"]
    r = client.post(
        "/v1/coupons",
        json={"name": "x", "discount_type": "fixed", "discount_value": 5},
        headers=auth(keys.data_scientist),
    )
    assert r.status_code == 403


def test_only_admin_creates_users_and_the_key_works(client: TestClient, keys) -> None:
    body = {"email": "new@example.com", "name": "New", "role": "marketer"}
    assert client.post("/v1/users", json=body, headers=auth(keys.marketer)).status_code == 403
    r = client.post("/v1/users", json=body, headers=auth(keys.admin))
    assert r.status_code == 201
    key = r.json()["api_key"]
    assert client.get("/v1/me", headers=auth(key)).json()["email"] == "new@example.com"
    again = client.post("/v1/users", json=body, headers=auth(keys.admin))
    assert again.status_code == 409


def test_unknown_route_is_problem_json(client: TestClient, keys) -> None:
    r = client.get("/v1/nothing-here", headers=auth(keys.admin))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/coupons/redeem" in paths and "/v1/leads" in paths
