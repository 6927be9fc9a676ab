"""POST /v1/scores/{model}, the model reload and the prediction log, on a small trained world.

The world (simulated, features built and materialized, two models trained) is made once for the
module; every request goes through HTTP.
"""

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from features.jobs import apply_repo, materialize
from features.pipelines import build_features
from serving.app import create_app
from serving.config import Settings
from serving.core.db import make_engine, make_sessionmaker
from serving.core.models import Customer, Lead, Role
from serving.core.services.users import create_user
from serving.devserver import live_server
from serving.prediction_log import read_predictions
from serving.scoring import Scorer, load_champion
from serving.simulator import run_simulation
from training import registry
from training.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("scores")
    s = Settings(
        database_url=f"sqlite:///{tmp}/t.db",
        data_dir=tmp / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
        feast_project=f"s{uuid.uuid4().hex[:8]}",
        model_poll_seconds=0,
        prediction_log_flush_seconds=0.2,
    )
    run_simulation(s, customers=3_000, days=120, seed=3, reset=True)
    build_features(s)
    apply_repo(s)
    materialize(s, incremental=False)
    train(s, "lead_scoring", seed=0)
    train(s, "conversion", seed=0, max_rows=20_000)
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
        rep_id = s.scalar(select(Lead.owner_id).where(Lead.owner_id.is_not(None)).limit(1))
        for role in (Role.admin, Role.marketer, Role.data_scientist):
            _, key = create_user(session=s, email=f"{role.value}@t.io", name="x", role=role)
            out[role.value] = {"X-API-Key": key}
        from serving.core.models import User
        from serving.core.services.users import issue_key

        rep = s.get(User, rep_id)
        out["rep"] = {"X-API-Key": issue_key(session=s, user=rep)}
        out["rep_id"] = {"id": str(rep_id)}
        s.commit()
    return out


@pytest.fixture(scope="module")
def client(world: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, settings=world), raise_server_exceptions=False) as c:
        yield c


def _ids(engine: Engine, query) -> list[int]:  # type: ignore[no-untyped-def]
    with make_sessionmaker(engine)() as s:
        return list(s.scalars(query))


