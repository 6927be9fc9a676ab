"""Feature pipelines: exact values on a tiny hand-made world, incremental == full, and a smoke
run on a simulated world checked against independent recomputations (no row may count what
happened at or after its event_timestamp).

The tiny world lives in March 2025 (3 March was a Monday): three customers, a few events in the
Parquet event log and one through the API, orders, e-mail/SMS/web exposures and three leads.
"""

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

from features.catalog import HOURS_OF_WEEK, TABLES
from features.pipelines import BuildSummary, build_features
from features.pipelines.output import read_state
from features.pipelines.schema import table_schema
from serving.config import Settings
from serving.core.db import make_engine
from serving.core.migrate import upgrade
from serving.core.models import (
    Campaign,
    CampaignChannel,
    Customer,
    Event,
    EventType,
    Exposure,
    Lead,
    LeadSource,
    Order,
)
from serving.simulator import run_simulation
from serving.simulator.behaviour import EVENT_LOG_SCHEMA
from tests.databases import fresh_database

THROUGH = date(2025, 6, 30)


def at(day: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hh, mm, ss, us, tzinfo=UTC)


def eod(day: int, month: int = 3) -> datetime:
    """The event_timestamp of a day's row: the next midnight UTC."""
    return datetime(2025, month, day, tzinfo=UTC) + timedelta(days=1)


# the event log: (customer, occurred_at, type, page)
LOG = [
    (1, at(3, 9, 0), "session_start", None),
    (1, at(3, 9, 1), "page_view", "pricing"),
    (1, at(3, 9, 2), "page_view", "product"),
    (1, at(3, 9, 3), "page_view", "home"),
    (1, at(3, 19, 0), "email_sent", None),  # not behaviour
    (1, at(3, 20, 0), "email_open", None),
    (1, at(3, 20, 1), "email_click", None),
    (1, at(5, 12, 0), "session_start", None),
    (1, at(5, 12, 1), "page_view", "pricing"),
    (2, at(4, 23, 59, 59, 999_999), "page_view", "pricing"),
    (2, at(5, 0, 0), "session_start", None),
    (2, at(5, 0, 1), "form_submit", None),  # not behaviour
]


def _write_event_log(root: Path) -> None:
    df = pd.DataFrame(LOG, columns=["customer_id", "occurred_at", "type", "page"])
    for day, part in df.groupby(df["occurred_at"].dt.date):
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        table = pa.table(
            {
                "customer_id": pa.array(part["customer_id"], pa.int64()),
                "occurred_at": pa.array(part["occurred_at"], pa.timestamp("us", tz="UTC")),
                "type": pa.array(part["type"], pa.string()),
                "page": pa.array(part["page"], pa.string()),
                "channel": pa.nulls(len(part), pa.string()),
                "campaign_id": pa.nulls(len(part), pa.int64()),
                "session_id": pa.nulls(len(part), pa.int64()),
            },
            schema=EVENT_LOG_SCHEMA,
        )
        pq.write_table(table, folder / "part-00000.parquet")


