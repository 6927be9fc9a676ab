"""`lodestar import`: values land right, bad rows are named by row and column, all-or-nothing.

Each test gets its own SQLite file under tmp_path: the importer opens its own engine from
settings and commits, so the shared rolled-back session of conftest does not apply here.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from serving.cli import app
from serving.config import Settings, get_settings
from serving.core.db import make_engine, make_sessionmaker
from serving.core.importer import ImportReport, run_import
from serving.core.importer.report import MAX_SHOWN_ROWS
from serving.core.migrate import upgrade
from serving.core.models import (
    Campaign,
    CampaignChannel,
    Customer,
    Event,
    EventType,
    Lead,
    LeadSource,
    LeadStatus,
    Order,
    Role,
    User,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "import"
TABLES = (Customer, Order, Event, Lead)

CUSTOMERS = [
    "customer_id,email,region,industry,timezone,consent_email,consent_sms,tags,created_at",
    "C1,ana@example.com,europe,retail,europe/paris,yes,0,vip; newsletter;vip,2026-01-15 10:00:00",
    "C2,li@example.com,apac,logistics,Asia/Shanghai,TRUE,1,,2026-02-03T08:30:00+08:00",
    "C3,,north_america,software,,,,,",
]
ORDERS = [
    "order_id,customer_id,ordered_at,amount,items,channel",
    "O1,C1,2026-03-05T18:45:00Z,59.999,2,web",
    "O2,C2,2026-03-07 02:10:00,12500,,email",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/i.db", data_dir=tmp_path / "data")


@pytest.fixture
def db(settings: Settings) -> Iterator[Session]:
    """A session on the test's database, migrated, for arranging rows and reading results."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counts(db: Session) -> dict[str, int]:
    db.rollback()  # see what the importer committed
    return {t.__tablename__: db.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def rep(db: Session, email: str, **kw: object) -> User:
    user = User(email=email, name=email, role=kw.pop("role", Role.sales_rep), **kw)
    db.add(user)
    db.commit()
    return user


def example_files() -> dict[str, Any]:
    return {k: EXAMPLES / f"{k}.csv" for k in ("customers", "orders", "events", "leads")}


def only_rejection(report: ImportReport) -> tuple[int, str | None, str]:
    [r] = report.rejected_rows
    return r.row, r.column, r.message


# -- good files ------------------------------------------------------------------------------

def test_example_files_import(settings: Settings, db: Session) -> None:
    report = run_import(settings, **example_files())
    assert report.ok, str(report)
    assert report.rejected_rows == []
    assert counts(db) == {"customers": 6, "orders": 6, "events": 7, "leads": 5}
    assert str(report).endswith("Imported 6 customers, 6 orders, 7 events, 5 leads.")


def test_customer_values(settings: Settings, db: Session, tmp_path: Path) -> None:
    report = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS))
    assert report.ok, str(report)
    c1, c2, c3 = db.scalars(select(Customer).order_by(Customer.external_id))
    assert (c1.timezone, c1.tags, c1.consent_email, c1.consent_sms) == (
        "Europe/Paris", ["vip", "newsletter"], True, False)
    assert c1.created_at == datetime(2026, 1, 15, 10, tzinfo=UTC)  # naive means UTC
    assert c2.created_at == datetime(2026, 2, 3, 0, 30, tzinfo=UTC)  # +08:00 converted
    assert (c2.consent_email, c2.consent_sms, c2.tags) == (True, True, [])
    # defaults: UTC, no consent, no tags, created now
    assert (c3.email, c3.timezone, c3.consent_email, c3.tags) == (None, "UTC", False, [])
    assert (datetime.now(UTC) - c3.created_at).total_seconds() < 60


