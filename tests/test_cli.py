"""The `lodestar` command: users, migrations, and the demo (the main job) end to end."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.config import get_settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LODESTAR_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("LODESTAR_DATA_DIR", str(tmp_path / "data"))
    # or `lodestar demo` here would log its runs to the developer's ./var/mlflow.db
    monkeypatch.setenv("LODESTAR_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_users_create_prints_a_working_key(env: Path) -> None:
    from serving.app import create_app
    from serving.core.db import make_engine
    from serving.devserver import live_server

    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "create", "--email", "ana@x.io", "--role", "marketer"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().rsplit(" ", 1)[-1]
    assert key.startswith("lsk_")
    engine = make_engine(get_settings().database_url)
    with live_server(create_app(engine)) as base:
        me = httpx.get(f"{base}/v1/me", headers={"X-API-Key": key}).json()
    engine.dispose()
    assert me["email"] == "ana@x.io" and me["role"] == "marketer"
    again = runner.invoke(app, ["users", "create", "--email", "ana@x.io", "--role", "marketer"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(app, ["users", "create", "--email", "b@x.io", "--role", "wizard"])
    assert bad.exit_code != 0 and "role must be one of" in bad.output


def test_db_downgrade_then_upgrade(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["db", "downgrade"]).exit_code == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0


def test_demo_serves_the_readme_curl(env: Path) -> None:
    """The main job end to end, small: simulate, keys file, then the README's lead query."""
    from serving.app import create_app
    from serving.core.db import make_engine
    from serving.devserver import live_server

    r = runner.invoke(app, ["demo", "--customers", "400", "--days", "30", "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "/docs" in r.output and "demo-keys.env" in r.output
    keys = dict(
        line.split("=", 1)
        for line in (env / "data" / "demo-keys.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    engine = make_engine(get_settings().database_url)
    with live_server(create_app(engine)) as base:
        leads = httpx.get(
            f"{base}/v1/leads?owner=me&sort=-score&limit=5", headers={"X-API-Key": keys["REP_KEY"]}
        ).json()
        me = httpx.get(f"{base}/v1/me", headers={"X-API-Key": keys["REP_KEY"]}).json()
        assert httpx.get(f"{base}/docs").status_code == 200
    engine.dispose()
    assert leads["total"] > 0 and len(leads["items"]) == 5
    assert {item["owner_id"] for item in leads["items"]} == {me["id"]}
    # a second run reuses the world and still hands out working keys
    again = runner.invoke(app, ["demo", "--no-serve"])
    assert again.exit_code == 0 and "reusing the simulated world" in again.output