def test_batch_scores_match_the_in_process_model(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    ids = _ids(engine, select(Customer.id).order_by(Customer.id).limit(100))
    r = client.post("/v1/scores/conversion", json={"ids": ids}, headers=keys["marketer"])
    assert r.status_code == 200, r.text
    body = r.json()
    champion = registry.champion_version("conversion")
    assert body["model_version"] == f"conversion:v{champion}"
    got = {s["id"]: s["probability"] for s in body["scores"]}
    assert len(got) + len(body["not_scored"]) == 100
    direct = Scorer(world, load_champion(world, "conversion")).score(ids, explain=False)
    for s in direct:
        if s.entity_id in got:
            assert got[s.entity_id] == pytest.approx(s.probability, abs=1e-12)
    assert all(0 <= s["score"] <= 100 and s["grade"] in "ABCD" for s in body["scores"])
    assert all(s["reasons"] is None for s in body["scores"])


def test_one_lead_with_reasons_and_unknown_and_repeated_ids(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    lead_id = _ids(engine, select(Lead.id).order_by(Lead.id.desc()).limit(1))[0]
    r = client.post(
        "/v1/scores/lead_scoring",
        json={"ids": [lead_id, 999_999_999, lead_id], "explain": True},
        headers=keys["admin"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["id"] for s in body["scores"]] == [lead_id]
    assert body["scores"][0]["reasons"] and "text" in body["scores"][0]["reasons"][0]
    assert body["not_scored"] == [{"id": 999_999_999, "reason": "no such lead"}]
    assert body["model_version"].startswith("lead_scoring:v")


def test_a_rep_scores_only_their_own_leads(client: TestClient, engine: Engine, keys: dict) -> None:
    rep_id = int(keys["rep_id"]["id"])
    mine = _ids(engine, select(Lead.id).where(Lead.owner_id == rep_id).limit(1))[0]
    other = _ids(engine, select(Lead.id).where(Lead.owner_id != rep_id).limit(1))[0]
    r = client.post("/v1/scores/lead_scoring", json={"ids": [mine, other]}, headers=keys["rep"])
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["scores"]] == [mine]
    assert r.json()["not_scored"] == [{"id": other, "reason": "no such lead"}]


def test_a_customer_without_online_features_gets_a_reason(
    client: TestClient, engine: Engine, keys: dict
) -> None:
    with make_sessionmaker(engine, write=True)() as s:
        c = Customer(name="brand new", timezone="UTC")
        s.add(c)
        s.commit()
        new_id = c.id
    r = client.post("/v1/scores/conversion", json={"ids": [new_id]}, headers=keys["marketer"])
    assert r.status_code == 200
    (miss,) = r.json()["not_scored"]
    assert miss["id"] == new_id and "no features online" in miss["reason"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v1/scores/conversion", {"ids": []}, 422, "at least 1"),
        ("/v1/scores/conversion", {"ids": list(range(1, 1002))}, 422, "at most 1000"),
        ("/v1/scores/conversion", {"ids": ["x"]}, 422, "ids.0"),
        ("/v1/scores/conversion", {}, 422, "ids"),
        ("/v1/scores/nope", {"ids": [1]}, 404, "unknown model 'nope'"),
        ("/v1/scores/churn", {"ids": [1]}, 503, "lodestar train churn"),
    ],
)
def test_bad_requests_get_problem_json(
    client: TestClient, keys: dict, path: str, body: dict, status: int, words: str
) -> None:
    r = client.post(path, json=body, headers=keys["marketer"])
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"]


def test_scoring_needs_a_key_and_reload_needs_a_role(client: TestClient, keys: dict) -> None:
    assert client.post("/v1/scores/conversion", json={"ids": [1]}).status_code == 401
    assert client.post("/v1/models/reload", headers=keys["marketer"]).status_code == 403
    r = client.post("/v1/models/reload", headers=keys["data_scientist"])
    assert r.status_code == 200 and {m["model"] for m in r.json()} >= {"conversion"}


def test_every_prediction_reaches_the_log(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    ids = _ids(engine, select(Customer.id).order_by(Customer.id).limit(7))
    r = client.post("/v1/scores/conversion", json={"ids": ids}, headers=keys["marketer"])
    request_id = r.json()["request_id"]
    client.app.state.scoring.log.flush()
    logged = read_predictions(world.data_dir / "prediction_log", "conversion")
    mine = logged[logged["request_id"] == request_id]
    assert sorted(mine["entity_id"]) == sorted(ids)
    assert set(mine["model_version"]) == {registry.champion_version("conversion")}
    by_id = {s["id"]: s["probability"] for s in r.json()["scores"]}
    for row in mine.itertuples():
        if row.entity_id in by_id:
            assert row.probability == pytest.approx(by_id[row.entity_id])
    assert {"days_since_last_order", "probability", "grade"} <= set(mine.columns)


def _new_version(name: str) -> str:
    """Register the champion's model again: a new version that scores exactly the same."""
    champion = mlflow.MlflowClient().get_model_version_by_alias(name, "champion")
    mv = mlflow.register_model(f"runs:/{champion.run_id}/model", name)
    return str(mv.version)


def test_reload_under_load_never_fails_a_request(
    world: Settings, engine: Engine, keys: dict
) -> None:
    ids = _ids(engine, select(Customer.id).order_by(Customer.id).limit(20))
    app = create_app(engine, settings=world)
    before = registry.champion_version("conversion")
    seen: Counter[tuple[int, str]] = Counter()
    stop = threading.Event()

    def hammer(base: str) -> None:
        with httpx.Client(base_url=base, headers=keys["marketer"], timeout=30) as http:
            while not stop.is_set():
                r = http.post("/v1/scores/conversion", json={"ids": ids})
                seen[(r.status_code, r.json().get("model_version", r.text))] += 1

    with live_server(app) as base:
        workers = [threading.Thread(target=hammer, args=(base,)) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        after = _new_version("conversion")
        registry.set_champion("conversion", after, "reload test")
        r = httpx.post(f"{base}/v1/models/reload", headers=keys["admin"], timeout=60)
        assert {
            "model": "conversion",
            "before": before,
            "after": after,
            "changed": True,
        } in r.json()
        time.sleep(1.0)
        stop.set()
        for w in workers:
            w.join()
        final = httpx.post(
            f"{base}/v1/scores/conversion", json={"ids": ids}, headers=keys["marketer"]
        ).json()
    assert {status for status, _ in seen} == {200}
    versions = {v for _, v in seen}
    assert versions == {f"conversion:v{before}", f"conversion:v{after}"}
    assert final["model_version"] == f"conversion:v{after}"
    assert sum(seen.values()) > 20


def test_polling_follows_the_alias(world: Settings, engine: Engine, keys: dict) -> None:
    app = create_app(engine, settings=world.model_copy(update={"model_poll_seconds": 0.2}))
    with TestClient(app) as c:
        c.post("/v1/scores/conversion", json={"ids": [1]}, headers=keys["marketer"])
        target = _new_version("conversion")
        registry.set_champion("conversion", target, "poll test")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            states = {m["model"]: m for m in c.get("/v1/models", headers=keys["admin"]).json()}
            if states["conversion"]["loaded_version"] == target:
                break
            time.sleep(0.1)
        assert states["conversion"] == {
            "model": "conversion",
            "loaded_version": target,
            "champion_version": target,
        }


def test_log_files_are_never_half_written(tmp_path: Path) -> None:
    import pandas as pd

    from serving.prediction_log import PredictionLog

    plog = PredictionLog(tmp_path, flush_seconds=0.05)
    for k in range(30):
        plog.append(
            "m", "1", [k], {"probability": [0.5]}, pd.DataFrame({"f": [float(k)]}), request_id="r"
        )
    plog.close()
    assert not list(tmp_path.rglob("*.tmp"))
    frame = read_predictions(tmp_path, "m")
    np.testing.assert_array_equal(np.sort(frame["f"].to_numpy()), np.arange(30.0))
    assert plog.written == 30 and plog.dropped == 0


def test_drift_monitor_reads_what_the_api_scored(
    client: TestClient, engine: Engine, world: Settings, keys: dict
) -> None:
    from training.drift import monitor

    ids = _ids(engine, select(Customer.id).order_by(Customer.id.desc()).limit(600))
    for k in range(0, 600, 200):
        r = client.post(
            "/v1/scores/conversion", json={"ids": ids[k : k + 200]}, headers=keys["marketer"]
        )
        assert r.status_code == 200
    client.app.state.scoring.log.flush()
    summary = monitor(world, "conversion", out_dir=world.data_dir / "reports")
    assert summary.current_source == "the prediction log (last 7 days)"
    assert summary.current_rows >= 600  # distinct customers scored, each once
    assert summary.html_path.exists() and summary.features
