"""Settings read from the environment (pydantic-settings)."""

import datetime as dt
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SecretUrl(SecretStr):
    """A URL that carries a password: shown (repr, str, logs, errors) with the password as ***."""

    def _display(self) -> str:
        url = self.get_secret_value()
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}{port}"))


LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]


class Settings(BaseSettings):
    """Everything configurable about assetflow, named as in the README."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # Read with .get_secret_value(); anything that prints them shows no password.
    database_url: SecretUrl = SecretUrl("postgresql://localhost/assetflow")
    amqp_url: SecretUrl = SecretUrl("amqp://guest:guest@localhost/")
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