def test_orders_refer_to_customers_already_in_the_database(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    assert run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS)).ok
    report = run_import(settings, orders=write(tmp_path, "o.csv", ORDERS))
    assert report.ok, str(report)
    o1, o2 = db.scalars(select(Order).order_by(Order.external_id))
    c1 = db.scalar(select(Customer).where(Customer.external_id == "C1"))
    assert c1 is not None and o1.customer_id == c1.id
    assert (o1.amount, o1.items) == (60.0, 2)  # rounded to cents
    assert o1.ordered_at == datetime(2026, 3, 5, 18, 45, tzinfo=UTC)
    assert (o2.items, o2.ordered_at) == (1, datetime(2026, 3, 7, 2, 10, tzinfo=UTC))


def test_events_with_campaign_and_properties(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    campaign = Campaign(name="Spring", channel=CampaignChannel.email)
    db.add(campaign)
    db.commit()
    events = write(tmp_path, "e.csv", [
        "customer_id,occurred_at,type,page,channel,campaign_id,properties",
        f'C1,2026-03-05T18:31:10Z,Email_Click,/pricing,email,{campaign.id},"{{""link"": ""a""}}"',
        "C1,2026-03-05T18:30:00Z,session_start,,web,,",
    ])
    report = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), events=events)
    assert report.ok, str(report)
    click, start = db.scalars(select(Event).order_by(Event.occurred_at.desc()))
    assert (click.type, click.campaign_id, click.properties) == (
        EventType.email_click, campaign.id, {"link": "a"})
    assert (start.type, start.page, start.properties) == (EventType.session_start, None, None)


def test_lead_owner_from_rules_or_owner_email(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    europe = rep(db, "eu@example.com", region="europe")
    america = rep(db, "na@example.com", region="north_america")
    leads = write(tmp_path, "l.csv", [
        "customer_id,source,created_at,status,owner_email,notes",
        "C1,webinar,2026-03-06T02:00:00Z,,,",  # europe -> the europe rep
        "C3,referral,,contacted,,call back",  # north_america -> the americas rep
        "C1,web_form,,qualified,NA@Example.com,",  # explicit owner, any case
    ])
    report = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), leads=leads)
    assert report.ok, str(report)
    first, second, third = db.scalars(select(Lead).order_by(Lead.id))
    assert (first.owner_id, first.status, first.source) == (europe.id, LeadStatus.new,
                                                            LeadSource.webinar)
    assert first.created_at == datetime(2026, 3, 6, 2, tzinfo=UTC)
    assert (second.owner_id, second.status, second.notes) == (america.id, LeadStatus.contacted,
                                                              "call back")
    assert (third.owner_id, third.status) == (america.id, LeadStatus.qualified)


def test_parquet_input(settings: Settings, db: Session, tmp_path: Path) -> None:
    customers = pd.DataFrame({
        "customer_id": ["P1", "P2"],
        "company_size": [250, None],  # float column with a null, as pandas makes it
        "timezone": ["America/New_York", None],
        "birthday": [date(1990, 12, 31), None],
        "consent_email": [True, False],
        "tags": [["vip", "trial"], []],
        "created_at": pd.to_datetime(["2026-01-01T09:30:00+02:00", "2026-01-02T00:00:00+02:00"]),
    })
    orders = pd.DataFrame({
        "order_id": ["PO1"], "customer_id": ["P1"], "amount": [19.5], "items": [3],
        "ordered_at": [pd.Timestamp("2026-02-01 12:00")],  # naive timestamp: UTC
    })
    customers.to_parquet(tmp_path / "c.parquet")
    orders.to_parquet(tmp_path / "o.parquet")
    report = run_import(settings, customers=tmp_path / "c.parquet", orders=tmp_path / "o.parquet")
    assert report.ok, str(report)
    p1, p2 = db.scalars(select(Customer).order_by(Customer.external_id))
    assert (p1.company_size, p1.timezone, p1.birthday, p1.consent_email, p1.tags) == (
        250, "America/New_York", date(1990, 12, 31), True, ["vip", "trial"])
    assert p1.created_at == datetime(2026, 1, 1, 7, 30, tzinfo=UTC)
    assert (p2.company_size, p2.timezone, p2.birthday, p2.tags) == (None, "UTC", None, [])
    order = db.scalars(select(Order)).one()
    assert (order.customer_id, order.amount, order.items, order.ordered_at) == (
        p1.id, 19.5, 3, datetime(2026, 2, 1, 12, tzinfo=UTC))


