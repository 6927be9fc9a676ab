"""Fixtures: a migrated database per backend, a rolled-back session per test, an API client.

Each test runs inside one outer transaction; the app's commits become SAVEPOINT releases
(`join_transaction_mode="create_savepoint"`), and everything is rolled back afterwards.
"""

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from serving.app import create_app
from serving.config import Settings
from serving.core.db import make_engine
from serving.core.migrate import upgrade
from serving.core.models import Role
from tests import factories
from tests.databases import fresh_database


@pytest.fixture(scope="session", autouse=True)
def _no_stray_mlruns() -> Iterator[None]:
    """A test that logs to MLflow's default experiment writes ./mlruns into the checkout."""
    stray = Path("mlruns")
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), (
        "a test wrote ./mlruns: start its runs in training.tracking.experiment_id(...)"
    )


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("db")
    with fresh_database(backend, tmp) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(migrated_url: str) -> Iterator[Engine]:
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with engine.connect() as conn:
        outer = conn.begin()
        s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield s
        finally:
            s.close()
            outer.rollback()


@pytest.fixture
def client(engine: Engine, session: Session, tmp_path: Path) -> Iterator[TestClient]:
    # no MLflow store here, so leads are created unscored (tests/test_training.py scores them)
    settings = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/no-mlflow.db",
                        data_dir=tmp_path / "data")
    app = create_app(engine, settings=settings)
    # every session the app opens is the test's own, never closed by the app
    app.state.sessions = app.state.write_sessions = lambda: nullcontext(session)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class Keys:
    """An API key per role, plus two reps, on the test's session."""

    def __init__(self, session: Session) -> None:
        self.admin_user, self.admin = factories.user(session, Role.admin)
        self.marketer_user, self.marketer = factories.user(session, Role.marketer)
        self.ds_user, self.data_scientist = factories.user(session, Role.data_scientist)
        self.rep_user, self.rep = factories.user(session, Role.sales_rep, region="EMEA")
        self.rep2_user, self.rep2 = factories.user(session, Role.sales_rep, region="NA")


@pytest.fixture
def keys(session: Session) -> Keys:
    return Keys(session)
