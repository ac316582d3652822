"""Webhooks as the domain sees them: which events an endpoint takes, which addresses it may
resolve to, how a delivery is signed (Standard Webhooks) and when a failed one is tried again."""

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import Field

from shared.domain.models import Record

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# How long the secret before a rotation still signs, as a second signature.
ROTATION_OVERLAP = dt.timedelta(hours=24)
MAX_URL_LENGTH = 2048
MAX_PATTERNS = 50
MAX_DESCRIPTION_LENGTH = 500
# At most this much of an endpoint's answer is read, and this much of it kept in the log.
READ_LIMIT_BYTES = 64 * 1024
KEEP_LIMIT_BYTES = 1024

# What an endpoint's URL looks like, as JSON Schema can say it: http or https (in any case), then
# printable ASCII with no white space, no user name or password (an @ before the path) and no
# #fragment. url_problem applies the same rule first, so both name the same URLs.
URL_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]?://[!-"$-.0->A-~]+(?:[/?][!-"$-~]*)?$'
# An event type or a topic pattern: dot-separated words of lower-case letters, digits and _, or * or #.
EVENT_PATTERN = r"^(?:[a-z0-9_]+|\*|#)(?:\.(?:[a-z0-9_]+|\*|#))*$"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Record):
    """A registered endpoint, its secrets still encrypted."""

    id: UUID
    org_id: UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    secret: bytes
    previous_secret: bytes | None
    previous_secret_until: dt.datetime | None
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class Attempt(Record):
    """One try of a delivery: what the endpoint answered, or why there was no answer."""

    n: int
    at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None


class Delivery(Record):
    """One event for one endpoint, with its attempts (the delivery log)."""

    id: UUID
    endpoint_id: UUID
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    tries: list[Attempt] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EventSource:
    """An event as the webhooks consumer took it off its queue: the few fields it routes on, and
    the body exactly as it was published (what the endpoints receive)."""

    id: str
    type: str
    org_id: UUID
    body: bytes


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to."""

    at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# ---- which events an endpoint takes -------------------------------------------------------------


def matches(pattern: str, event_type: str) -> bool:
    """Whether a topic pattern takes an event type, as a RabbitMQ topic binding would: `*` is one
    word, `#` zero or more."""
    return _match(pattern.split("."), event_type.split("."))


def _match(pattern: Sequence[str], words: Sequence[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


def pattern_problem(pattern: str, known: Iterable[str]) -> str | None:
    """Why a pattern is not one an endpoint can subscribe with; None when it is."""
    if not re.match(EVENT_PATTERN, pattern):
        return (
            "must be an event type or a pattern of dot-separated words, each lower-case letters, "
            "digits and _, or * (one word) or # (any number of words)"
        )
    if not any(matches(pattern, event_type) for event_type in known):
        return f"matches no event type; the event types are {', '.join(sorted(known))}"
    return None


def takes(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(pattern, event_type) for pattern in patterns)


# ---- where an endpoint may be -------------------------------------------------------------------


def url_problem(url: str, allow_http: bool) -> str | None:
    """Why a URL cannot be an endpoint's, before any name is resolved; None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(not "!" <= c <= "~" for c in url):
        return "must be printable ASCII with no white space (an international host name in its xn-- form)"
    if not re.match(URL_PATTERN, url):
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("http", "https"):
            plain = "" if allow_http else " (plain http only when WEBHOOK_ALLOW_HTTP=true)"
            return f"must be an https URL{plain}"
        authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        if "@" in authority:
            return "must not carry a user name or password; authenticate the sender by its signature"
        if "#" in url:
            return "must not have a #fragment"
        return "must name a host"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        plain = "" if allow_http else " (plain http only when WEBHOOK_ALLOW_HTTP=true)"
        return f"must be an https URL{plain}"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password; authenticate the sender by its signature"
    if parts.fragment:
        return "must not have a #fragment"
    if port == 0:
        return "must not name port 0"
    return None


def host_and_port(url: str) -> tuple[str, int]:
    """The host to resolve and the port to connect to, of a URL url_problem accepted."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80)


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refusal(address: str) -> str | None:
    """What an address is that an endpoint must not be reached at (one a request forged to reach
    the service's own network would aim at), such as "a loopback address"; None when it is public."""
    try:
        ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL, "a unique-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((kind for refused, kind in checks if refused), None)


_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


# ---- signing ------------------------------------------------------------------------------------


def mint_secret() -> str:
    """A new signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(signing: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret that signs, space-separated."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in signing)


def delivery_headers(
    signing: Sequence[str], message_id: str, now: dt.datetime, body: bytes, user_agent: str
) -> dict[str, str]:
    """Everything a delivery is sent with but its body."""
    timestamp = int(now.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing, message_id, timestamp, body),
        "Content-Type": "application/json",
        "User-Agent": user_agent,
    }


# ---- trying again -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPlan:
    """When a failed delivery is tried again: after each delay of `schedule` in turn, then every
    `then_every`, each with up to `jitter` of itself more or less; never later than `give_up_after`
    from the delivery's first attempt, when it is failed for good."""

    schedule: tuple[float, ...]
    then_every: float
    give_up_after: dt.timedelta
    jitter: float = 0.2

    @property
    def quiet(self) -> dt.timedelta:
        """A gap between an endpoint's attempts longer than any wait of the schedule: a failing
        streak does not run across it."""
        return dt.timedelta(seconds=max(*self.schedule, self.then_every) * (1 + self.jitter) * 2)

    def delay(self, failed_attempts: int, spread: float) -> float:
        """Seconds until the next attempt after this many failed ones; `spread` in [-1, 1]."""
        index = failed_attempts - 1
        base = self.schedule[index] if index < len(self.schedule) else self.then_every
        return max(0.0, base * (1 + self.jitter * spread))

    def next_attempt(
        self, first_attempt: dt.datetime, now: dt.datetime, failed_attempts: int, spread: float
    ) -> dt.datetime | None:
        """When to try again, or None when the delivery is given up."""
        at = now + dt.timedelta(seconds=self.delay(failed_attempts, spread))
        return None if at - first_attempt > self.give_up_after else at


def outcome_of(status_code: int | None) -> str:
    """How an attempt ended, as the metrics count it."""
    if status_code is None:
        return "error"
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    return "refused"


def first_bytes(body: bytes) -> str:
    """What the delivery log keeps of an answer: its first KiB, as text."""
    return body[:KEEP_LIMIT_BYTES].decode("utf-8", errors="replace")