def test_parquet_rows_count_from_one(settings: Settings, db: Session, tmp_path: Path) -> None:
    pd.DataFrame({"customer_id": ["P1", "P2"], "region": ["x", "y" * 65]}).to_parquet(
        tmp_path / "c.parquet")
    report = run_import(settings, customers=tmp_path / "c.parquet")
    assert only_rejection(report) == (2, "region", "region is longer than 64 characters (65)")


# -- bad rows --------------------------------------------------------------------------------

BAD_ROWS = [
    ("customers", "customer_id,region", ",europe", "customer_id", "customer_id must not be empty"),
    ("customers", "customer_id,email", "C9,nope", "email", "email 'nope' is not an e-mail address"),
    ("customers", "customer_id,company_size", "C9,-1", "company_size",
     "company_size must be 0 or more (got -1)"),
    ("customers", "customer_id,company_size", "C9,lots", "company_size",
     "company_size 'lots' is not a whole number"),
    ("customers", "customer_id,timezone", "C9,Mars/Base", "timezone",
     "timezone 'Mars/Base' is not an IANA time zone name "
     "(e.g. Europe/Paris, America/New_York, UTC)"),
    ("customers", "customer_id,birthday", "C9,31/12/1990", "birthday",
     "birthday '31/12/1990' is not a date (use YYYY-MM-DD, e.g. 1990-12-31)"),
    ("customers", "customer_id,consent_sms", "C9,maybe", "consent_sms",
     "consent_sms 'maybe' is not true/false (use true, false, yes, no, 1 or 0)"),
    ("orders", "order_id,customer_id,ordered_at,amount", "O9,C1,yesterday,5", "ordered_at",
     "ordered_at 'yesterday' is not a date/time (use ISO 8601, e.g. 2026-10-01T09:30:00Z)"),
    ("orders", "order_id,customer_id,ordered_at,amount", "O9,C1,2026-03-01,12,50", None,
     "row has 5 values but the header has 4 columns"),
    ("orders", "order_id,customer_id,ordered_at,amount", 'O9,C1,2026-03-01,"12,50"', "amount",
     "amount '12,50' is not a number (use a dot for decimals, e.g. 12.50)"),
    ("orders", "order_id,customer_id,ordered_at,amount", "O9,C1,2026-03-01,-3", "amount",
     "amount must be 0 or more (got -3)"),
    ("orders", "order_id,customer_id,ordered_at,amount", "O9,C1,2026-03-01,", "amount",
     "amount must not be empty"),
    ("orders", "order_id,customer_id,ordered_at,amount,items", "O9,C1,2026-03-01,5,0", "items",
     "items must be 1 or more (got 0)"),
    ("events", "customer_id,occurred_at,type", "C1,2026-03-01,click", "type",
     "type 'click' is not one of: session_start, page_view, email_sent, email_open, "
     "email_click, form_submit"),
    ("events", "customer_id,occurred_at,type,campaign_id", "C1,2026-03-01,page_view,999",
     "campaign_id", "campaign_id 999 does not exist"),
    ("events", "customer_id,occurred_at,type,properties", "C1,2026-03-01,page_view,[1]",
     "properties", 'properties must be a JSON object such as {"plan": "pro"}'),
    ("events", "customer_id,occurred_at,type,properties", "C1,2026-03-01,page_view,{x",
     "properties",
     "properties is not valid JSON (Expecting property name enclosed in double quotes at "
     "character 2)"),
    ("leads", "customer_id,source", "C1,fax", "source",
     "source 'fax' is not one of: web_form, webinar, referral, paid_search, social, event, "
     "outbound"),
    ("leads", "customer_id,source,status", "C1,webinar,won", "status",
     "status 'won' is not one of: new, contacted, qualified, converted, lost"),
    ("leads", "customer_id,source,owner_email", "C1,webinar,nobody@example.com", "owner_email",
     "owner_email 'nobody@example.com' is not a Lodestar user"),
    ("leads", "customer_id,source,owner_email", "C1,webinar,mk@example.com", "owner_email",
     "owner_email 'mk@example.com' is a marketer, not a sales rep"),
    ("leads", "customer_id,source,owner_email", "C1,webinar,gone@example.com", "owner_email",
     "owner_email 'gone@example.com' is a deactivated user"),
]


