"""POST /v1/campaigns/{id}/forecast and GET /v1/analytics/attribution through HTTP, plus the
forecast against seasonal naive on a simulated world, also through `lodestar evaluate forecast`."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from serving.analytics import campaigns as analytics
from serving.cli import app
from serving.config import Settings, get_settings
from serving.core.migrate import upgrade
from serving.core.models import Campaign, CampaignStatus, Customer, Exposure, Order
from tests import factories
from tests.factories import auth

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Rolled-back tests reuse ids on SQLite; a cached fit must not leak between tests."""
    analytics._cache.clear()
    analytics._mix_cache.clear()


def _customers(session: Session, n: int) -> list[Customer]:
    segments = ("consumer", "smb", "consumer", "enterprise")
    return [factories.customer(session, segment=segments[i % 4]) for i in range(n)]


def _expose(
    session: Session,
    campaign: Campaign,
    customers: list[Customer],
    rng: np.random.Generator,
    *,
    p: float = 0.2,
    holdout_every: int = 0,
    lift: float = 0.0,
) -> None:
    """Exposures sent at the start; a share convert on a random day of the window."""
    start, end = campaign.starts_at, campaign.ends_at
    assert start is not None and end is not None
    days = max(1, (end - start).days)
    for i, c in enumerate(customers):
        holdout = bool(holdout_every) and i % holdout_every == 0
        converted = rng.random() < p + (0 if holdout else lift)
        at = start + timedelta(days=int(rng.integers(0, days)), hours=1)
        session.add(
            Exposure(
                campaign_id=campaign.id,
                customer_id=c.id,
                is_holdout=holdout,
                assigned_at=start,
                sent_at=None if holdout else start,
                converted_at=at if converted and at < NOW else None,
                revenue=float(rng.integers(20, 200)) if converted and at < NOW else None,
            )
        )
    session.flush()


def _history(session: Session, n: int = 9, audience: int = 40) -> list[Customer]:
    """`n` ended weekly campaigns, the last one ending two days ago."""
    rng = np.random.default_rng(0)
    people = _customers(session, audience)
    for k in range(n):
        start = NOW - timedelta(days=2 + 7 * (n - k))
        c = factories.campaign(
            session,
            arms=1,
            starts_at=start,
            ends_at=start + timedelta(days=7),
            status=CampaignStatus.ended,
        )
        _expose(session, c, people, rng)
    return people


def _draft(session: Session, **kw) -> Campaign:
    start = NOW + timedelta(days=3)
    return factories.campaign(
        session, arms=1, starts_at=start, ends_at=start + timedelta(days=7), **kw
    )


def _forecast(client: TestClient, key: str, campaign_id: int, body: dict | None = None):
    return client.post(f"/v1/campaigns/{campaign_id}/forecast", json=body, headers=auth(key))


MIX = {"audience": {"size": 1000, "mix": {"consumer": 3, "smb": 1}}}


def test_draft_forecast_from_the_body(client: TestClient, keys, session: Session) -> None:
    _history(session)
    draft = _draft(session)
    r = _forecast(client, keys.marketer, draft.id, MIX)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["audience"] == {
        "size": 1000.0,
        "mix": {"consumer": 0.75, "smb": 0.25},
        "source": "body",
    }
    assert out["model"]["trained_on_campaigns"] == 9 and out["model"]["method"] == "glm"
    assert [d["day"] for d in out["daily"]] == list(range(7))
    for d in out["daily"]:
        assert d["conversions_low"] <= d["conversions_median"] <= d["conversions_high"]
        assert d["actual_conversions"] is None
    t = out["totals"]
    assert t["conversions"] == pytest.approx(sum(d["conversions"] for d in out["daily"]))
    # the history converts about 20% of an audience per week
    assert 100 < t["conversions"] < 400
    assert out["effect"] is None and out["budget"] is None


def test_draft_forecast_from_its_exposures(client: TestClient, keys, session: Session) -> None:
    people = _history(session)
    draft = _draft(session)
    for c in people[:10]:
        session.add(Exposure(campaign_id=draft.id, customer_id=c.id, assigned_at=NOW))
    session.flush()
    r = _forecast(client, keys.admin, draft.id)
    assert r.status_code == 200, r.text
    a = r.json()["audience"]
    assert a["source"] == "exposures" and a["size"] == 10
    assert a["mix"] == {"consumer": 0.5, "enterprise": 0.2, "smb": 0.3}


