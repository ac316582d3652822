"""The webhook rules that need no I/O: which events a pattern takes, which addresses are refused,
how a delivery is signed, when a failed one is tried again, and the secrets' box."""

import base64
import datetime as dt

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from standardwebhooks.webhooks import Webhook

from shared.domain.webhooks import (
    RetryPlan,
    address_refusal,
    delivery_headers,
    matches,
    mint_secret,
    pattern_problem,
    url_problem,
)
from shared.secret_box import SecretBox, SecretUnreadable
from shared.services.webhooks import SUBSCRIBABLE
from shared.settings import Settings


@pytest.mark.parametrize(
    ("pattern", "event_type", "taken"),
    [
        ("asset.created", "asset.created", True),
        ("asset.created", "asset.updated", False),
        ("asset.*", "asset.deleted", True),
        ("asset.*", "asset.warranty.expired", False),
        ("asset.#", "asset.warranty.expired", True),
        ("asset.#", "asset.created", True),
        ("#", "webhook.disabled", True),
        ("*.warranty.*", "asset.warranty.expiring", True),
        ("asset.#.expired", "asset.support.expired", True),
        ("asset.#.expired", "asset.support.expiring", False),
        ("#.expired", "asset.warranty.expired", True),
        ("webhook.*", "webhook.disabled", True),
    ],
)
def test_patterns_match_as_topic_bindings_do(pattern: str, event_type: str, taken: bool) -> None:
    assert matches(pattern, event_type) is taken


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("asset.creatd", "matches no event type"),
        ("webhook.ping", "matches no event type"),  # sent on request, never subscribed to
        ("Asset.*", "dot-separated words"),
        ("asset..created", "dot-separated words"),
        ("asset.cre*", "dot-separated words"),
        ("", "dot-separated words"),
    ],
)
def test_a_pattern_that_takes_nothing_is_named(pattern: str, problem: str) -> None:
    found = pattern_problem(pattern, SUBSCRIBABLE)
    assert found is not None and problem in found


def test_every_subscribable_pattern_form_is_accepted() -> None:
    for pattern in ("#", "asset.*", "asset.#", "webhook.disabled", *SUBSCRIBABLE):
        assert pattern_problem(pattern, SUBSCRIBABLE) is None, pattern


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.10", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a unique-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:192.168.1.1", "a private address"),
        ("100.64.0.1", "not a public address"),
        ("240.0.0.1", "a private address"),  # reserved: Python counts 240/4 as private
        ("fe80::1%eth0", "a link-local address"),
    ],
)
def test_addresses_a_forged_request_would_aim_at_are_refused(address: str, kind: str) -> None:
    assert address_refusal(address) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_not(address: str) -> None:
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("http://example.com/", False, "must be an https URL"),
        ("http://example.com/", True, None),
        ("https://example.com/hooks?x=1", False, None),
        ("https://user:pw@example.com/", False, "user name or password"),
        ("https:///path", False, "must name a host"),
        ("https://example.com:0/", False, "port 0"),
        ("https://example.com:99999/", False, "is not a valid URL"),
        ("https://example.com/#frag", False, "#fragment"),
        ("https://exa mple.com/", False, "white space"),
        ("https://example.com/" + "a" * 2048, False, "at most 2048"),
        ("javascript:alert(1)", True, "must be an https URL"),
    ],
)
def test_urls_are_checked_before_any_name_is_resolved(
    url: str, allow_http: bool, problem: str | None
) -> None:
    found = url_problem(url, allow_http)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_a_delivery_signed_here_verifies_with_standardwebhooks() -> None:
    secret, previous = mint_secret(), mint_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    body = b'{"id": "e1", "type": "asset.created"}'
    now = dt.datetime.now(dt.UTC)
    headers = delivery_headers([secret, previous], "e1", now, body, "assetflow-webhooks/test")
    assert headers["webhook-id"] == "e1" and headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(body, headers) == {"id": "e1", "type": "asset.created"}
    assert Webhook(previous).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(mint_secret()).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(body + b" ", headers)


def test_retries_follow_the_schedule_with_jitter_and_stop_at_the_window() -> None:
    plan = RetryPlan(schedule=(5, 30, 120), then_every=7200, give_up_after=dt.timedelta(hours=24))
    assert [plan.delay(n, 0) for n in (1, 2, 3, 4, 9)] == [5, 30, 120, 7200, 7200]
    assert plan.delay(1, 1) == pytest.approx(6) and plan.delay(1, -1) == pytest.approx(4)
    first = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert plan.next_attempt(first, first, 1, 0) == first + dt.timedelta(seconds=5)
    late = first + dt.timedelta(hours=23)
    assert plan.next_attempt(first, late, 12, 0) is None  # 23 h + 2 h is past the day


def test_the_box_seals_opens_and_rotates() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox([old]).seal("whsec_abc")
    assert b"whsec_abc" not in sealed
    both = SecretBox([new, old])
    assert both.open(sealed) == "whsec_abc"
    resealed = both.reseal(sealed)
    assert SecretBox([new]).open(resealed) == "whsec_abc"
    with pytest.raises(SecretUnreadable):
        SecretBox([new]).open(sealed)


def test_the_secret_key_setting_names_a_bad_key() -> None:
    with pytest.raises(ValidationError, match="is not a Fernet key"):
        Settings(webhook_secret_key=SecretStr("not-a-key"))
    key = Fernet.generate_key().decode()
    assert Settings(
        webhook_secret_key=SecretStr(f"{key}, {Fernet.generate_key().decode()}")
    ).webhook_secret_key
    assert Settings(webhook_secret_key=SecretStr("")).webhook_secret_key is None
    with pytest.raises(ValidationError, match="each above 0"):
        Settings(webhook_retry_schedule_seconds=[5, 0])


def test_the_retry_schedule_reads_from_the_environment_as_a_comma_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE_SECONDS", "0.5, 3,10")
    assert Settings().webhook_retry_schedule_seconds == [0.5, 3, 10]
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE_SECONDS", "5,soon")
    with pytest.raises(ValidationError, match="webhook_retry_schedule_seconds"):
        Settings()
