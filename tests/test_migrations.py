"""Migrations go up and down on SQLite and PostgreSQL, and match the ORM models."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from serving.core.db import make_engine
from serving.core.migrate import downgrade, upgrade
from serving.core.models import Base
from tests.databases import fresh_database


def test_up_down_up_and_models_match(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(url)
            tables = set(inspect(engine).get_table_names())
            assert set(Base.metadata.tables) <= tables
            with engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            downgrade(url)
            engine.dispose()
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade(url)
            assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend_name", ["sqlite"])
def test_check_constraints_guard_data(backend_name: str, tmp_path: Path) -> None:
    """Even a buggy caller cannot store a percent discount over 100 or exceed a limit."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with fresh_database(backend_name, tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO coupon_definitions (name, discount_type, discount_value, "
                    "min_order_value, stackable, redeemed_count, total_limit, created_at) "
                    "VALUES ('x', 'percent', 150, 0, 0, 0, NULL, '2026-01-01')"
                )
            )
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO coupon_definitions (name, discount_type, discount_value, "
                    "min_order_value, stackable, redeemed_count, total_limit, created_at) "
                    "VALUES ('x', 'fixed', 5, 0, 0, 3, 2, '2026-01-01')"
                )
            )
        engine.dispose()