@pytest.mark.parametrize(("kind", "header", "bad", "column", "message"), BAD_ROWS)
def test_bad_row_is_named_and_nothing_is_written(
    settings: Settings, db: Session, tmp_path: Path,
    kind: str, header: str, bad: str, column: str | None, message: str,
) -> None:
    rep(db, "mk@example.com", role=Role.marketer)
    rep(db, "gone@example.com", is_active=False)
    good = {"customers": "C8", "orders": "O8,C1,2026-03-01,5", "events": "C1,2026-03-01,page_view",
            "leads": "C1,webinar"}[kind]
    good += "," * (header.count(",") - good.count(","))
    files: dict[str, Any] = {kind: write(tmp_path, f"{kind}.csv", [header, good, bad])}
    if kind != "customers":
        files["customers"] = write(tmp_path, "customers.csv", CUSTOMERS)
    before = counts(db)
    report = run_import(settings, **files)
    assert not report.ok
    assert only_rejection(report) == (3, column, message)
    assert counts(db) == before
    assert "Nothing was written: 1 row was rejected" in str(report)


def test_any_bad_row_anywhere_writes_nothing(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    orders = write(tmp_path, "o.csv", [*ORDERS, "O3,C2,2026-03-08,abc,1,web"])
    report = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), orders=orders)
    assert not report.ok
    assert [(f.kind, f.read, f.accepted, f.rejected, f.written) for f in report.files] == [
        ("customers", 3, 3, 0, 0), ("orders", 3, 2, 1, 0)]
    assert counts(db) == {"customers": 0, "orders": 0, "events": 0, "leads": 0}