def _fill_db(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        s.add_all(
            [
                Customer(
                    id=1,
                    segment="smb",
                    region="EMEA",
                    industry="software",
                    company_size=50,
                    timezone="Europe/Paris",
                    consent_email=True,
                    consent_sms=False,
                    consent_push=True,
                    tags=["vip", "beta"],
                    created_at=at(20, 10, month=2),
                ),
                Customer(
                    id=2,
                    segment="consumer",
                    region="NA",
                    timezone="America/Denver",
                    consent_email=True,
                    tags=[],
                    created_at=at(1, 8, 30),
                ),
                Customer(
                    id=3,
                    segment="mid_market",
                    region="APAC",
                    industry="retail",
                    company_size=400,
                    created_at=at(1, 23, 59, 59, 500_000),
                ),
            ]
        )
        s.add_all(
            [
                Campaign(id=1, name="spring mail", channel=CampaignChannel.email),
                Campaign(id=2, name="spring sms", channel=CampaignChannel.sms),
                Campaign(id=3, name="spring web", channel=CampaignChannel.web),
            ]
        )
        s.flush()
        s.add_all(
            [
                # Monday 09:30 UTC: hour-of-week 9; opened two days later, clicked, converted
                Exposure(
                    campaign_id=1,
                    customer_id=1,
                    assigned_at=at(3, 8),
                    sent_at=at(3, 9, 30),
                    opened_at=at(5, 20),
                    clicked_at=at(5, 20, 5),
                    converted_at=at(6, 10),
                ),
                Exposure(campaign_id=2, customer_id=1, assigned_at=at(4, 11), sent_at=at(4, 12)),
                Exposure(campaign_id=1, customer_id=2, is_holdout=True, assigned_at=at(3, 8)),
                Exposure(
                    campaign_id=3,
                    customer_id=2,
                    assigned_at=at(4, 9),
                    sent_at=at(4, 10),
                    opened_at=at(4, 11),
                ),  # web: counted nowhere
                # Saturday 23:30 UTC: hour-of-week 5 * 24 + 23 = 143; opened on Monday
                Exposure(
                    campaign_id=1,
                    customer_id=3,
                    assigned_at=at(8, 23),
                    sent_at=at(8, 23, 30),
                    opened_at=at(10, 1),
                ),
            ]
        )
        s.add_all(
            [
                Order(customer_id=1, ordered_at=at(3, 10), amount=100.10, coupon_code="SAVE10"),
                Order(customer_id=1, ordered_at=at(3, 15), amount=50.05),
                Order(customer_id=1, ordered_at=at(10, 9, month=4), amount=20.00, coupon_code="X"),
                Order(customer_id=2, ordered_at=at(15, 12, month=1), amount=10.00),
            ]
        )
        s.add_all(
            [
                Lead(id=1, customer_id=1, source=LeadSource.web_form, created_at=at(3, 9, 0, 30)),
                Lead(
                    id=2,
                    customer_id=2,
                    source=LeadSource.webinar,
                    created_at=at(4, 12),
                    closed_at=at(4, 23),
                ),
                Lead(
                    id=3,
                    customer_id=1,
                    source=LeadSource.referral,
                    created_at=datetime(2024, 12, 1, 6, tzinfo=UTC),
                ),
            ]
        )
        # an event sent through the API, not in the log
        s.add(Event(customer_id=1, occurred_at=at(5, 13), type=EventType.email_open))
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("tiny")
    settings = Settings(database_url=f"sqlite:///{root}/core.db", data_dir=root / "data")
    _fill_db(settings.database_url)
    _write_event_log(settings.event_log_dir)
    return settings


@pytest.fixture(scope="module")
def built(tiny: Settings) -> BuildSummary:
    return build_features(tiny, through=THROUGH)


def _read(settings: Settings, table: str) -> pd.DataFrame:
    return pd.read_parquet(settings.data_dir / "features" / table)


def _row(df: pd.DataFrame, key: int, ts: datetime, key_col: str = "customer_id") -> pd.Series:
    hit = df[(df[key_col] == key) & (df["event_timestamp"] == pd.Timestamp(ts))]
    assert len(hit) == 1, f"expected one row for {key} at {ts}, got {len(hit)}"
    return hit.iloc[0]


def _day_files(settings: Settings, table: str) -> list[str]:
    return sorted(p.name for p in (settings.data_dir / "features" / table).glob("*.parquet"))


# --- the tiny world, by hand ---------------------------------------------------------------


def test_layout_schema_and_state(tiny: Settings, built: BuildSummary) -> None:
    root = tiny.data_dir / "features"
    assert set(p.name for p in root.iterdir()) == {*TABLES, "_state.json"}
    for name, table in TABLES.items():
        files = sorted((root / name).glob("*.parquet"))
        assert files, name
        for f in files:
            t = pq.read_table(f)
            assert t.schema.equals(table_schema(table)), (name, f.name)
            keys = t.column(table.key).to_numpy()
            assert (keys[1:] >= keys[:-1]).all(), f"{name}/{f.name} not sorted by key"
            assert len(set(t.column("created").to_pylist())) == 1
    assert read_state(root) == dict.fromkeys(TABLES, THROUGH)
    assert "customer_behaviour" in str(built) and "rows/s" in str(built)


def test_profile(tiny: Settings, built: BuildSummary) -> None:
    assert _day_files(tiny, "customer_profile") == ["2025-02-20.parquet", "2025-03-01.parquet"]
    day = pq.read_table(tiny.data_dir / "features/customer_profile/2025-03-01.parquet")
    assert day.column("customer_id").to_pylist() == [2, 3]
    df = _read(tiny, "customer_profile")
    c1 = _row(df, 1, at(20, 10, month=2))
    assert (c1.segment, c1.region, c1.industry, c1.company_size) == ("smb", "EMEA", "software", 50)
    assert (c1.consent_email, c1.consent_sms, c1.consent_push) == (True, False, True)
    assert list(c1.tags) == ["vip", "beta"]
    assert c1.customer_since == pd.Timestamp(at(20, 10, month=2))
    c2 = _row(df, 2, at(1, 8, 30))
    assert c2.company_size == -1 and c2.industry is None and list(c2.tags) == []
    assert _row(df, 3, at(1, 23, 59, 59, 500_000)).company_size == 400


def test_behaviour_windows_and_drop_off_rows(tiny: Settings, built: BuildSummary) -> None:
    df = _read(tiny, "customer_behaviour")
    c1 = df[df.customer_id == 1]
    # active on 3 and 5 March: rows then, and when each day leaves the 1/7/30/90-day windows
    expected_days = {
        eod(3),
        eod(4),
        eod(10),
        eod(2, 4),
        eod(1, 6),
        eod(5),
        eod(6),
        eod(12),
        eod(4, 4),
        eod(3, 6),
    }
    assert set(c1.event_timestamp) == {pd.Timestamp(d) for d in expected_days}

    r = _row(df, 1, eod(3))
    assert (r.sessions_1d, r.page_views_1d, r.pricing_views_1d, r.product_views_1d) == (1, 3, 1, 1)
    assert (r.email_opens_1d, r.email_clicks_1d, r.sessions_90d) == (1, 1, 1)
    assert r.last_activity_at == pd.Timestamp(at(3, 20, 1))
    r = _row(df, 1, eod(4))  # the day after: 1-day window empty, 7-day still full
    assert (r.sessions_1d, r.page_views_1d, r.sessions_7d, r.page_views_7d) == (0, 0, 1, 3)
    r = _row(df, 1, eod(5))  # the API event counts too
    assert (r.sessions_1d, r.page_views_1d, r.pricing_views_1d, r.email_opens_1d) == (1, 1, 1, 1)
    assert (r.sessions_7d, r.page_views_7d, r.pricing_views_7d, r.product_views_7d) == (2, 4, 2, 1)
    assert (r.email_opens_7d, r.email_clicks_7d) == (2, 1)
    assert r.last_activity_at == pd.Timestamp(at(5, 13))
    r = _row(df, 1, eod(10))  # 3 March leaves the 7-day window
    assert (r.sessions_7d, r.page_views_7d, r.email_opens_7d, r.email_clicks_7d) == (1, 1, 1, 0)
    assert (r.sessions_30d, r.page_views_30d) == (2, 4)
    r = _row(df, 1, eod(12))  # and 5 March
    assert (r.sessions_7d, r.page_views_7d, r.sessions_30d) == (0, 0, 2)
    r = _row(df, 1, eod(2, 4))  # 3 March leaves the 30-day window
    assert (r.sessions_30d, r.page_views_30d, r.email_clicks_30d, r.sessions_90d) == (1, 1, 0, 2)
    r = _row(df, 1, eod(1, 6))  # ... and the 90-day one
    assert (r.sessions_90d, r.page_views_90d, r.email_opens_90d, r.email_clicks_90d) == (1, 1, 1, 0)
    r = _row(df, 1, eod(3, 6))  # everything fell to zero: the row still says so
    counts = [c for c in df.columns if c.endswith("d") and c[:-1].split("_")[-1].isdigit()]
    assert len(counts) == 24 and all(r[c] == 0 for c in counts)
    assert r.last_activity_at == pd.Timestamp(at(5, 13))

    # one microsecond before midnight counts on the day before; midnight on the next
    r = _row(df, 2, eod(4))
    assert (r.page_views_1d, r.pricing_views_1d, r.sessions_1d) == (1, 1, 0)
    r = _row(df, 2, eod(5))
    assert (r.sessions_1d, r.page_views_1d, r.sessions_7d, r.pricing_views_7d) == (1, 0, 1, 1)
    assert 3 not in set(df.customer_id)  # no behaviour, no rows


def test_orders(tiny: Settings, built: BuildSummary) -> None:
    df = _read(tiny, "customer_orders")
    r = _row(df, 1, eod(3))
    assert (r.orders_30d, r.orders_total, r.orders_365d) == (2, 2, 2)
    assert r.revenue_30d == 150.15 and r.revenue_total == 150.15
    assert r.avg_order_value == pytest.approx(75.075) and r.coupon_use_rate == 0.5
    assert r.first_order_at == pd.Timestamp(at(3, 10))
    assert r.last_order_at == pd.Timestamp(at(3, 15))
    r = _row(df, 1, eod(2, 4))  # the 3 March orders leave the 30-day window
    assert (r.orders_30d, r.revenue_30d, r.orders_90d, r.orders_total) == (0, 0.0, 2, 2)
    r = _row(df, 1, eod(10, 4))
    assert (r.orders_30d, r.revenue_30d, r.orders_90d, r.revenue_90d) == (1, 20.0, 3, 170.15)
    assert r.orders_total == 3 and r.coupon_use_rate == pytest.approx(2 / 3)
    assert r.first_order_at == pd.Timestamp(at(3, 10))
    assert r.last_order_at == pd.Timestamp(at(10, 9, month=4))
    r = _row(df, 1, eod(1, 6))  # 3 March leaves the 90-day window
    assert (r.orders_90d, r.revenue_90d, r.orders_365d, r.revenue_365d) == (1, 20.0, 3, 170.15)
    c2 = df[df.customer_id == 2]
    assert set(c2.event_timestamp) == {
        pd.Timestamp(eod(15, 1)),
        pd.Timestamp(eod(14, 2)),
        pd.Timestamp(eod(15, 4)),
    }  # a+0, a+30, a+90 (a+365 is after THROUGH)
    assert _row(df, 2, eod(15, 4)).orders_90d == 0
    assert _row(df, 2, eod(15, 4)).orders_total == 1


def test_campaign_response_counts_each_event_on_its_own_day(
    tiny: Settings, built: BuildSummary
) -> None:
    df = _read(tiny, "customer_campaign_response")
    c1 = df[df.customer_id == 1].sort_values("event_timestamp")
    assert list(c1.event_timestamp) == [pd.Timestamp(eod(d)) for d in (3, 4, 5, 6)]
    cols = ["email_sends", "email_opens", "email_clicks", "email_conversions", "sms_sends"]
    assert c1[cols].values.tolist() == [
        [1, 0, 0, 0, 0],
        [1, 0, 0, 0, 1],  # the SMS
        [1, 1, 1, 0, 1],  # opened and clicked two days after the send
        [1, 1, 1, 1, 1],
    ]
    assert c1.last_open_at.isna().tolist() == [True, True, False, False]
    assert _row(df, 1, eod(6)).last_open_at == pd.Timestamp(at(5, 20))
    c2 = df[df.customer_id == 2]  # the holdout; its web exposure counts nowhere
    assert list(c2.event_timestamp) == [pd.Timestamp(eod(3))]
    assert c2.iloc[0].holdout_count == 1 and c2.iloc[0].email_sends == 0
    c3 = df[df.customer_id == 3].sort_values("event_timestamp")
    assert list(c3.event_timestamp) == [pd.Timestamp(eod(8)), pd.Timestamp(eod(10))]
    assert c3.email_opens.tolist() == [0, 1]


def test_send_time_buckets_by_the_send_hour(tiny: Settings, built: BuildSummary) -> None:
    df = _read(tiny, "customer_send_time")
    assert at(3).weekday() == 0 and at(8).weekday() == 5  # Monday, Saturday
    c1 = df[df.customer_id == 1].sort_values("event_timestamp")
    # no row for the SMS (4 March) nor the conversion (6 March)
    assert list(c1.event_timestamp) == [pd.Timestamp(eod(3)), pd.Timestamp(eod(5))]
    sends, opens = [list(v) for v in c1.sends_by_how], [list(v) for v in c1.opens_by_how]
    assert all(len(v) == HOURS_OF_WEEK for v in sends + opens)
    assert sends[0] == sends[1] == [1 if h == 9 else 0 for h in range(HOURS_OF_WEEK)]
    assert opens[0] == [0] * HOURS_OF_WEEK
    assert opens[1] == [1 if h == 9 else 0 for h in range(HOURS_OF_WEEK)]
    c3 = df[df.customer_id == 3].sort_values("event_timestamp")
    assert list(c3.event_timestamp) == [pd.Timestamp(eod(8)), pd.Timestamp(eod(10))]
    assert [int(pd.Series(list(v)).idxmax()) for v in c3.sends_by_how] == [143, 143]
    assert [sum(v) for v in c3.opens_by_how] == [0, 1]
    assert list(c3.opens_by_how.iloc[1]).index(1) == 143  # bucketed by the Saturday send
    assert 2 not in set(df.customer_id)


def test_lead_activity(tiny: Settings, built: BuildSummary) -> None:
    df = _read(tiny, "lead_activity")
    l1 = df[df.lead_id == 1].sort_values("event_timestamp")
    assert list(l1.event_timestamp) == [pd.Timestamp(t) for t in (at(3, 9, 0, 30), eod(3), eod(5))]
    # the 09:00 session came before the lead: not a touch; the 09:01 pricing view counts
    assert l1.touches.tolist() == [0, 2, 4]  # open + click; then session + API open
    assert l1.pricing_views_since_created.tolist() == [0, 1, 2]
    first = l1.iloc[0]
    assert (first.customer_id, first.source, first.segment, first.region) == (
        1,
        "web_form",
        "smb",
        "EMEA",
    )
    assert (first.industry, first.company_size) == ("software", 50)
    assert first.lead_created_at == pd.Timestamp(at(3, 9, 0, 30))
    # closed at 23:00 the day it arrived: the later pricing view and session are not counted
    l2 = df[df.lead_id == 2]
    assert len(l2) == 1 and l2.iloc[0].touches == 0 and l2.iloc[0].company_size == -1
    # created in December: March activity is past its 90 days
    l3 = df[df.lead_id == 3]
    assert list(l3.event_timestamp) == [pd.Timestamp(datetime(2024, 12, 1, 6, tzinfo=UTC))]
    # the creation row and the end-of-day row of 3 March share that day's file
    day = pq.read_table(tiny.data_dir / "features/lead_activity/2025-03-03.parquet")
    assert day.column("lead_id").to_pylist() == [1, 1]


# --- incremental == full -------------------------------------------------------------------


def _tables(settings: Settings) -> dict[str, dict[str, pa.Table]]:
    """Every day file of every table, without `created` (the run's timestamp)."""
    root = settings.data_dir / "features"
    return {
        name: {
            f.name: pq.read_table(f).drop_columns(["created"])
            for f in sorted((root / name).glob("*.parquet"))
        }
        for name in TABLES
    }


def _twin(settings: Settings, root: Path) -> Settings:
    """Another data dir over the same DB and event log."""
    root.mkdir()
    (root / "events").symlink_to(settings.event_log_dir, target_is_directory=True)
    return Settings(database_url=settings.database_url, data_dir=root)


def _assert_same(a: dict[str, dict[str, pa.Table]], b: dict[str, dict[str, pa.Table]]) -> None:
    for name in TABLES:
        assert list(a[name]) == list(b[name]), name
        for day, table in a[name].items():
            assert table.equals(b[name][day]), f"{name}/{day} differs"


def test_incremental_builds_equal_a_full_build(
    tiny: Settings, built: BuildSummary, tmp_path: Path
) -> None:
    twin = _twin(tiny, tmp_path / "twin")
    steps = [date(2025, 3, 1), date(2025, 3, 4), date(2025, 3, 5), date(2025, 3, 5), THROUGH]
    for through in steps:  # the first one has no state yet: a full build
        summary = build_features(twin, incremental=True, through=through)
    assert all(t.mode == "incremental" for t in summary.tables)
    assert read_state(twin.data_dir / "features") == dict.fromkeys(TABLES, THROUGH)
    _assert_same(_tables(tiny), _tables(twin))


def test_rerunning_a_built_day_rewrites_only_that_day(tiny: Settings, tmp_path: Path) -> None:
    twin = _twin(tiny, tmp_path / "twin")
    build_features(twin, through=THROUGH)
    before = _tables(twin)
    stale = twin.data_dir / "features/customer_behaviour/2025-03-04.parquet"
    stale.unlink()
    summary = build_features(twin, incremental=True, through=date(2025, 3, 4))
    assert {t.first_day for t in summary.tables} <= {date(2025, 3, 4), None}
    _assert_same(before, _tables(twin))
    assert read_state(twin.data_dir / "features") == dict.fromkeys(TABLES, THROUGH)


def test_table_selection_and_default_through(tiny: Settings, tmp_path: Path) -> None:
    twin = _twin(tiny, tmp_path / "twin")
    summary = build_features(twin, tables=["customer_orders"])
    assert [t.name for t in summary.tables] == ["customer_orders"]
    assert summary.through == date(2025, 4, 10)  # the last day any source has data for
    assert set(p.name for p in (twin.data_dir / "features").iterdir()) == {
        "customer_orders",
        "_state.json",
    }
    with pytest.raises(ValueError, match="unknown feature tables"):
        build_features(twin, tables=["nope"])


@pytest.mark.postgres
def test_postgresql_gives_the_same_tables(
    tiny: Settings, built: BuildSummary, tmp_path: Path
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        _fill_db(url)
        full = _twin(tiny, tmp_path / "full").data_dir
        build_features(Settings(database_url=url, data_dir=full), through=THROUGH)
        _assert_same(_tables(tiny), _tables(Settings(data_dir=full)))
        steps = _twin(tiny, tmp_path / "steps").data_dir
        for through in (date(2025, 3, 4), date(2025, 3, 5), THROUGH):
            build_features(
                Settings(database_url=url, data_dir=steps), incremental=True, through=through
            )
        _assert_same(_tables(tiny), _tables(Settings(data_dir=steps)))


# --- a simulated world ---------------------------------------------------------------------

SIM_THROUGH = date(2026, 10, 31)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("sim")
    settings = Settings(database_url=f"sqlite:///{root}/sim.db", data_dir=root / "data")
    run_simulation(settings, customers=1500, days=60, seed=3, reset=True)
    build_features(settings, through=SIM_THROUGH)
    yield settings
    shutil.rmtree(root, ignore_errors=True)


def _sql(settings: Settings, query: str) -> pd.DataFrame:
    from sqlalchemy import text

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(text(query)).mappings().all())
    finally:
        engine.dispose()


def test_simulated_world_dtypes(sim: Settings) -> None:
    root = sim.data_dir / "features"
    for name, table in TABLES.items():
        files = sorted((root / name).glob("*.parquet"))
        assert files, name
        for f in files:
            assert pq.read_schema(f).equals(table_schema(table)), (name, f.name)
        df = pd.read_parquet(root / name)
        assert df["event_timestamp"].dt.tz is not None
        assert df["event_timestamp"].max() <= pd.Timestamp(SIM_THROUGH + timedelta(days=1), tz=UTC)
        assert not df.duplicated([table.key, "event_timestamp"]).any(), name
    send = pd.read_parquet(root / "customer_send_time")
    assert send.sends_by_how.map(len).eq(HOURS_OF_WEEK).all()


def test_simulated_behaviour_counts_only_what_happened_before(sim: Settings) -> None:
    """Recompute windows independently (a DuckDB join on the raw log, no day arithmetic):
    events in [event_timestamp - w days, event_timestamp), and none at or after."""
    root = sim.data_dir / "features"
    con = duckdb.connect()
    got = con.execute(f"""
        WITH f AS (SELECT * FROM read_parquet('{root}/customer_behaviour/*.parquet')),
        ev AS (SELECT customer_id, occurred_at, type, page
               FROM read_parquet('{sim.event_log_dir}/*/*.parquet', hive_partitioning = true))
        SELECT f.customer_id, f.event_timestamp, any_value(f.sessions_1d) AS s1,
          any_value(f.sessions_7d) AS s7, any_value(f.pricing_views_90d) AS p90,
          any_value(f.email_opens_30d) AS o30, any_value(f.last_activity_at) AS last,
          count(*) FILTER (WHERE ev.type = 'session_start'
                           AND ev.occurred_at >= f.event_timestamp - INTERVAL 1 DAY) AS x1,
          count(*) FILTER (WHERE ev.type = 'session_start'
                           AND ev.occurred_at >= f.event_timestamp - INTERVAL 7 DAY) AS x7,
          count(*) FILTER (WHERE ev.type = 'page_view' AND ev.page = 'pricing'
                           AND ev.occurred_at >= f.event_timestamp - INTERVAL 90 DAY) AS y90,
          count(*) FILTER (WHERE ev.type = 'email_open'
                           AND ev.occurred_at >= f.event_timestamp - INTERVAL 30 DAY) AS z30,
          date_trunc('second', max(ev.occurred_at) FILTER (WHERE ev.type IN
              ('session_start', 'page_view', 'email_open', 'email_click'))) AS xlast
        FROM f LEFT JOIN ev ON ev.customer_id = f.customer_id
          AND ev.occurred_at < f.event_timestamp
          AND ev.occurred_at >= f.event_timestamp - INTERVAL 90 DAY
        GROUP BY ALL
    """).df()
    assert len(got) > 10_000
    assert (got.s1 == got.x1).all() and (got.s7 == got.x7).all()
    assert (got.p90 == got.y90).all() and (got.o30 == got.z30).all()
    assert (got["last"] < got.event_timestamp).all()
    assert (got["last"] == got.xlast).all()


def test_simulated_campaigns_and_leads_count_only_what_happened_before(sim: Settings) -> None:
    root = sim.data_dir / "features"
    exp = _sql(
        sim,
        "SELECT e.customer_id, e.sent_at, e.opened_at FROM exposures e"
        " JOIN campaigns c ON c.id = e.campaign_id WHERE c.channel = 'email'",
    )
    for col in ("sent_at", "opened_at"):
        exp[col] = pd.to_datetime(exp[col], utc=True, format="ISO8601")
    resp = pd.read_parquet(root / "customer_campaign_response")
    sample = resp.sample(300, random_state=0)
    send = pd.read_parquet(root / "customer_send_time").set_index(
        ["customer_id", "event_timestamp"]
    )
    for r in sample.itertuples():
        mine = exp[exp.customer_id == r.customer_id]
        assert r.email_sends == (mine.sent_at < r.event_timestamp).sum()
        assert r.email_opens == (mine.opened_at < r.event_timestamp).sum()
        if (r.customer_id, r.event_timestamp) in send.index:
            s = send.loc[(r.customer_id, r.event_timestamp)]
            assert sum(s.sends_by_how) == r.email_sends
            assert sum(s.opens_by_how) == r.email_opens

    leads = pd.read_parquet(root / "lead_activity")
    assert leads.touches.max() > 0
    # feature timestamps are whole seconds; the first row is stamped at the exact creation time
    stamped = leads.event_timestamp.dt.floor("s")
    later = leads[stamped > leads.lead_created_at]
    assert (later.event_timestamp - later.lead_created_at <= pd.Timedelta(days=91)).all()
    first = leads[stamped == leads.lead_created_at]
    assert first.lead_id.is_unique and (first.touches == 0).all()
    assert first.lead_id.nunique() == leads.lead_id.nunique()


def test_simulated_incremental_equals_full(sim: Settings, tmp_path: Path) -> None:
    twin = _twin(sim, tmp_path / "twin")
    for through in (date(2026, 10, 1), date(2026, 10, 20), date(2026, 10, 30), SIM_THROUGH):
        build_features(twin, incremental=True, through=through)
    _assert_same(_tables(sim), _tables(twin))
