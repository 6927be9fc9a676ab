"""Process-wide engine and session factory, built once from settings on first use."""

from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from serving.config import get_settings
from serving.core.db import make_engine, make_sessionmaker


@lru_cache
def engine() -> Engine:
    s = get_settings()
    return make_engine(s.database_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow)


@lru_cache
def session_factory(write: bool = False) -> sessionmaker[Session]:
    return make_sessionmaker(engine(), write=write)
