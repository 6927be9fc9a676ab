"""Campaigns: status machine, frozen plans, deterministic exposures."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from serving.core.errors import IllegalTransition
from serving.core.models import CampaignStatus
from serving.core.services.assignment import pick_arm, unit_hash, unit_hashes
from serving.core.services.campaigns import TRANSITIONS, transition
from tests import factories
from tests.factories import auth

START = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _create(client: TestClient, key: str, **kw) -> dict:
    body = {
        "name": "Spring promo",
        "channel": "email",
        "starts_at": START,
        "holdout_fraction": 0.1,
        "arms": [{"name": "control", "is_control": True}, {"name": "ten_off", "weight": 2}],
        **kw,
    }
    r = client.post("/v1/campaigns", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()


def test_create_and_walk_the_status_machine(client: TestClient, keys) -> None:
    c = _create(client, keys.marketer)
    assert c["status"] == "draft" and [a["name"] for a in c["arms"]] == ["control", "ten_off"]
    url = f"/v1/campaigns/{c['id']}"
    r = client.patch(url, json={"status": "ended"}, headers=auth(keys.marketer))
    assert r.status_code == 200  # cancelling a draft is allowed
    r = client.patch(url, json={"status": "running"}, headers=auth(keys.marketer))
    assert r.status_code == 409 and "cannot go from ended" in r.json()["detail"]


def test_running_campaign_plan_is_frozen(client: TestClient, keys) -> None:
    c = _create(client, keys.marketer)
    url = f"/v1/campaigns/{c['id']}"
    for s in ("scheduled", "running"):
        assert client.patch(url, json={"status": s}, headers=auth(keys.marketer)).status_code == 200
    r = client.patch(url, json={"holdout_fraction": 0.5}, headers=auth(keys.marketer))
    assert r.status_code == 409 and "holdout_fraction" in r.json()["detail"]
    r = client.patch(url, json={"spend": 120.5}, headers=auth(keys.marketer))
    assert r.status_code == 200 and r.json()["spend"] == 120.5


def test_schedule_needs_a_start_and_window_must_be_ordered(client: TestClient, keys) -> None:
    c = _create(client, keys.marketer, starts_at=None)
    r = client.patch(
        f"/v1/campaigns/{c['id']}", json={"status": "scheduled"}, headers=auth(keys.marketer)
    )
    assert r.status_code == 422 and "starts_at" in r.json()["detail"]
    r = client.post(
        "/v1/campaigns",
        json={"name": "x", "channel": "email", "starts_at": START, "ends_at": START},
        headers=auth(keys.marketer),
    )
    assert r.status_code == 422
    r = client.post(
        "/v1/campaigns", json={"name": "x", "channel": "fax"}, headers=auth(keys.marketer)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "channel"
    r = client.post(
        "/v1/campaigns",
        json={"name": "x", "channel": "email", "arms": [{"name": "a"}, {"name": "a"}]},
        headers=auth(keys.marketer),
    )
    assert r.status_code == 422 and "unique" in r.json()["detail"]


@pytest.mark.parametrize("start", list(CampaignStatus))
def test_every_transition_follows_the_table(start: CampaignStatus, session: Session) -> None:
    for target in CampaignStatus:
        c = factories.campaign(session, status=start, starts_at=datetime.now(UTC))
        if target == start or target in TRANSITIONS[start]:
            transition(c, target)
            assert c.status == target
        else:
            with pytest.raises(IllegalTransition):
                transition(c, target)


def test_exposures_are_deterministic_and_idempotent(client: TestClient, keys, session) -> None:
    customers = [factories.customer(session).id for _ in range(40)]
    c = _create(client, keys.marketer)
    url = f"/v1/campaigns/{c['id']}"
    r = client.post(
        f"{url}/exposures", json={"customer_ids": customers[:5]}, headers=auth(keys.marketer)
    )
    assert r.status_code == 409  # still a draft
    client.patch(url, json={"status": "scheduled"}, headers=auth(keys.marketer))
    first = client.post(
        f"{url}/exposures", json={"customer_ids": customers}, headers=auth(keys.marketer)
    ).json()
    again = client.post(
        f"{url}/exposures", json={"customer_ids": customers[::-1]}, headers=auth(keys.marketer)
    ).json()
    assert first == again
    arm_ids = [a["id"] for a in c["arms"]]
    expected = pick_arm(unit_hashes(c["id"], customers), [1.0, 2.0], 0.1)
    for exp, pick in zip(first, expected, strict=True):
        assert exp["is_holdout"] == (pick < 0)
        assert exp["arm_id"] == (None if pick < 0 else arm_ids[pick])
    listed = client.get(f"{url}/exposures?limit=500", headers=auth(keys.rep)).json()
    assert listed["total"] == 40


def test_unknown_customer_exposure_stores_nothing(client: TestClient, keys, session) -> None:
    c = _create(client, keys.marketer)
    url = f"/v1/campaigns/{c['id']}"
    client.patch(url, json={"status": "scheduled"}, headers=auth(keys.marketer))
    known = factories.customer(session).id
    r = client.post(
        f"{url}/exposures", json={"customer_ids": [known, 10**9]}, headers=auth(keys.marketer)
    )
    assert r.status_code == 422 and "unknown customer" in r.json()["detail"]
    assert client.get(f"{url}/exposures", headers=auth(keys.rep)).json()["total"] == 0


def test_record_exposure_outcome(client: TestClient, keys, session) -> None:
    cust = factories.customer(session).id
    c = _create(client, keys.marketer, holdout_fraction=0)
    url = f"/v1/campaigns/{c['id']}"
    client.patch(url, json={"status": "scheduled"}, headers=auth(keys.marketer))
    client.post(f"{url}/exposures", json={"customer_ids": [cust]}, headers=auth(keys.marketer))
    now = datetime.now(UTC).isoformat()
    r = client.patch(
        f"{url}/exposures/{cust}",
        json={"opened_at": now, "revenue": 42},
        headers=auth(keys.marketer),
    )
    assert r.status_code == 200 and r.json()["revenue"] == 42
    assert (
        client.patch(
            f"{url}/exposures/{10**9}", json={"revenue": 1}, headers=auth(keys.marketer)
        ).status_code
        == 404
    )


def test_hash_assignment_is_uniform_and_respects_weights() -> None:
    u = unit_hashes(7, range(20_000))
    assert abs(u.mean() - 0.5) < 0.01
    picks = pick_arm(u, [1, 3], 0.2)
    assert abs((picks == -1).mean() - 0.2) < 0.01
    assert abs((picks == 1).mean() - 0.6) < 0.015
    assert unit_hash(7, 5) == u[5] and unit_hash(8, 5) != u[5]
