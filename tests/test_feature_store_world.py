"""The whole feature path on a simulated world: CLI build → apply → materialize, then online
vectors equal to the latest offline rows for sampled customers and leads (SQLite and Redis)."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalog import TABLES
from features.online import OnlineReader
from features.store import open_store
from features.training import training_set
from serving.cli import app
from serving.config import Settings, get_settings
from serving.simulator import run_simulation
from tests.databases import REDIS_ENV, service_url

AS_OF = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # after the last built day of the world
CUSTOMER = [f"{t.name}:{c.name}" for t in TABLES.values() if t.entity == "customer"
            for c in t.columns] + ["customer_recency:days_since_last_order",
                                   "customer_recency:tenure_days"]
LEAD = [f"lead_activity:{c.name}" for c in TABLES["lead_activity"].columns] + [
    "lead_age:lead_age_days"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fsw")
    s = Settings(database_url=f"sqlite:///{tmp}/w.db", data_dir=tmp / "data")
    run_simulation(s, customers=1_500, days=60, seed=11, reset=True)
    return tmp


def _cli(world: Path, online: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LODESTAR_DATABASE_URL", f"sqlite:///{world}/w.db")
    monkeypatch.setenv("LODESTAR_DATA_DIR", str(world / "data"))
    monkeypatch.setenv("LODESTAR_ONLINE_STORE", online)
    monkeypatch.setenv("LODESTAR_FEAST_PROJECT", f"w{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    runner = CliRunner()
    for argv in (["features", "build"], ["features", "apply"], ["features", "materialize"]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, (argv, r.output, r.exception)
    settings = get_settings()
    get_settings.cache_clear()
    return settings


def _check(settings: Settings) -> None:
    store = open_store(settings)
    rng = np.random.default_rng(0)
    for entity, refs, n in (("customer", CUSTOMER, 40), ("lead", LEAD, 25)):
        key = f"{entity}_id"
        files = sorted((settings.data_dir / "features" / refs[0].split(":")[0]).glob("*.parquet"))
        ids = pd.concat(pd.read_parquet(f, columns=[key]) for f in files)[key].unique()
        sample = sorted(int(i) for i in rng.choice(ids, size=min(n, len(ids)), replace=False))
        online = OnlineReader(store, entity, refs).read(sample, as_of=AS_OF)
        offline = training_set(
            store, pd.DataFrame({key: sample, "event_timestamp": [AS_OF] * len(sample)}), refs
        ).set_index(key).drop(columns="event_timestamp")
        pd.testing.assert_frame_equal(online, offline, check_names=False)


def test_online_matches_offline_sqlite(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(_cli(world, "sqlite", monkeypatch))


@pytest.mark.redis
def test_online_matches_offline_redis(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(_cli(world, service_url(REDIS_ENV, "Redis"), monkeypatch))
