"""Application settings: one class, read once from `LODESTAR_*` env vars or an `.env` file."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LODESTAR_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/lodestar.db"
    data_dir: Path = Path("./var/data")
    mlflow_tracking_uri: str = "sqlite:///./var/mlflow.db"
    # "sqlite" (a file under data_dir) or a redis URL such as redis://127.0.0.1:6379/0
    online_store: str = "sqlite"
    # Feast project: namespaces registry entries and online keys (tests use their own).
    feast_project: str = "lodestar"
    # pool_size + max_overflow should cover the API's 40 worker threads, so a thread never
    # waits for a connection that only a thread-starved request could give back.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=30, ge=0)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # How often the API checks the registry for a moved @champion alias (0 = only on
    # POST /v1/models/reload).
    model_poll_seconds: float = Field(default=30.0, ge=0)
    prediction_log_flush_seconds: float = Field(default=2.0, gt=0)
    # Next-best-action contact policy: at most this many messages in this many days, no offer
    # for this many days after a redemption, and only offers worth more than this.
    nba_max_messages: int = Field(default=2, ge=0)
    nba_window_days: float = Field(default=7.0, gt=0)
    nba_cooldown_days: float = Field(default=14.0, ge=0)
    nba_min_expected_value: float = 0.0
    # A hot (grade A) lead not contacted within this many hours is flagged.
    lead_sla_hours: float = 2.0

    @property
    def event_log_dir(self) -> Path:
        return self.data_dir / "events"

    @property
    def ground_truth_dir(self) -> Path:
        return self.data_dir / "ground_truth"


@lru_cache
def get_settings() -> Settings:
    return Settings()
