"""GET /v1/experiments/{id}/results: the per-customer table read from the DB, the numbers, the
problems, the roles; and CUPED on a simulated world."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.experiments import ExperimentResult, analyze
from serving.app import create_app
from serving.config import Settings
from serving.core.db import make_engine
from serving.core.models import Campaign, Customer, Exposure, Order, Role, User
from serving.core.services.users import issue_key
from serving.simulator import run_simulation
from tests import factories
from tests.factories import auth

START = datetime(2026, 9, 1, 12, tzinfo=UTC)
END = START + timedelta(days=14)
DESIGN = {"arm0": 0.45, "arm1": 0.45, "holdout": 0.10}
REGIONS = ("EMEA", "NA", None)


def _url(campaign_id: int, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/v1/experiments/{campaign_id}/results" + (f"?{query}" if query else "")


def _build(
    session: Session,
    sizes: dict[str, int],
    *,
    seed: int = 0,
    holdout_fraction: float = 0.1,
    control_arm: bool = True,
) -> tuple[Campaign, dict[str, np.ndarray]]:
    """A campaign (arm0 = control unless control_arm=False, arm1) with exposures per group,
    pre-period orders, and decoys the analysis must ignore; returns what it should see."""
    rng = np.random.default_rng(seed)
    camp = factories.campaign(
        session, arms=2, holdout_fraction=holdout_fraction, starts_at=START, ends_at=END
    )
    if not control_arm:
        camp.arms[0].is_control = False
    arm_ids = {a.name: a.id for a in camp.arms}
    groups = np.repeat(list(sizes), list(sizes.values()))
    n = len(groups)
    customers = [Customer(name=f"c{i}", region=REGIONS[i % 3]) for i in range(n)]
    session.add_all(customers)
    session.flush()
    pre = np.where(rng.random(n) < 0.5, rng.gamma(2.0, 40.0, n).round(2), 0.0)
    p = 0.10 + 0.15 * (pre > 0) + 0.05 * (groups == "arm1")
    converted = rng.random(n) < p
    late = converted & (rng.random(n) < 0.1)  # converted after the window: not counted
    revenue = np.where(converted, (30 + 0.8 * pre + rng.gamma(2.0, 10.0, n)).round(2), 0.0)
    for i, c in enumerate(customers):
        g = groups[i]
        when = END + timedelta(days=1) if late[i] else START + timedelta(days=int(i % 13))
        session.add(
            Exposure(
                campaign_id=camp.id,
                customer_id=c.id,
                arm_id=None if g == "holdout" else arm_ids[g],
                is_holdout=g == "holdout",
                assigned_at=START,
                converted_at=when if converted[i] else None,
                revenue=float(revenue[i]) if converted[i] else None,
            )
        )
        if pre[i] > 0:
            session.add(
                Order(
                    customer_id=c.id,
                    ordered_at=START - timedelta(days=3 + i % 25),
                    amount=float(pre[i]),
                )
            )
        # decoys outside the 30-day pre-period: before it, and after the start
        session.add(Order(customer_id=c.id, ordered_at=START - timedelta(days=31), amount=999.0))
        session.add(Order(customer_id=c.id, ordered_at=START + timedelta(hours=1), amount=555.0))
    session.flush()
    counted = converted & ~late
    truth = {
        "group": groups,
        "converted": counted.astype(float),
        "revenue": np.where(counted, revenue, 0.0),
        "pre": pre,
        "region": np.array([r or "unknown" for r in (REGIONS[i % 3] for i in range(n))]),
    }
    return camp, truth


def _reference(truth: dict[str, np.ndarray], control: str = "arm0", **kw: Any) -> ExperimentResult:
    return analyze(
        truth["group"],
        {"conversion_rate": truth["converted"], "revenue_per_user": truth["revenue"]},
        control=control,
        binary=["conversion_rate"],
        covariate=truth["pre"],
        weights=DESIGN,
        **kw,
    )


def test_results_match_the_model_on_the_same_rows(
    client: TestClient, session: Session, keys
) -> None:
    camp, truth = _build(session, {"arm0": 315, "arm1": 315, "holdout": 70})
    r = client.get(_url(camp.id), headers=auth(keys.marketer))
    assert r.status_code == 200, r.text
    body = r.json()
    ref = _reference(truth)
    assert body["control"] == "arm0" and not body["control_is_holdout"]
    assert body["n"] == 700 and not body["srm_mismatch"] and body["warnings"] == []
    groups = {g["arm"]: g for g in body["groups"]}
    assert list(groups) == ["arm0", "arm1", "holdout"] and groups["holdout"]["arm_id"] is None
    for g in ref.groups:
        assert groups[g.arm]["n"] == g.n
        assert groups[g.arm]["conversion_rate"] == pytest.approx(g.means["conversion_rate"])
        assert groups[g.arm]["revenue_per_user"] == pytest.approx(g.means["revenue_per_user"])
        assert groups[g.arm]["designed_share"] == pytest.approx(DESIGN[g.arm])
    assert body["srm"]["p_value"] == pytest.approx(ref.srm.p_value, abs=1e-12)
    got = {(c["arm"], c["metric"]): c for c in body["comparisons"]}
    assert len(got) == 4  # arm1 and the holdout, on both metrics
    for c in ref.comparisons:
        out = got[(c.arm, c.metric)]
        assert out["frequentist"]["statistic"] == pytest.approx(c.frequentist.statistic, rel=1e-9)
        assert out["frequentist"]["abs_ci"]["low"] == pytest.approx(c.frequentist.abs_ci.low)
        assert out["bayesian"]["chance_to_beat"] == pytest.approx(c.bayesian.chance_to_beat)
        assert out["sequential"]["p_value"] == pytest.approx(c.sequential.p_value)
        # theta depends on the pre-period window: the decoy orders would move it a lot
        assert out["cuped"]["theta"] == pytest.approx(c.cuped.theta, rel=1e-9)
        assert out["cuped"]["variance_reduction"] == pytest.approx(c.cuped.variance_reduction)
    revenue = got[("arm1", "revenue_per_user")]
    assert revenue["cuped"]["variance_reduction"] > 0.1  # revenue follows the pre-period
    assert body["pre_period_end"].startswith("2026-09-01T12:00")


def test_segments_split_the_same_units(client: TestClient, session: Session, keys) -> None:
    camp, truth = _build(session, {"arm0": 315, "arm1": 315, "holdout": 70}, seed=1)
    r = client.get(_url(camp.id, segment="region"), headers=auth(keys.data_scientist))
    assert r.status_code == 200, r.text
    body = r.json()
    segs = {s["segment"]: s for s in body["segments"]}
    assert set(segs) == {"EMEA", "NA", "unknown"} and body["segment_by"] == "region"
    assert sum(s["n"] for s in segs.values()) == body["n"]
    ref = _reference(truth, segment=truth["region"])
    for s in ref.segments or []:
        got = {(c["arm"], c["metric"]): c for c in segs[s.segment]["comparisons"]}
        for c in s.comparisons:
            p = got[(c.arm, c.metric)]["frequentist"]["p_value"]
            assert p == pytest.approx(c.frequentist.p_value, rel=1e-9)
    r = client.get(_url(camp.id, segment="none"), headers=auth(keys.admin))
    assert r.status_code == 200 and r.json()["segments"] is None


def test_holdout_is_control_when_no_arm_is(client: TestClient, session: Session, keys) -> None:
    camp, _ = _build(session, {"arm0": 300, "arm1": 300, "holdout": 67}, control_arm=False)
    camp.starts_at = camp.ends_at = None  # no window: the pre-period ends at the first assignment
    session.flush()
    body = client.get(_url(camp.id), headers=auth(keys.marketer)).json()
    assert body["control"] == "holdout" and body["control_is_holdout"]
    assert {c["arm"] for c in body["comparisons"]} == {"arm0", "arm1"}
    assert body["pre_period_end"].startswith("2026-09-01T12:00")
    assert body["pre_period_start"].startswith("2026-08-02T12:00")


def test_sample_ratio_mismatch_is_loud(client: TestClient, session: Session, keys) -> None:
    camp, _ = _build(session, {"arm0": 420, "arm1": 230, "holdout": 70})
    body = client.get(_url(camp.id), headers=auth(keys.marketer)).json()
    assert body["srm_mismatch"] and body["srm"]["p_value"] < 0.001
    assert body["warnings"][0].startswith("SAMPLE RATIO MISMATCH")


def test_problems(client: TestClient, session: Session, keys) -> None:
    h = auth(keys.marketer)
    r = client.get(_url(987_654), headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert r.headers["content-type"] == "application/problem+json"
    empty = factories.campaign(session, arms=2)
    r = client.get(_url(empty.id), headers=h)
    assert r.status_code == 422 and "no exposures" in r.json()["detail"]
    no_control, _ = _build(
        session, {"arm0": 50, "arm1": 50}, holdout_fraction=0.0, control_arm=False
    )
    r = client.get(_url(no_control.id), headers=h)
    assert r.status_code == 422 and "no control" in r.json()["detail"]
    only_control, _ = _build(session, {"arm0": 50}, holdout_fraction=0.0)
    r = client.get(_url(only_control.id), headers=h)
    assert r.status_code == 422 and "only one arm" in r.json()["detail"]
    camp, _ = _build(session, {"arm0": 50, "arm1": 50}, holdout_fraction=0.0)
    for bad in ("alpha=0", "alpha=0.7", "alpha=-1", "alpha=abc", "segment=city"):
        r = client.get(f"{_url(camp.id)}?{bad}", headers=h)
        assert r.status_code == 422, bad
        assert r.json()["code"] == "validation_error"
    r = client.get(_url(camp.id, alpha=0.1), headers=h)
    assert r.status_code == 200 and r.json()["alpha"] == 0.1


def test_nothing_converted_gives_nulls_not_errors(
    client: TestClient, session: Session, keys
) -> None:
    camp, _ = _build(session, {"arm0": 60, "arm1": 60}, holdout_fraction=0.0)
    session.execute(
        update(Exposure)
        .where(Exposure.campaign_id == camp.id)
        .values(converted_at=None, revenue=None)
    )
    r = client.get(_url(camp.id), headers=auth(keys.marketer))
    assert r.status_code == 200, r.text
    body = r.json()
    conv = next(c for c in body["comparisons"] if c["metric"] == "conversion_rate")
    assert conv["frequentist"]["p_value"] is None and conv["frequentist"]["rel_lift"] is None
    assert conv["bayesian"]["chance_to_beat"] == pytest.approx(0.5)
    assert any("0 of 60 converted" in w for w in body["warnings"])


def test_roles(client: TestClient, session: Session, keys) -> None:
    camp, _ = _build(session, {"arm0": 40, "arm1": 40}, holdout_fraction=0.0)
    for key in (keys.marketer, keys.admin, keys.data_scientist):
        assert client.get(_url(camp.id), headers=auth(key)).status_code == 200
    r = client.get(_url(camp.id), headers=auth(keys.rep))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert client.get(_url(camp.id)).status_code == 401


def test_cuped_reduces_revenue_variance_on_a_simulated_world(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/x.db",
        data_dir=tmp_path / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/no-mlflow.db",
    )
    run_simulation(settings, customers=3000, days=120, seed=1, reset=True)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            user = s.scalars(select(User).where(User.role == Role.marketer)).first()
            assert user is not None
            key = issue_key(session=s, user=user)
            s.commit()
            sale = s.scalars(select(Campaign).where(Campaign.name.like("Seasonal sale%"))).first()
            assert sale is not None
        with TestClient(create_app(engine, settings=settings)) as client:
            r = client.get(_url(sale.id), headers=auth(key))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["control"] == "control" and not body["srm_mismatch"]
        revenue = [c for c in body["comparisons"] if c["metric"] == "revenue_per_user"]
        assert len(revenue) == 3  # two offers and the holdout against the control arm
        for c in revenue:
            cu = c["cuped"]
            assert cu["theta"] > 0 and cu["variance_reduction"] > 0.02
            raw_width = c["frequentist"]["abs_ci"]["high"] - c["frequentist"]["abs_ci"]["low"]
            cuped_width = cu["frequentist"]["abs_ci"]["high"] - cu["frequentist"]["abs_ci"]["low"]
            assert cuped_width < raw_width
    finally:
        engine.dispose()