def test_forecast_errors(client: TestClient, keys, session: Session) -> None:
    r = _forecast(client, keys.marketer, 10**9, MIX)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    no_window = factories.campaign(session, arms=1, starts_at=NOW + timedelta(days=1))
    r = _forecast(client, keys.marketer, no_window.id, MIX)
    assert r.status_code == 422 and "has no ends_at" in r.json()["detail"]
    draft = _draft(session)
    r = _forecast(client, keys.marketer, draft.id, MIX)  # no history at all
    assert r.status_code == 422
    assert "at least 8 past campaigns" in r.json()["detail"] and "found 0" in r.json()["detail"]
    _history(session, n=3)
    r = _forecast(client, keys.marketer, draft.id, MIX)
    assert r.status_code == 422 and "found 3" in r.json()["detail"]
    _history(session, n=9)
    r = _forecast(client, keys.marketer, draft.id)  # no exposures, no audience in the body
    assert r.status_code == 422 and "no exposures yet" in r.json()["detail"]
    for bad in (
        {"audience": {"size": 0, "mix": {"smb": 1}}},
        {"audience": {"size": 10, "mix": {}}},
        {"level": 1.5},
        {"as_of": "2026-01-01T00:00:00"},
    ):
        r = _forecast(client, keys.marketer, draft.id, bad)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", bad
    r = _forecast(client, keys.marketer, draft.id, {"audience": {"size": 5, "mix": {"smb": 0}}})
    assert r.status_code == 422 and "positive share" in r.json()["detail"]
    r = _forecast(client, keys.marketer, draft.id, {"audience": {"size": 5, "mix": {"gov": 1}}})
    assert r.status_code == 422
    assert "unknown segment(s) in audience.mix: gov" in r.json()["detail"]
    assert "consumer, enterprise, smb" in r.json()["detail"]


def test_forecast_roles(client: TestClient, keys, session: Session) -> None:
    _history(session)
    draft = _draft(session)
    for key in (keys.rep, keys.data_scientist):
        r = _forecast(client, key, draft.id, MIX)
        assert r.status_code == 403 and "marketer" in r.json()["detail"]
    assert client.post(f"/v1/campaigns/{draft.id}/forecast", json=MIX).status_code == 401
    assert _forecast(client, keys.admin, draft.id, MIX).status_code == 200


def test_running_campaign_with_holdout_effect_and_budget_alert(
    client: TestClient, keys, session: Session
) -> None:
    _history(session)
    rng = np.random.default_rng(1)
    start = NOW - timedelta(days=4, hours=12)
    running = factories.campaign(
        session,
        arms=1,
        starts_at=start,
        ends_at=start + timedelta(days=10),
        status=CampaignStatus.running,
        holdout_fraction=0.25,
        budget=1000.0,
        spend=600.0,  # 45% of the window, 60% of the budget: heading for 1,333
    )
    _expose(session, running, _customers(session, 200), rng, p=0.1, holdout_every=4, lift=0.3)
    r = _forecast(client, keys.marketer, running.id)
    assert r.status_code == 200, r.text
    out = r.json()
    e = out["effect"]
    assert e["method"] == "holdout" and (e["treated"], e["baseline"]) == (150, 50)
    assert e["incremental_conversions_low"] > 0  # a 30-point lift on 150 treated shows
    assert e["treated_rate"] > e["baseline_rate"]
    b = out["budget"]
    assert b["alert"] is True and b["projected_spend"] == pytest.approx(600 / 0.45, rel=1e-3)
    assert "over the budget" in b["message"]
    started = [d for d in out["daily"] if d["actual_conversions"] is not None]
    assert [d["day"] for d in started] == [0, 1, 2, 3, 4]
    assert (
        sum(d["actual_conversions"] for d in started)
        == session.query(Exposure)
        .filter(Exposure.campaign_id == running.id, Exposure.converted_at.is_not(None))
        .count()
    )
    # on pace: no alert
    running.spend = 400.0
    session.flush()
    analytics._cache.clear()
    assert _forecast(client, keys.marketer, running.id).json()["budget"]["alert"] is False


def test_running_campaign_without_holdout_against_pre_period(
    client: TestClient, keys, session: Session
) -> None:
    _history(session)
    start = NOW - timedelta(days=7)
    running = factories.campaign(
        session,
        arms=1,
        starts_at=start,
        ends_at=start + timedelta(days=14),
        status=CampaignStatus.running,
    )
    audience = _customers(session, 20)
    outside = _customers(session, 20)
    _expose(session, running, audience, np.random.default_rng(2), p=0.0)
    for day in range(-28, 7):
        at = start + timedelta(days=day, hours=3)
        buyers = audience[: (4 if day >= 0 else 2)] + outside[:3]  # the audience doubles
        session.add_all(Order(customer_id=c.id, ordered_at=at, amount=10.0) for c in buyers)
    session.flush()
    r = _forecast(client, keys.marketer, running.id)
    assert r.status_code == 200, r.text
    e = r.json()["effect"]
    assert e["method"] == "pre_period" and "no holdout" in e["note"]
    assert e["treated"] == 28 and e["baseline"] == pytest.approx(14)
    assert e["incremental_conversions"] == pytest.approx(14)
    assert e["incremental_revenue"] == pytest.approx(140)


