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
from serving.core.models import Customer, Exposure, Role
from serving.core.services.users import create_user
from serving.scoring import load_champion
from serving.simulator import run_simulation
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
    run_simulation(s, customers=3_000, days=120, seed=11, reset=True)
    build_features(s)
    apply_repo(s)
    materialize(s, incremental=False)
    train_send_time(s)
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
