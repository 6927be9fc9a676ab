"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    import pandas as pd

IMMEDIATE = "lodestar_sqlite_begin_immediate"


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 30) -> Engine:
    """SQLite gets WAL, foreign keys, a busy timeout, and explicit BEGINs.

    pysqlite's own transaction handling starts transactions lazily and breaks SAVEPOINTs, so we
    emit BEGIN ourselves: deferred for readers (WAL lets them run beside a writer), IMMEDIATE for
    sessions that will write (see `make_sessionmaker`), so two concurrent redemptions queue on
    the write lock instead of one failing with SQLITE_BUSY after reading a stale snapshot.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for reading, or (write=True) for a use case that reads then writes.

    On PostgreSQL both are the same; on SQLite a write session takes the write lock at BEGIN.
    """
    bind = engine.execution_options(**{IMMEDIATE: True}) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """For CLI jobs: one session, rolled back if the block raises."""
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_sql_frame(engine: Engine, sql: str) -> "pd.DataFrame":
    """A query into a frame for the training jobs, with every `*_at` column as aware UTC:
    SQLite hands back text and PostgreSQL datetimes, and the jobs compare them to each other."""
    import pandas as pd  # only the jobs need it: keep it off the API's import path

    frame = pd.read_sql(sql, engine)
    for col in frame.columns:
        if col.endswith("_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="mixed")
    return frame