def test_skip_invalid_writes_only_the_valid_rows(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    customers = write(tmp_path, "c.csv", [*CUSTOMERS, "C4,,,,Nowhere/Land,,,,"])
    orders = write(tmp_path, "o.csv", [*ORDERS, "O3,C4,2026-03-08,10,1,web"])
    report = run_import(settings, customers=customers, orders=orders, skip_invalid=True)
    assert report.ok, str(report)
    assert [(f.kind, f.accepted, f.rejected, f.written) for f in report.files] == [
        ("customers", 3, 1, 3), ("orders", 2, 1, 2)]
    # the order of a rejected customer cannot be written either, and says why
    assert [(r.file, r.row, r.column) for r in report.rejected_rows] == [
        ("c.csv", 5, "timezone"), ("o.csv", 4, "customer_id")]
    assert report.rejected_rows[1].message == (
        "customer_id 'C4' is on row 5 of c.csv, which was rejected")
    assert counts(db) == {"customers": 3, "orders": 2, "events": 0, "leads": 0}
    assert "skipped 2 rejected rows (--skip-invalid)" in str(report)


def test_skip_invalid_with_every_row_rejected_is_not_ok(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    report = run_import(settings, customers=write(tmp_path, "c.csv", ["customer_id,region", ",x"]),
                        skip_invalid=True)
    assert not report.ok
    assert str(report).endswith("Nothing was written: all 1 row was rejected.")


# -- duplicates and references ---------------------------------------------------------------

def test_reimport_rejects_duplicates(settings: Settings, db: Session, tmp_path: Path) -> None:
    files = example_files()
    assert run_import(settings, **files).ok
    before = counts(db)
    again = run_import(settings, **files)
    assert not again.ok
    assert [(f.kind, f.rejected) for f in again.files] == [
        ("customers", 6), ("orders", 6), ("events", 7), ("leads", 5)]
    messages = {r.message for r in again.rejected_rows}
    assert "customer_id 'C-1001' is already in the database (import adds customers, never " \
           "updates)" in messages
    assert "order_id 'O-5001' is already in the database" in messages
    assert counts(db) == before
    # --skip-invalid: nothing new, so nothing written, and that is not a success
    assert not run_import(settings, **files, skip_invalid=True).ok
    assert counts(db) == before


def test_duplicates_within_a_file(settings: Settings, db: Session, tmp_path: Path) -> None:
    customers = write(tmp_path, "c.csv", [*CUSTOMERS, "C1,again@example.com,,,,,,,"])
    orders = write(tmp_path, "o.csv", [*ORDERS, "O1,C2,2026-03-09,1,1,web"])
    events = write(tmp_path, "e.csv", ["customer_id,occurred_at,type",
                                       "C1,2026-03-01T10:00:00Z,page_view",
                                       "C1,2026-03-01T11:00:00+01:00,page_view"])
    report = run_import(settings, customers=customers, orders=orders, events=events,
                        skip_invalid=True)
    assert [(r.file, r.row, r.message) for r in report.rejected_rows] == [
        ("c.csv", 5, "customer_id 'C1' is also on row 2 (a duplicate)"),
        ("o.csv", 4, "order_id 'O1' is also on row 2 (a duplicate)"),
        ("e.csv", 3, "duplicate event: row 2 has the same customer_id, occurred_at, type, page, "
                     "channel, campaign_id and properties"),
    ]
    assert counts(db) == {"customers": 3, "orders": 2, "events": 1, "leads": 0}


def test_unknown_customer_reference(settings: Settings, db: Session, tmp_path: Path) -> None:
    orders = write(tmp_path, "o.csv", [*ORDERS[:2], "O2,C404,2026-03-07,1,,"])
    with_file = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), orders=orders)
    assert only_rejection(with_file) == (
        3, "customer_id", "customer_id 'C404' is not a known customer (not in the database, "
                          "nor in c.csv)")
    without = run_import(settings, orders=orders)
    assert without.rejected_rows[-1].message == (
        "customer_id 'C404' is not in the database (import the customer first, or add a "
        "customers file)")
    assert counts(db)["orders"] == 0


# -- files as a whole ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "lines", "problem"), [
    ("c.csv", ["customer_id,regoin", "C1,x"],
     "unknown column 'regoin' (did you mean 'region'? customers columns are: customer_id, email,"),
    ("c.csv", ["email", "a@example.com"], "missing required column(s): customer_id"),
    ("c.csv", ["customer_id;email", "C1;a@example.com"], "the header looks semicolon-separated"),
    ("c.csv", [], "the file is empty: it needs a header line"),
    ("c.txt", ["customer_id", "C1"], "c.txt: use a .csv or .parquet file (got '.txt')"),
])
def test_unusable_file_stops_the_import_even_with_skip_invalid(
    settings: Settings, db: Session, tmp_path: Path, name: str, lines: list[str], problem: str
) -> None:
    path = tmp_path / name
    path.write_text("\n".join(lines), encoding="utf-8")
    report = run_import(settings, customers=path, orders=write(tmp_path, "o.csv", ORDERS),
                        skip_invalid=True)
    assert not report.ok
    assert report.files[0].problems[0].startswith(problem)
    assert report.files[1].rejected == 0  # its customers cannot be judged: no false alarms
    assert "--skip-invalid skips bad rows, not bad files" in str(report)


