"""/v1/recommendations through HTTP, on a small simulated world with its models trained."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from features.jobs import apply_repo, materialize
from features.pipelines import build_features
from serving.app import create_app
from serving.config import Settings
from serving.core.db import make_engine, make_sessionmaker
from serving.core.models import (
    Campaign,
    CampaignStatus,
    CouponCode,
    CouponDefinition,
    Customer,
    Exposure,
    Offer,
    Redemption,
    Role,
)
from serving.core.services.users import create_user
from serving.scoring import load_champion
from serving.simulator import run_simulation
from training.nba import train_nba
from training.send_time import train_send_time

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("recs")
    s = Settings(
        database_url=f"sqlite:///{tmp}/t.db",
        data_dir=tmp / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
        feast_project=f"r{uuid.uuid4().hex[:8]}",
        model_poll_seconds=0,
    )
    run_simulation(s, customers=3_000, days=150, seed=11, reset=True)
    build_features(s)
    apply_repo(s)
    materialize(s, incremental=False)
    train_send_time(s)
    train_nba(s)
    return s


@pytest.fixture(scope="module")
def engine(world: Settings) -> Iterator[Engine]:
    eng = make_engine(world.database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    out = {}
    with make_sessionmaker(engine, write=True)() as s:
        for role in (Role.marketer, Role.sales_rep):
            _, key = create_user(session=s, email=f"{role.value}@r.io", name="x", role=role)
            out[role.value] = {"X-API-Key": key}
        s.commit()
    return out


@pytest.fixture(scope="module")
def client(world: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, settings=world), raise_server_exceptions=False) as c:
        yield c


def _most_mailed(engine: Engine) -> int:
    with make_sessionmaker(engine)() as s:
        return s.execute(
            select(Exposure.customer_id)
            .where(Exposure.sent_at.is_not(None))
            .group_by(Exposure.customer_id)
            .order_by(func.count().desc(), Exposure.customer_id)
            .limit(1)
        ).scalar_one()


def test_send_time_in_local_time_and_utc(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    cid = _most_mailed(engine)
    before = datetime.now(UTC)
    r = client.get(
        "/v1/recommendations/send-time", params={"customer_id": cid}, headers=keys["sales_rep"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_id"] == cid and body["channel"] == "email"
    assert body["model_version"] == f"send_time:v{load_champion(world, 'send_time').version}"
    assert body["evidence"]["emails_sent"] > 0
    slots = [body["best"], *body["runner_ups"]]
    assert len({s["hour_of_week_local"] for s in slots}) == len(slots) == 4
    assert all(body["best"]["expected_open_rate"] >= s["expected_open_rate"] for s in slots)
    for s in slots:
        utc = (s["hour_of_week_local"] - body["utc_offset_hours"]) % 168
        assert s["hour_of_week_utc"] == pytest.approx(utc)
        at = datetime.fromisoformat(s["next_send_at"])
        assert before - timedelta(seconds=5) <= at < before + timedelta(days=7)
        assert at.weekday() * 24 + at.hour + at.minute / 60 == pytest.approx(utc)
    assert body["source"] in {"own history", "segment prior", "global prior"}


def test_a_customer_without_history_gets_the_segment_prior(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    with make_sessionmaker(engine, write=True)() as s:
        c = Customer(name="new", timezone="Europe/Berlin", segment="smb", consent_email=True)
        s.add(c)
        s.commit()
        cid = c.id
    r = client.get(
        "/v1/recommendations/send-time", params={"customer_id": cid}, headers=keys["marketer"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    model = load_champion(world, "send_time").estimator
    segment_best = int(np.argmax(model.segment_rates_[list(model.segments_).index("smb")]))
    assert body["evidence"]["emails_sent"] == 0 and body["source"] == "segment prior"
    assert body["best"]["hour_of_week_local"] == segment_best
    assert body["evidence"]["own_weight"] == 0


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"customer_id": 999_999_999}, 404, "no customer with id 999999999"),
        ({"customer_id": 1, "channel": "sms"}, 422, "channel 'sms' has no open history"),
        ({}, 422, "customer_id"),
        ({"customer_id": "abc"}, 422, "customer_id"),
    ],
)
def test_send_time_bad_input(
    client: TestClient, keys: dict, params: dict, status: int, words: str
) -> None:
    r = client.get("/v1/recommendations/send-time", params=params, headers=keys["marketer"])
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"]


def test_schedule_for_customers_skips_unknown_and_unconsented(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    with make_sessionmaker(engine)() as s:
        yes = list(s.scalars(select(Customer.id).where(Customer.consent_email).limit(30)))
        no = s.scalar(select(Customer.id).where(Customer.consent_email.is_(False)).limit(1))
    start = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    r = client.post(
        "/v1/recommendations/send-time/schedule",
        json={"customer_ids": [*yes, no, 999_999_999], "not_before": start.isoformat()},
        headers=keys["marketer"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {s["customer_id"] for s in body["sends"]} == set(yes)
    assert body["skipped"] == [
        {"customer_id": 999_999_999, "reason": "no such customer"},
        {"customer_id": no, "reason": "no e-mail consent"},
    ]
    times = [datetime.fromisoformat(s["send_at"]) for s in body["sends"]]
    assert times == sorted(times) and start <= times[0] and times[-1] < start + timedelta(days=7)
    assert sum(body["by_utc_hour"].values()) == len(yes)
    assert body["expected_opens"] == pytest.approx(
        sum(s["expected_open_rate"] for s in body["sends"])
    )


def test_schedule_for_a_campaign_audience(client: TestClient, engine: Engine, keys: dict) -> None:
    with make_sessionmaker(engine)() as s:
        campaign_id, audience = s.execute(
            select(Exposure.campaign_id, func.count())
            .where(Exposure.is_holdout.is_(False))
            .group_by(Exposure.campaign_id)
            .order_by(Exposure.campaign_id)
            .limit(1)
        ).one()
    r = client.post(
        "/v1/recommendations/send-time/schedule",
        json={"campaign_id": campaign_id},
        headers=keys["marketer"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["sends"]) + len(body["skipped"]) == audience


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"campaign_id": 1, "customer_ids": [1]}, 422, "either campaign_id or customer_ids"),
        ({}, 422, "either campaign_id or customer_ids"),
        ({"customer_ids": []}, 422, "customer_ids is empty"),
        ({"campaign_id": 999_999}, 404, "no campaign with id 999999"),
        ({"customer_ids": [1], "not_before": "2026-12-01T09:00:00"}, 422, "timezone"),
        ({"customer_ids": list(range(10_001))}, 422, "at most 10000"),
    ],
)
def test_schedule_bad_input(
    client: TestClient, keys: dict, body: dict, status: int, words: str
) -> None:
    r = client.post("/v1/recommendations/send-time/schedule", json=body, headers=keys["marketer"])
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_schedule_is_for_marketers(client: TestClient, keys: dict) -> None:
    r = client.post(
        "/v1/recommendations/send-time/schedule",
        json={"customer_ids": [1]},
        headers=keys["sales_rep"],
    )
    assert r.status_code == 403


def test_no_send_time_model_is_a_clear_503(
    world: Settings, engine: Engine, keys: dict, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    bare = world.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    with TestClient(create_app(engine, settings=bare)) as c:
        r = c.get(
            "/v1/recommendations/send-time", params={"customer_id": 1}, headers=keys["marketer"]
        )
        assert r.status_code == 503 and "lodestar train send_time" in r.json()["detail"]
        r = c.get(
            "/v1/recommendations/next-best-action",
            params={"customer_id": 1},
            headers=keys["marketer"],
        )
    assert r.status_code == 503 and "lodestar train next_best_action" in r.json()["detail"]


# --- next-best-action ------------------------------------------------------------------------

NBA = "/v1/recommendations/next-best-action"


def _customer(engine: Engine, **kw) -> int:  # type: ignore[no-untyped-def]
    """A copy of a simulated customer that has features online (so the model has its vector)."""
    with make_sessionmaker(engine, write=True)() as s:
        c = Customer(name="nba", timezone="UTC", consent_email=True, **kw)
        s.add(c)
        s.commit()
        return c.id


def _an_allowed_customer(client: TestClient, engine: Engine, keys: dict) -> tuple[int, dict]:
    with make_sessionmaker(engine)() as s:
        ids = list(s.scalars(select(Customer.id).where(Customer.consent_email).limit(200)))
    for cid in ids:
        body = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
        if body["actions"]:
            return cid, body
    raise AssertionError("no simulated customer has an offer worth making")


def test_nba_ranks_actions_and_accounts_for_every_offer(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    cid, body = _an_allowed_customer(client, engine, keys)
    assert (
        body["model_version"]
        == f"next_best_action:v{load_champion(world, 'next_best_action').version}"
    )
    evs = [a["expected_value"] for a in body["actions"]]
    assert evs == sorted(evs, reverse=True) and all(ev > 0 for ev in evs)
    assert body["chosen"] == body["actions"][0] and body["propensity"] == 1.0
    with make_sessionmaker(engine)() as s:
        offers = set(s.scalars(select(Offer.id)))
    seen = [a["offer_id"] for a in body["actions"]] + [r["offer_id"] for r in body["removed"]]
    assert sorted(seen) == sorted(offers)


def _policies(client: TestClient, keys: dict, cid: int) -> dict[int, str]:
    body = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
    assert body["actions"] == [] and body["chosen"] is None and body["no_action_reason"]
    return {r["offer_id"]: r["policy"] for r in body["removed"]}


def test_nba_never_offers_without_consent(client: TestClient, engine: Engine, keys: dict) -> None:
    cid = _customer(engine)
    with make_sessionmaker(engine, write=True)() as s:
        s.get(Customer, cid).consent_email = False
        s.commit()
    assert set(_policies(client, keys, cid).values()) == {"consent"}


def test_nba_frequency_cap_counts_messages_in_the_window(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    cid = _customer(engine)
    now = datetime.now(UTC)
    with make_sessionmaker(engine, write=True)() as s:
        camps = list(s.scalars(select(Campaign.id).limit(3)))
        # one message 8 days ago (outside the 7-day window) and one 2 days ago: under the cap
        for camp, days in zip(camps, (8, 2), strict=False):
            s.add(Exposure(campaign_id=camp, customer_id=cid, sent_at=now - timedelta(days=days)))
        s.commit()
    body = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
    assert "frequency_cap" not in {r["policy"] for r in body["removed"]}
    with make_sessionmaker(engine, write=True)() as s:
        s.add(Exposure(campaign_id=camps[2], customer_id=cid, sent_at=now - timedelta(hours=1)))
        s.commit()
    assert set(_policies(client, keys, cid).values()) == {"frequency_cap"}


def test_nba_cooldown_after_a_redemption(client: TestClient, engine: Engine, keys: dict) -> None:
    cid = _customer(engine)
    with make_sessionmaker(engine, write=True)() as s:
        code = s.scalars(select(CouponCode).limit(1)).one()
        s.add(
            Redemption(
                code_id=code.id,
                definition_id=code.definition_id,
                customer_id=cid,
                order_value=50.0,
                discount_amount=5.0,
                redeemed_at=datetime.now(UTC) - timedelta(days=3),
            )
        )
        s.commit()
    policies = _policies(client, keys, cid)
    assert set(policies.values()) == {"cooldown"}
    body = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
    assert "redeemed 3 days ago" in body["removed"][0]["reason"]


def test_nba_respects_inactive_offers_and_exhausted_budgets(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    cid, body = _an_allowed_customer(client, engine, keys)
    best = body["chosen"]["offer_id"]
    runner_up = body["actions"][1]["offer_id"] if len(body["actions"]) > 1 else None
    with make_sessionmaker(engine, write=True)() as s:
        s.get(Offer, best).is_active = False
        camp = Campaign(
            name="spent",
            channel="email",
            status=CampaignStatus.running,
            budget=100.0,
            spend=100.0,
            offer_id=runner_up,
        )
        s.add(camp)
        s.commit()
        camp_id = camp.id
    try:
        after = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
        removed = {r["offer_id"]: r for r in after["removed"]}
        assert removed[best]["policy"] == "inactive"
        if runner_up is not None:
            assert removed[runner_up]["policy"] == "budget"
            assert "budget exhausted" in removed[runner_up]["reason"]
        assert best not in {a["offer_id"] for a in after["actions"]}
    finally:
        with make_sessionmaker(engine, write=True)() as s:
            s.get(Offer, best).is_active = True
            s.delete(s.get(Campaign, camp_id))
            s.commit()


def test_nba_per_customer_coupon_limit_makes_an_offer_ineligible(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    from serving.core.models import CouponCustomerUsage, DiscountType

    cid, body = _an_allowed_customer(client, engine, keys)
    best = body["chosen"]["offer_id"]
    with make_sessionmaker(engine, write=True)() as s:
        d = CouponDefinition(
            name="once",
            offer_id=best,
            discount_type=DiscountType.percent,
            discount_value=10,
            per_customer_limit=1,
            valid_until=datetime.now(UTC) + timedelta(days=30),
        )
        s.add(d)
        s.flush()
        s.add(CouponCustomerUsage(definition_id=d.id, customer_id=cid, count=1))
        s.commit()
        d_id = d.id
    try:
        after = client.get(NBA, params={"customer_id": cid}, headers=keys["marketer"]).json()
        removed = {r["offer_id"]: r for r in after["removed"]}
        assert removed[best]["policy"] == "eligibility"
    finally:
        with make_sessionmaker(engine, write=True)() as s:
            s.query(CouponCustomerUsage).filter_by(definition_id=d_id).delete()
            s.delete(s.get(CouponDefinition, d_id))
            s.commit()


def test_nba_exploration_logs_its_propensity(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    from serving.prediction_log import read_predictions

    cid, greedy = _an_allowed_customer(client, engine, keys)
    k = len(greedy["actions"]) + sum(r["policy"] == "min_expected_value" for r in greedy["removed"])
    seen = {}
    for _ in range(40):
        r = client.get(
            NBA,
            params={"customer_id": cid, "mode": "epsilon", "epsilon": 0.5},
            headers=keys["marketer"],
        ).json()
        pick = r["chosen"]["offer_id"] if r["chosen"] else None
        seen[pick] = r["propensity"]
    greedy_pick = greedy["chosen"]["offer_id"]
    assert seen[greedy_pick] == pytest.approx(1 - 0.5 + 0.5 / (k + 1))
    assert all(p == pytest.approx(0.5 / (k + 1)) for o, p in seen.items() if o != greedy_pick)
    assert len(seen) > 1  # it did explore
    client.app.state.scoring.log.flush()
    logged = read_predictions(world.data_dir / "prediction_log", "next_best_action")
    assert (logged["mode"] == "epsilon").sum() >= 40
    row = logged[logged["request_id"] == r["decision_id"]].iloc[0]
    assert row["propensity"] == pytest.approx(r["propensity"])
    assert row["chosen_offer_id"] == (r["chosen"]["offer_id"] if r["chosen"] else -1)


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"customer_id": 999_999_999}, 404, "no customer with id 999999999"),
        ({"customer_id": 1, "mode": "bandit"}, 422, "mode"),
        ({"customer_id": 1, "epsilon": 2}, 422, "epsilon"),
        ({}, 422, "customer_id"),
    ],
)
def test_nba_bad_input(
    client: TestClient, keys: dict, params: dict, status: int, words: str
) -> None:
    r = client.get(NBA, params=params, headers=keys["marketer"])
    assert r.status_code == status and words in r.json()["detail"]
