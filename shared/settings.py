"""Settings read from the environment (pydantic-settings)."""

import datetime as dt
import ipaddress
from functools import cached_property, lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet
from limits import RateLimitItem, parse
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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


def budget_of(text: str) -> RateLimitItem:
    """A budget such as `1200/minute` or `10 per second`; ValueError naming the form otherwise."""
    try:
        item = parse(text)
    except ValueError:
        item = None
    if item is None or ";" in text or "," in text or item.amount < 1:
        raise ValueError(f"{text!r} is not a budget: give one count per period, such as 1200/minute")
    return item


def checked_budget(text: str) -> str:
    budget_of(text)
    return text.strip()


def _checked_networks(text: str) -> str:
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (such as 10.0.0.0/8)") from None
    return text


def fernet_keys(text: str) -> list[str]:
    """The keys of WEBHOOK_SECRET_KEY (comma-separated, the first encrypts); ValueError naming the form."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError("give a Fernet key: the url-safe base64 of 32 bytes, as Fernet.generate_key() makes")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"key {index + 1} is not a Fernet key: give the url-safe base64 of 32 bytes, "
                "as Fernet.generate_key() makes (several, comma-separated, to rotate)"
            ) from None
    return keys


def _seconds_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A count per period (`1200/minute`, `10/second`, `5000 per hour`), as the `limits` package reads it.
Budget = Annotated[str, AfterValidator(checked_budget)]

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
    # The largest file POST /v1/assets/import takes (it is spooled to disk, never held in memory).
    max_import_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # Events
    events_prefix: str = Field(default="assetflow", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_retention_hours: float = Field(default=24.0, ge=0)
    # Worker
    worker_prefetch: int = Field(default=200, ge=1, le=1000)
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    worker_host: str = "127.0.0.1"
    worker_port: int = Field(default=8081, ge=0, le=65535)
    expiry_warning_days: int = Field(default=30, ge=0, le=3650)
    sweep_at: dt.time = dt.time(2, 0)
    # Rate limits: each token's budgets, each organisation's over all its tokens, and what a
    # client address may try with a token that does not work.
    rate_limit_enabled: bool = True
    rate_limit_read: Budget = "1200/minute"
    rate_limit_write: Budget = "300/minute"
    rate_limit_org_read: Budget = "6000/minute"
    rate_limit_org_write: Budget = "1500/minute"
    rate_limit_unauthenticated: Budget = "60/minute"
    # memory:// (this process) or redis://[:password@]host:port[/db], shared by every api process.
    rate_limit_storage_url: SecretUrl = SecretUrl("memory://")
    rate_limit_key_prefix: str = Field(default="assetflow", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    # Peers (addresses or networks, comma-separated) whose X-Forwarded-For names the client.
    trusted_proxies: Annotated[str, AfterValidator(_checked_networks)] = ""
    # Safe writes: a PATCH, PUT or DELETE of an object without If-Match answers 428, and how long
    # the answer of a write sent with an Idempotency-Key is kept for its repeats.
    require_if_match: bool = False
    idempotency_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    # Webhooks: the key(s) their signing secrets are encrypted with (unset: the webhook routes
    # answer 503), where endpoints may be, and how deliveries are sent and retried.
    webhook_secret_key: SecretStr | None = None
    webhook_allow_http: bool = False
    webhook_allow_private_networks: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_retry_schedule_seconds: Annotated[list[float], NoDecode, BeforeValidator(_seconds_list)] = Field(
        default=[5, 30, 120, 600, 1800, 3600], min_length=1
    )
    webhook_retry_every_seconds: float = Field(default=7200.0, gt=0)
    webhook_retry_for_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    webhook_concurrency_per_endpoint: int = Field(default=4, ge=1, le=100)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_delivery_retention_days: float = Field(default=30.0, gt=0)

    @field_validator("webhook_secret_key")
    @classmethod
    def _valid_fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            fernet_keys(value.get_secret_value())
            return value
        return None

    @field_validator("webhook_retry_schedule_seconds")
    @classmethod
    def _positive_delays(cls, value: list[float]) -> list[float]:
        if any(delay <= 0 for delay in value):
            raise ValueError("give the delays in seconds, each above 0, comma-separated (5,30,120)")
        return value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = (part.strip() for part in self.trusted_proxies.split(","))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