def test_a_file_that_is_not_utf8_is_named_by_line(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("customer_id,name\nC1,Ana\nC2,Andr\u00e9\n".encode("latin-1"))
    report = run_import(settings, customers=path)
    assert report.files[0].problems == [
        "line 3 is not UTF-8 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')"]


def test_missing_file_and_no_files(settings: Settings, tmp_path: Path) -> None:
    missing = run_import(settings, customers=tmp_path / "nope.csv")
    assert not missing.ok
    assert missing.files[0].problems == [f"{tmp_path / 'nope.csv'} does not exist"]
    nothing = run_import(settings)
    assert not nothing.ok and "no files given" in str(nothing)


def test_row_numbers_count_blank_lines_and_the_bom(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("\ufeffcustomer_id,region\nC1,x\n\n,,\nC2,\n,y\n", encoding="utf-8")
    report = run_import(settings, customers=path)
    assert only_rejection(report) == (6, "customer_id", "customer_id must not be empty")
    assert report.files[0].read == 3  # blank lines and rows of empty cells are skipped


def test_report_shows_the_first_rows_then_a_count(settings: Settings, tmp_path: Path) -> None:
    lines = ["customer_id,company_size", *(f"C{i},x" for i in range(MAX_SHOWN_ROWS + 5))]
    text = str(run_import(settings, customers=write(tmp_path, "c.csv", lines)))
    assert text.count("is not a whole number") == MAX_SHOWN_ROWS
    assert "row 21: company_size 'x' is not a whole number" in text
    assert "  ... and 5 more rejected rows" in text


# -- command line ----------------------------------------------------------------------------

def test_cli_exit_codes(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LODESTAR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LODESTAR_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        good = runner.invoke(app, ["import", "--customers", str(EXAMPLES / "customers.csv"),
                                   "--orders", str(EXAMPLES / "orders.csv")])
        assert good.exit_code == 0, good.output
        assert "Imported 6 customers, 6 orders." in good.stdout
        bad = runner.invoke(app, ["import", "--customers", str(EXAMPLES / "customers.csv")])
        assert bad.exit_code == 1
        assert "row 2: customer_id 'C-1001' is already in the database" in bad.stdout
    finally:
        get_settings.cache_clear()


def test_rules_spread_leads_over_reps_counting_the_imported_ones(
    settings: Settings, db: Session, tmp_path: Path
) -> None:
    first = rep(db, "a@example.com", region="europe")
    second = rep(db, "b@example.com", region="europe")
    rep(db, "c@example.com", region="apac")
    leads = write(tmp_path, "l.csv", ["customer_id,source", *["C1,webinar"] * 4])
    report = run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), leads=leads)
    assert report.ok, str(report)
    # two europe reps: the least loaded, counting leads of this import; ties to the lower id
    assert list(db.scalars(select(Lead.owner_id).order_by(Lead.id))) == [
        first.id, second.id, first.id, second.id]


def test_a_crash_while_writing_leaves_nothing(
    settings: Settings, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("serving.core.importer.writing._events", crash)
    events = write(tmp_path, "e.csv", ["customer_id,occurred_at,type", "C1,2026-03-01,page_view"])
    with pytest.raises(RuntimeError):
        run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS),
                   orders=write(tmp_path, "o.csv", ORDERS), events=events)
    assert counts(db) == {"customers": 0, "orders": 0, "events": 0, "leads": 0}


def test_a_row_the_database_refuses_rolls_everything_back(
    settings: Settings, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = write(tmp_path, "o.csv", ORDERS)
    assert run_import(settings, customers=write(tmp_path, "c.csv", CUSTOMERS), orders=orders).ok
    # as if another process had written the same orders after the checks ran
    monkeypatch.setattr("serving.core.importer.lookups.order_ids", lambda *a: set())
    more = write(tmp_path, "c2.csv", ["customer_id", "C7"])
    report = run_import(settings, customers=more, orders=orders)
    assert not report.ok
    assert str(report).startswith("customers (") and "the database refused a row" in str(report)
    assert [f.written for f in report.files] == [0, 0]
    assert counts(db) == {"customers": 3, "orders": 2, "events": 0, "leads": 0}
