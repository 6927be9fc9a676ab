"""Throwaway databases for tests and benchmarks: a SQLite file, or a fresh PostgreSQL database
created beside the one named in LODESTAR_TEST_POSTGRES_URL and dropped afterwards."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "LODESTAR_TEST_POSTGRES_URL"
REDIS_ENV = "LODESTAR_TEST_REDIS_URL"
# Set by .ci/run: a missing service is then a failure, not a skip.
REQUIRE_ENV = "LODESTAR_REQUIRE_SERVICES"


def service_url(env: str, what: str) -> str:
    url = os.environ.get(env)
    if not url:
        reason = f"{what} tests need {env} (e.g. set by .ci/run)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{reason}, and {REQUIRE_ENV} says they must run")
        pytest.skip(reason)
    return url


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    name = f"lodestar_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a configured but unreachable server is a failure, not a skip
        admin.dispose()
        raise RuntimeError(f"cannot create a test database on {admin_url}: {exc}") from exc
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        with fresh_postgres(service_url(PG_ENV, "PostgreSQL")) as url:
            yield url