# --- attribution ----------------------------------------------------------------------------

T = datetime(2026, 3, 2, tzinfo=UTC)


def _attribution_world(session: Session) -> dict[str, int]:
    """Two customers: one touched by an e-mail (clicked) then an SMS before buying 100; one
    buying 40 with no touch in 30 days. The SMS campaign's coupon was redeemed on the order."""
    a, b = _customers(session, 2)
    email = factories.campaign(
        session, arms=1, starts_at=T, ends_at=T + timedelta(days=10), spend=100.0
    )
    sms = factories.campaign(
        session,
        arms=1,
        channel="sms",
        starts_at=T + timedelta(days=4),
        ends_at=T + timedelta(days=8),
        spend=20.0,
    )
    session.add_all(
        [
            Exposure(
                campaign_id=email.id,
                customer_id=a.id,
                sent_at=T + timedelta(days=1),
                clicked_at=T + timedelta(days=2),
            ),
            Exposure(campaign_id=sms.id, customer_id=a.id, sent_at=T + timedelta(days=4)),
            Exposure(campaign_id=sms.id, customer_id=b.id, is_holdout=True),
        ]
    )
    offer = factories.offer(session, cost=5.0)
    definition, code = factories.coupon(session, code="ATTR-0001-TEST")
    definition.offer_id = offer.id
    session.add_all(
        [
            Order(
                customer_id=a.id,
                ordered_at=T + timedelta(days=6),
                amount=100.0,
                campaign_id=sms.id,
                coupon_code=code.code,
            ),
            Order(customer_id=b.id, ordered_at=T + timedelta(days=7), amount=40.0),
            Order(customer_id=b.id, ordered_at=T + timedelta(days=30), amount=99.0),  # outside
        ]
    )
    session.flush()
    return {"email": email.id, "sms": sms.id}


def _attribution(client: TestClient, key: str, **params):
    q = {"from": T.isoformat(), "to": (T + timedelta(days=10)).isoformat(), **params}
    return client.get("/v1/analytics/attribution", params=q, headers=auth(key))


@pytest.mark.parametrize(
    ("model", "email_share"),
    [("first_touch", 1.0), ("last_touch", 0.0), ("linear", 0.5), ("time_decay", None)],
)
def test_attribution_by_model(
    client: TestClient, keys, session: Session, model: str, email_share: float | None
) -> None:
    ids = _attribution_world(session)
    r = _attribution(client, keys.marketer, model=model, half_life_days=2)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["from"].startswith("2026-03-02T00:00:00") and out["lookback_days"] == 30
    assert (out["orders"], out["revenue"]) == (2, 140.0)
    assert out["unattributed"] == {"orders": 1, "revenue": 40.0}
    if email_share is None:  # ages 4 days (clicked day 2) and 2 days (sent day 4), half-life 2
        email_share = 0.25 / (0.25 + 0.5)
        assert out["half_life_days"] == 2
    else:
        assert out["half_life_days"] is None
    channels = {c["channel"]: c for c in out["channels"]}
    assert sum(c["conversions"] for c in channels.values()) == pytest.approx(1.0)
    assert sum(c["revenue"] for c in channels.values()) == pytest.approx(100.0)
    assert channels["email"]["conversions"] == pytest.approx(email_share)
    assert channels["email"]["revenue"] == pytest.approx(round(100 * email_share, 2))
    # the whole e-mail window is in the period; the SMS one too, plus one redemption at 5
    assert channels["email"]["cost"] == 100.0 and channels["sms"]["cost"] == 25.0
    assert channels["sms"]["spend_cost"] == 20.0 and channels["sms"]["offer_cost"] == 5.0
    sms_rev = channels["sms"]["revenue"]
    assert channels["sms"]["roi"] == pytest.approx((sms_rev - 25) / 25)
    by_id = {c["campaign_id"]: c for c in out["campaigns"]}
    assert by_id[ids["sms"]]["channel"] == "sms" and by_id[ids["sms"]]["name"].startswith("Camp")


