"""The simulator: deterministic, consistent with the core's rules, and with an informative oracle.

A small world (2,000 customers, 60 days, in chunks of 700 so the cross-chunk bookkeeping is
exercised) is simulated once per module into a SQLite file and read back.
"""

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from scipy.integrate import quad
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, inspect, select, text

from serving.config import Settings
from serving.core.db import make_engine
from serving.core.models import Base, Role
from serving.core.services.assignment import pick_arm, unit_hashes
from serving.simulator import SimulationError, SimulationSummary, run_simulation
from serving.simulator.behaviour import EVENT_LOG_SCHEMA
from serving.simulator.ground_truth import KEY_COLUMNS, SCHEMA
from serving.simulator.timebase import WINDOW_END

CUSTOMERS, DAYS, CHUNK = 2_000, 60, 700
START = WINDOW_END - timedelta(days=DAYS)


def _settings(root: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{root}/s.db", data_dir=root / "data")


def _simulate(root: Path, seed: int = 7) -> tuple[Settings, SimulationSummary]:
    settings = _settings(root)
    summary = run_simulation(settings, customers=CUSTOMERS, days=DAYS, seed=seed, reset=True,
                             chunk_size=CHUNK)
    return settings, summary


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SimulationSummary]:
    return _simulate(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def engine(world: tuple[Settings, SimulationSummary]) -> Iterator[Engine]:
    eng = make_engine(world[0].database_url)
    yield eng
    eng.dispose()


def _sql(engine: Engine, query: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(text(query)).mappings().all())


def _truth(settings: Settings, name: str) -> pd.DataFrame:
    return pq.read_table(settings.ground_truth_dir / f"{name}.parquet").to_pandas()


def _digest(settings: Settings) -> str:
    """Hash of every DB row (in primary-key order) and every Parquet file's bytes."""
    h = hashlib.sha256()
    eng = make_engine(settings.database_url)
    with eng.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                h.update(repr(tuple(row)).encode())
    eng.dispose()
    for path in sorted(settings.data_dir.rglob("*.parquet")):
        h.update(str(path.relative_to(settings.data_dir)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_world_and_other_seed_another(
    world: tuple[Settings, SimulationSummary], tmp_path: Path
) -> None:
    again, _ = _simulate(tmp_path / "again")
    other, _ = _simulate(tmp_path / "other", seed=8)
    assert _digest(again) == _digest(world[0])
    assert _digest(other) != _digest(world[0])


def test_summary_says_what_was_written(world: tuple[Settings, SimulationSummary]) -> None:
    summary = world[1]
    text_ = str(summary)
    assert summary.db_rows["customers"] == CUSTOMERS
    for word in ("customers 2,000", "exposures", "orders", "leads", "event log", "rows/s",
                 str(world[0].event_log_dir)):
        assert word in text_
    assert summary.event_rows > 0 and summary.event_files > 0 and summary.truth_files == 4


def test_refuses_to_add_a_second_world(world: tuple[Settings, SimulationSummary]) -> None:
    with pytest.raises(SimulationError, match="already holds customers"):
        run_simulation(world[0], customers=10, days=14, seed=1, reset=False)


# --- ground truth -----------------------------------------------------------------------------


def test_ground_truth_files_have_the_documented_columns_and_ranges(
    world: tuple[Settings, SimulationSummary],
) -> None:
    settings = world[0]
    for name, cols in SCHEMA.items():
        table = pq.read_table(settings.ground_truth_dir / f"{name}.parquet")
        assert table.column_names == list(cols), name
    customers = _truth(settings, "customers")
    assert len(customers) == CUSTOMERS and customers.customer_id.is_unique
    assert customers.preferred_how_local.between(0, 167).all()
    assert customers.preferred_how_utc.between(0, 167).all()
    assert customers.base_open_rate.between(0, 1).all()
    assert (customers.purchase_rate > 0).all() and (customers.churn_hazard > 0).all()
    leads = _truth(settings, "leads")
    assert leads.p_convert_30d.between(0, 1).all() and len(leads) > 100
    effects = _truth(settings, "treatment_effects")
    assert effects[["p_control", "p_treated"]].stack().between(0, 1).all()
    assert np.allclose(effects.ite, effects.p_treated - effects.p_control)
    assert (effects.ite < 0).any() and (effects.ite > 0).any()  # sleeping dogs exist
    assert (effects[~effects.alive_at_send].ite == 0).all()
    snaps = _truth(settings, "customer_snapshots")
    assert snaps.as_of.nunique() == DAYS // 7
    assert snaps[["p_order_14d", "p_churn_90d"]].stack().between(0, 1).all()
    dead = snaps[~snaps.alive]
    assert (dead.p_order_14d == 0).all() and (dead.p_churn_90d == 1).all()


def test_hidden_columns_never_reach_the_db_or_the_event_log(
    world: tuple[Settings, SimulationSummary], engine: Engine,
) -> None:
    hidden = {c for cols in SCHEMA.values() for c in cols} - KEY_COLUMNS
    insp = inspect(engine)
    db_columns = {c["name"] for t in insp.get_table_names() for c in insp.get_columns(t)}
    log_columns = set(ds.dataset(world[0].event_log_dir, partitioning="hive").schema.names)
    assert hidden and not hidden & db_columns and not hidden & log_columns


def test_oracle_is_informative_but_not_perfect(world: tuple[Settings, SimulationSummary]) -> None:
    leads = _truth(world[0], "leads")
    p, y = leads.p_convert_30d.to_numpy(), leads.converted_30d.to_numpy()
    # AUC expected from the probabilities alone (no sampling noise), and the realised one.
    ps = np.sort(p)
    expected = (ps * (np.cumsum(1 - ps) - (1 - ps))).sum() / (
        ps.sum() * (1 - ps).sum() - (ps * (1 - ps)).sum())
    assert 0.78 <= expected <= 0.92
    assert 0.70 <= roc_auc_score(y, p) <= 0.97


def _binned_means(score: np.ndarray, outcome: np.ndarray, bins: int = 5) -> tuple[np.ndarray, ...]:
    edges = np.quantile(score, np.linspace(0, 1, bins + 1))
    k = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, bins - 1)
    return tuple(
        np.array([v[k == b].mean() for b in range(bins)]) for v in (score, outcome.astype(float))
    )


def test_knowable_lead_oracle_is_the_truth_averaged_over_the_noise(
    world: tuple[Settings, SimulationSummary],
) -> None:
    leads = _truth(world[0], "leads")
    p, known = leads.p_convert_30d.to_numpy(), leads.p_convert_30d_knowable.to_numpy()
    z = np.log(p / (1 - p)) - leads.noise.to_numpy()  # the observable log-odds
    for k in range(0, len(leads), max(1, len(leads) // 20)):
        expected, _ = quad(lambda e, zk=z[k]: norm.pdf(e, 0, 0.5) / (1 + np.exp(-zk - e)), -6, 6)
        assert known[k] == pytest.approx(expected, abs=1e-9)
    # calibrated for the true probability, which it cannot see
    mean_known, mean_p = _binned_means(known, p)
    np.testing.assert_allclose(mean_known, mean_p, atol=0.03)


def test_knowable_alive_belief_is_calibrated_and_certain_right_after_an_order(
    world: tuple[Settings, SimulationSummary], engine: Engine,
) -> None:
    snaps = _truth(world[0], "customer_snapshots")
    belief, alive = snaps.p_alive_knowable.to_numpy(), snaps.alive.to_numpy()
    assert np.all((belief >= 0) & (belief <= 1))
    assert roc_auc_score(alive, belief) > 0.75
    mean_belief, share_alive = _binned_means(belief, alive)
    np.testing.assert_allclose(mean_belief, share_alive, atol=0.03)
    # A customer who ordered at the very snapshot time is surely alive then.
    orders = _sql(engine, "SELECT customer_id, ordered_at FROM orders")
    orders["ordered_at"] = pd.to_datetime(orders.ordered_at, utc=True, format="mixed").astype(
        "datetime64[us, UTC]")
    snaps["as_of"] = pd.to_datetime(snaps.as_of, utc=True).astype("datetime64[us, UTC]")
    last = pd.merge_asof(
        snaps.sort_values("as_of"), orders.sort_values("ordered_at"), left_on="as_of",
        right_on="ordered_at", by="customer_id",
    )
    fresh = last.ordered_at > last.as_of - pd.Timedelta(hours=1)
    assert fresh.sum() > 0 and np.all(last.loc[fresh, "p_alive_knowable"] > 0.99)


# --- event log --------------------------------------------------------------------------------


def test_event_log_is_hive_partitioned_by_utc_day(world: tuple[Settings, SimulationSummary]
                                                  ) -> None:
    root = world[0].event_log_dir
    files = sorted(root.glob("date=*/part-*.parquet"))
    assert files
    for path in files[:5] + files[-5:]:
        table = pq.read_table(path)
        assert table.schema.equals(EVENT_LOG_SCHEMA)
        days = {t.date().isoformat() for t in table.column("occurred_at").to_pylist()}
        assert days == {path.parent.name.removeprefix("date=")}
    events = ds.dataset(root, partitioning="hive").to_table().to_pandas()
    assert events.occurred_at.min() >= START and events.occurred_at.max() < WINDOW_END
    assert set(events.type) == {"session_start", "page_view", "email_sent", "email_open",
                                "email_click", "form_submit"}
    assert set(events.page.dropna()) <= {"home", "product", "pricing", "blog", "docs",
                                         "checkout"}
    assert events[events.type.str.startswith("email")].campaign_id.notna().all()
    assert events[events.type == "page_view"].session_id.notna().all()


# --- consistency with the core's rules -------------------------------------------------------


def test_coupon_counters_match_redemptions_and_limits(engine: Engine) -> None:
    defs = _sql(engine, "SELECT d.id, d.total_limit, d.per_customer_limit, d.redeemed_count,"
                        " (SELECT COUNT(*) FROM redemptions r WHERE r.definition_id = d.id) AS n"
                        " FROM coupon_definitions d")
    assert len(defs) > 0 and (defs.redeemed_count == defs.n).all()
    limited = defs.dropna(subset=["total_limit"])
    assert (limited.redeemed_count <= limited.total_limit).all()
    usage = _sql(engine, "SELECT u.definition_id, u.customer_id, u.count, COUNT(r.id) AS n"
                         " FROM coupon_customer_usage u LEFT JOIN redemptions r ON"
                         " r.definition_id = u.definition_id AND r.customer_id = u.customer_id"
                         " GROUP BY u.definition_id, u.customer_id, u.count")
    assert (usage["count"] == usage.n).all() and (usage["count"] <= 1).all()
    bad = _sql(engine, "SELECT COUNT(*) AS n FROM redemptions r"
                       " JOIN coupon_codes c ON c.id = r.code_id"
                       " LEFT JOIN orders o ON o.external_id = r.order_ref"
                       " WHERE c.customer_id != r.customer_id"
                       " OR c.definition_id != r.definition_id OR o.id IS NULL"
                       " OR o.coupon_code != c.code OR o.customer_id != r.customer_id"
                       " OR r.discount_amount <= 0 OR r.discount_amount > r.order_value")
    assert bad.n[0] == 0
    codes = _sql(engine, "SELECT code FROM coupon_codes")
    assert codes.code.is_unique and codes.code.str.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){2}").all()


def test_exposure_arms_are_the_apis_hash_assignment(engine: Engine) -> None:
    exposures = _sql(engine, "SELECT campaign_id, customer_id, arm_id, is_holdout FROM exposures")
    arms = _sql(engine, "SELECT id, campaign_id, weight FROM campaign_arms ORDER BY id")
    campaigns = _sql(engine, "SELECT id, holdout_fraction FROM campaigns").set_index("id")
    assert exposures.groupby("campaign_id").customer_id.apply(lambda s: s.is_unique).all()
    for cid, group in exposures.groupby("campaign_id"):
        camp_arms = arms[arms.campaign_id == cid]
        drawn = pick_arm(unit_hashes(int(cid), group.customer_id.to_numpy()),
                         camp_arms.weight.tolist(), campaigns.holdout_fraction[cid])
        expected = np.where(drawn < 0, -1, camp_arms.id.to_numpy()[np.maximum(drawn, 0)])
        actual = group.arm_id.fillna(-1).astype(int).to_numpy()
        assert (expected == actual).all(), cid
        assert (group.is_holdout.astype(bool) == (drawn < 0)).all()


def test_every_lead_is_owned_by_a_rep_of_its_territory(engine: Engine) -> None:
    leads = _sql(engine, "SELECT l.id, l.status, c.region, c.industry, c.segment,"
                         " u.role, u.region AS rep_region, u.industry AS rep_industry"
                         " FROM leads l JOIN customers c ON c.id = l.customer_id"
                         " LEFT JOIN users u ON u.id = l.owner_id")
    assert len(leads) > 0 and (leads.role == Role.sales_rep.value).all()
    assert (leads.segment != "consumer").all()
    reps = _sql(engine, "SELECT region FROM users WHERE role = 'sales_rep'")
    covered = set(reps.region.dropna())
    ok = np.where(leads.region.isin(covered), leads.rep_region == leads.region,
                  leads.rep_region.isna())
    assert ok.all()
    assert Counter(leads.status).keys() >= {"converted", "lost", "contacted"}


def test_activity_timestamps_lie_inside_the_window(engine: Engine) -> None:
    def naive(ts: datetime) -> str:
        return ts.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")

    checks = {
        "orders": ["ordered_at"],
        "exposures": ["assigned_at", "sent_at", "opened_at", "clicked_at", "converted_at"],
        "leads": ["created_at", "contacted_at", "qualified_at", "closed_at"],
        "redemptions": ["redeemed_at"],
        "coupon_codes": ["created_at"],
    }
    for table, cols in checks.items():
        for col in cols:
            row = _sql(engine, f"SELECT MIN({col}) AS lo, MAX({col}) AS hi FROM {table}")
            assert row.lo[0] >= naive(START) and row.hi[0] < naive(WINDOW_END), (table, col)
    row = _sql(engine, "SELECT MAX(created_at) AS hi FROM customers")
    assert row.hi[0] < naive(WINDOW_END)


def test_open_rate_peaks_at_the_preferred_hour(world: tuple[Settings, SimulationSummary],
                                               engine: Engine) -> None:
    sent = _sql(engine, "SELECT e.customer_id, e.sent_at, e.opened_at, c.timezone"
                        " FROM exposures e JOIN customers c ON c.id = e.customer_id"
                        " WHERE e.sent_at IS NOT NULL")
    truth = _truth(world[0], "customers").set_index("customer_id")
    how = np.array([
        (lambda t: t.weekday() * 24 + t.hour)(
            datetime.fromisoformat(s).replace(tzinfo=UTC).astimezone(ZoneInfo(z)))
        for s, z in zip(sent.sent_at, sent.timezone, strict=True)
    ])
    pref = truth.preferred_how_local.reindex(sent.customer_id).to_numpy()
    d = np.abs(how - pref) % 168
    d = np.minimum(d, 168 - d)
    opened = sent.opened_at.notna().to_numpy()
    near, far = opened[d <= 2].mean(), opened[d >= 24].mean()
    assert near > 2.0 * far


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_world_and_sequences(tmp_path: Path) -> None:
    from tests.databases import fresh_database

    with fresh_database("postgresql", tmp_path) as url:
        settings = Settings(database_url=url, data_dir=tmp_path / "data")
        summary = run_simulation(settings, customers=300, days=30, seed=3, reset=True)
        assert summary.db_rows["customers"] == 300
        eng = make_engine(url)
        try:
            with eng.begin() as conn:
                # Sequences were moved past the simulator's ids: a plain insert gets a fresh id.
                new_id = conn.execute(text(
                    "INSERT INTO offers (name, value, cost, is_active, created_at)"
                    " VALUES ('extra', 1, 1, true, now()) RETURNING id")).scalar_one()
                top = conn.execute(text("SELECT MAX(id) FROM offers WHERE name != 'extra'"))
                assert new_id > top.scalar_one()
                # COPY stored JSON as JSON and times as aware UTC timestamps.
                tags, created = conn.execute(text(
                    "SELECT tags, created_at FROM customers ORDER BY id LIMIT 1")).one()
                assert isinstance(tags, list) and created.utcoffset() == timedelta(0)
                redeemed = conn.execute(text(
                    "SELECT SUM(redeemed_count) - (SELECT COUNT(*) FROM redemptions)"
                    " FROM coupon_definitions")).scalar_one()
                assert redeemed == 0
        finally:
            eng.dispose()
