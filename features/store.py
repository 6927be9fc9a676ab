"""The one place that opens the FeatureStore for the configured online and offline stores."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import yaml

from serving.config import Settings

if TYPE_CHECKING:  # feast takes ~3.5 s to import: only the commands that need it pay
    from feast import FeatureStore

REPO_DIR = Path(__file__).parent / "repo"


@dataclass(frozen=True)
class StorePaths:
    features_dir: Path  # the dated Parquet tables (features/pipelines writes them)
    feast_dir: Path  # registry and the SQLite online store


def paths(settings: Settings) -> StorePaths:
    data = settings.data_dir.resolve()
    return StorePaths(features_dir=data / "features", feast_dir=data / "feast")


def redis_connection_string(url: str) -> str:
    """redis://[:password@]host:port/db → Feast's 'host:port,db=N[,password=…]'."""
    u = urlparse(url)
    parts = [f"{u.hostname or '127.0.0.1'}:{u.port or 6379}"]
    db = (u.path or "/0").lstrip("/") or "0"
    parts.append(f"db={db}")
    if u.password:
        parts.append(f"password={u.password}")
    return ",".join(parts)


def redis_url_from_connection_string(conn: str) -> str:
    """The inverse, for readers that talk to Redis directly."""
    host, *params = conn.split(",")
    opts = dict(p.split("=", 1) for p in params)
    auth = f":{opts['password']}@" if "password" in opts else ""
    return f"redis://{auth}{host}/{opts.get('db', '0')}"


def repo_config_dict(settings: Settings) -> dict[str, Any]:
    """What feature_store.yaml says, from settings."""
    p = paths(settings)
    if settings.online_store == "sqlite":
        online: dict[str, Any] = {"type": "sqlite", "path": str(p.feast_dir / "online.db")}
    elif settings.online_store.startswith(("redis://", "rediss://")):
        online = {
            "type": "redis",
            "connection_string": redis_connection_string(settings.online_store),
        }
    else:
        raise ValueError(
            "LODESTAR_ONLINE_STORE must be 'sqlite' or a redis:// URL, "
            f"not {settings.online_store!r}"
        )
    return {
        "project": settings.feast_project,
        "provider": "local",
        "registry": {"path": str(p.feast_dir / "registry.db"), "cache_ttl_seconds": 60},
        "online_store": online,
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }


def render_yaml(settings: Settings, repo_dir: Path = REPO_DIR) -> Path:
    """Write feature_store.yaml (gitignored) so `feast -c features/repo …` sees our config."""
    path = repo_dir / "feature_store.yaml"
    path.write_text(
        "# rendered from LODESTAR_* settings by features/store.py; do not edit\n"
        + yaml.safe_dump(repo_config_dict(settings), sort_keys=False)
    )
    return path


def open_store(settings: Settings) -> "FeatureStore":
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    from serving.quiet import quiet_third_parties

    quiet_third_parties()  # again: importing Feast put its own warning filter in front
    p = paths(settings)
    p.feast_dir.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(repo_path=p.feast_dir, **repo_config_dict(settings))
    return FeatureStore(config=config)