def test_attribution_period_cuts_cost(client: TestClient, keys, session: Session) -> None:
    _attribution_world(session)
    r = _attribution(client, keys.admin, to=(T + timedelta(days=5)).isoformat())
    assert r.status_code == 200
    channels = {c["channel"]: c for c in r.json()["channels"]}
    assert channels["email"]["spend_cost"] == 50.0  # half of its window
    assert channels["sms"]["spend_cost"] == 5.0 and channels["sms"]["conversions"] == 0
    assert channels["sms"]["roi"] == pytest.approx(-1.0)


def test_attribution_bad_inputs_and_roles(client: TestClient, keys, session: Session) -> None:
    r = _attribution(client, keys.marketer, model="u_shaped")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model"
    r = _attribution(client, keys.marketer, **{"from": "2026-03-02T00:00:00"})
    assert r.status_code == 422 and "timezone" in r.json()["detail"]
    r = _attribution(client, keys.marketer, to=(T - timedelta(days=1)).isoformat())
    assert r.status_code == 422 and "must be before" in r.json()["detail"]
    r = _attribution(client, keys.marketer, half_life_days=0)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "half_life_days"
    r = _attribution(client, keys.marketer, to=(T + timedelta(days=400)).isoformat())
    assert r.status_code == 422 and "366 days" in r.json()["detail"]
    for key in (keys.rep, keys.data_scientist):
        assert _attribution(client, key).status_code == 403
    assert client.get("/v1/analytics/attribution").status_code == 401
    r = client.get("/v1/analytics/attribution", headers=auth(keys.marketer))  # last 30 days
    assert r.status_code == 200 and r.json()["model"] == "linear"


# --- a simulated world ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A year of a small simulated world, shared by the tests that evaluate on it."""
    from serving.simulator import run_simulation

    root = tmp_path_factory.mktemp("forecast-world")
    settings = Settings(database_url=f"sqlite:///{root}/x.db", data_dir=root / "data")
    run_simulation(settings, customers=4000, days=365, seed=2, reset=True)
    return settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Settings], None]]:
    """Point the `lodestar` command's settings at a world (and restore them afterwards)."""

    def use(settings: Settings) -> None:
        monkeypatch.setenv("LODESTAR_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("LODESTAR_DATA_DIR", str(settings.data_dir))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.mark.slow
def test_forecast_beats_seasonal_naive_on_a_simulated_world(world: Settings) -> None:
    report = analytics.evaluate_forecast(world)
    model, naive = report["glm"], report["seasonal_naive"]
    assert model["campaigns"] >= 12
    assert model["conversions_total_mape"] < naive["conversions_total_mape"]
    assert model["conversions_daily_wape"] < naive["conversions_daily_wape"]
    assert model["revenue_total_mape_median"] < naive["revenue_total_mape"]
    promos = report["glm email:offer"]
    assert (
        promos["conversions_total_mape"]
        < report["seasonal_naive email:offer"]["conversions_total_mape"]
    )
    assert 0.6 <= model["conversions_total_coverage"] <= 1.0
    assert 0.7 <= model["conversions_daily_coverage"] <= 0.9
    # the inclusive share overshoots for small counts by construction
    assert model["conversions_daily_coverage_inclusive"] >= model["conversions_daily_coverage"]
    for key in ("conversions_total", "conversions_daily", "revenue_total", "revenue_daily"):
        assert model[f"{key}_interval_score"] < naive[f"{key}_interval_score"]


@pytest.mark.slow
def test_evaluate_forecast_command_prints_the_table(
    world: Settings, cli_env: Callable[[Settings], None]
) -> None:
    cli_env(world)
    r = CliRunner().invoke(app, ["evaluate", "forecast"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("backtesting campaign forecasts (glm, seasonal naive)")
    assert "held-out campaigns" in lines[1] and "interval score" in r.output
    rows = {tuple(line.split()[:2]) for line in lines if line.startswith(("conv", "revenue"))}
    assert rows == {
        (what, who) for what in ("conversions", "revenue") for who in ("glm", "seasonal_naive")
    }
    assert "glm beats seasonal_naive on 4 of 4 interval scores" in r.output
    assert lines[-1].startswith("done in ")


def test_evaluate_forecast_command_without_history(
    tmp_path: Path, cli_env: Callable[[Settings], None]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/empty.db", data_dir=tmp_path)
    upgrade(settings.database_url)
    cli_env(settings)
    r = CliRunner().invoke(app, ["evaluate", "forecast"])
    assert r.exit_code == 1
    assert "error: need more than" in r.output and "found 0" in r.output
    bad = CliRunner().invoke(app, ["evaluate", "forecast", "--method", "arima"])
    assert bad.exit_code != 0 and "method must be among" in bad.output
