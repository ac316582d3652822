"""Settings read from the environment (pydantic-settings)."""

import datetime as dt
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]


class Settings(BaseSettings):
    """Everything configurable about assetflow, named as in the README."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = "postgresql://localhost/assetflow"
    amqp_url: str = "amqp://guest:guest@localhost/"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Events
    events_prefix: str = Field(default="assetflow", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_retention_hours: float = Field(default=24.0, ge=0)
    # Worker
    worker_prefetch: int = Field(default=50, ge=1, le=1000)
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    worker_host: str = "127.0.0.1"
    worker_port: int = Field(default=8081, ge=0, le=65535)
    expiry_warning_days: int = Field(default=30, ge=0, le=3650)
    sweep_at: dt.time = dt.time(2, 0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
