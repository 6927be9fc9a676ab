"""Customers: create, validate, filter, sort, paginate, patch."""

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.core.models import Customer
from tests.factories import auth


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def test_create_and_read_back(client: TestClient, keys) -> None:
    body = {
        "external_id": "X1",
        "name": "Ada",
        "region": "EMEA",
        "timezone": "Europe/Paris",
        "tags": ["vip"],
        "consent_email": True,
        "birthday": "1990-02-03",
    }
    r = client.post("/v1/customers", json=body, headers=auth(keys.marketer))
    assert r.status_code == 201, r.text
    got = client.get(f"/v1/customers/{r.json()['id']}", headers=auth(keys.rep)).json()
    assert got["timezone"] == "Europe/Paris" and got["tags"] == ["vip"]
    assert got["birthday"] == "1990-02-03" and got["consent_email"] is True


def test_invalid_input_is_422_and_stores_nothing(client: TestClient, keys, session) -> None:
    before = _count(session)
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"email": "not-an-email"},
        {"company_size": -3},
        {"tags": "vip"},
    ):
        r = client.post("/v1/customers", json=bad, headers=auth(keys.admin))
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] in bad
    assert _count(session) == before


def test_duplicate_external_id_is_409(client: TestClient, keys, session) -> None:
    client.post("/v1/customers", json={"external_id": "DUP"}, headers=auth(keys.admin))
    before = _count(session)
    r = client.post("/v1/customers", json={"external_id": "DUP"}, headers=auth(keys.admin))
    assert r.status_code == 409
    assert _count(session) == before


def test_list_filters_sorts_and_pages(client: TestClient, keys) -> None:
    for i in range(5):
        client.post(
            "/v1/customers",
            json={"name": f"n{i}", "region": "APAC" if i % 2 else "NA"},
            headers=auth(keys.admin),
        )
    r = client.get("/v1/customers?region=APAC&sort=-id&limit=1", headers=auth(keys.admin)).json()
    assert r["total"] == 2 and len(r["items"]) == 1 and r["items"][0]["name"] == "n3"
    r2 = client.get(
        "/v1/customers?region=APAC&sort=-id&limit=1&offset=1", headers=auth(keys.admin)
    ).json()
    assert r2["items"][0]["name"] == "n1"
    bad = client.get("/v1/customers?sort=-password", headers=auth(keys.admin))
    assert bad.status_code == 422 and "cannot sort by" in bad.json()["detail"]


def test_patch_changes_only_what_is_sent(client: TestClient, keys) -> None:
    cid = client.post(
        "/v1/customers", json={"name": "A", "region": "NA"}, headers=auth(keys.admin)
    ).json()["id"]
    r = client.patch(f"/v1/customers/{cid}", json={"region": "EMEA"}, headers=auth(keys.admin))
    assert r.json()["region"] == "EMEA" and r.json()["name"] == "A"
    r = client.patch(f"/v1/customers/{cid}", json={"consent_email": None}, headers=auth(keys.admin))
    assert r.status_code == 422 and "cannot be null" in r.json()["detail"]
    assert client.get("/v1/customers/999999", headers=auth(keys.admin)).status_code == 404
