"""Settings that carry credentials never show their password: not in a repr, a str or a log line."""

import logging

import pytest

from shared.settings import SecretUrl, Settings


def test_urls_with_a_password_show_it_as_stars_and_give_it_only_when_asked() -> None:
    settings = Settings(
        database_url="postgresql://app:hunter2@db.example:5432/assets",
        amqp_url="amqp://events:s3cr%40t@[::1]:5672/vhost",
    )
    shown = f"{settings!r} {settings} {settings.database_url} {settings.amqp_url} {settings.model_dump()}"
    assert "hunter2" not in shown and "s3cr" not in shown
    assert str(settings.database_url) == "postgresql://app:***@db.example:5432/assets"
    assert str(settings.amqp_url) == "amqp://events:***@[::1]:5672/vhost"
    assert settings.database_url.get_secret_value() == "postgresql://app:hunter2@db.example:5432/assets"
    assert settings.amqp_url.get_secret_value() == "amqp://events:s3cr%40t@[::1]:5672/vhost"


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    assert str(SecretUrl("postgresql://localhost/assetflow")) == "postgresql://localhost/assetflow"


def test_a_log_line_of_the_settings_shows_no_password(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(amqp_url="amqp://guest:letmein@broker/")
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("starting with %s", settings, extra={"amqp_url": settings.amqp_url})
    assert "letmein" not in caplog.text
    assert all("letmein" not in str(record.__dict__) for record in caplog.records)
