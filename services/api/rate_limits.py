"""Rate limits: each token's read and write budgets, its organisation's over all its tokens, and
what a client address may try with tokens that do not work.

The algorithm and its storage are the `limits` package's: a moving window (no request is allowed
while the budget's count of requests in the last window is spent, so there is no burst of twice
the budget across a window's edge), counted in this process (`memory://`) or in Redis, where
every api process shares each budget. In this process the counts are `limits`' synchronous
memory storage, called straight from the event loop: each call is a few microseconds of work
with nothing to wait for, where its asyncio storage would take a lock per budget and hold it
across a thread hop of its expiry task, which queues every request of a busy token behind it;
its expiry runs on the loop too (`LoopExpiredMemoryStorage`).
When Redis cannot be reached the api serves without limits, warns once a minute and counts it,
and tries Redis again a second later.
"""

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from aiohttp import web
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from limits.storage import MemoryStorage
from prometheus_client import CollectorRegistry, Counter

from shared.domain.models import Principal
from shared.settings import Settings, budget_of

logger = logging.getLogger(__name__)

Owner = Literal["token", "organisation", "address"]
Kind = Literal["read", "write"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long the api serves unlimited after Redis failed, before it asks Redis again.
RETRY_STORAGE_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0
# Addresses with a recent failed token, per process (see `Limiter.suspect`); the oldest go first.
MAX_SUSPECTS = 100_000


@lru_cache(maxsize=1024)
def _item(text: str) -> RateLimitItem:
    return budget_of(text)


@dataclass(frozen=True)
class Budget:
    """One budget a request counts against: whose, for which kind of request, and how much."""

    owner: Owner
    kind: Kind
    subject: str  # the token's or organisation's id, or the client address
    limit: str  # such as "1200/minute"

    @cached_property
    def item(self) -> RateLimitItem:
        return _item(self.limit)

    @cached_property
    def key(self) -> str:
        """Its key in the storage (made once: a request counts against the same budgets again)."""
        return self.item.key_for(self.owner, self.kind, self.subject)

    @cached_property
    def policy(self) -> str:
        """Its name in the RateLimit fields: `token-read`, `organisation-write`, `address`."""
        return "address" if self.owner == "address" else f"{self.owner}-{self.kind}"


# The budgets of recent requests, with their keys made: most requests come from a few tokens.
budget = lru_cache(maxsize=65_536)(Budget)


@dataclass(frozen=True)
class Standing:
    """Where a budget stands: what is left of it, and when the next request's worth comes back."""

    budget: Budget
    remaining: int
    reset_at: float  # Unix seconds

    def seconds_to_reset(self, now: float) -> int:
        return max(0, math.ceil(self.reset_at - now))

    def headers(self, now: float) -> dict[str, str]:
        """The IETF fields (draft-ietf-httpapi-ratelimit-headers) and the X-RateLimit triplet."""
        item, name = self.budget.item, self.budget.policy
        return {
            "RateLimit-Policy": f'"{name}";q={item.amount};w={item.get_expiry()}',
            "RateLimit": f'"{name}";r={self.remaining};t={self.seconds_to_reset(now)}',
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


class Throttled(Exception):
    """A budget is spent: the request is refused before it does anything."""

    def __init__(self, standing: Standing) -> None:
        super().__init__(standing.budget.policy)
        self.standing = standing

    def retry_after(self, now: float) -> int:
        """Whole seconds until the budget has room again; never 0 while it is spent."""
        return max(1, self.standing.seconds_to_reset(now))


class RateLimitMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.throttled = Counter(
            "assetflow_http_throttled_total",
            "Requests refused with 429, by the budget that was spent and the kind of request.",
            ["budget", "class"],
            registry=registry,
        )
        self.storage_errors = Counter(
            "assetflow_rate_limit_storage_errors_total",
            "Requests served without limits because the rate-limit storage could not be reached.",
            registry=registry,
        )


class _Kept:
    """A timer that is always running, so that `limits` never starts another (see below)."""

    def is_alive(self) -> bool:
        return True

    def cancel(self) -> None:
        return None


class LoopExpiredMemoryStorage(MemoryStorage):
    """`limits`' memory storage with its expired entries dropped by the api's event loop once a
    second. Its own expiry starts a thread 10 ms after each call when none is alive: up to 100
    thread starts a second, each of which blocks the loop until the thread runs, and whose
    wake-ups take the GIL from it; that cost a quarter of the read rate (py-spy, wrk: 1,024
    against 1,351 requests/s with limiting off)."""

    EXPIRE_EVERY_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()  # the one its constructor started
        self.timer = _Kept()  # type: ignore[assignment]

    def expire(self) -> None:
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    async def expire_forever(self) -> None:
        while True:
            await asyncio.sleep(self.EXPIRE_EVERY_SECONDS)
            self.expire()


def _redis(settings: Settings) -> RedisStorage | None:
    """The Redis storage the settings name; None for this process's memory."""
    url = settings.rate_limit_storage_url.get_secret_value()
    if url.startswith("memory://"):
        return None
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("RATE_LIMIT_STORAGE_URL must be memory:// or redis://…")
    return RedisStorage(
        f"async+{url}",
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        wrap_exceptions=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


class Limiter:
    """The budgets of the api process, in the storage the settings name."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._redis = _redis(settings)
        self._memory = LoopExpiredMemoryStorage() if self._redis is None else None
        self._expiry: asyncio.Task[None] | None = None
        self.metrics = RateLimitMetrics(registry)
        self._unlimited_until = 0.0
        self._warned_at = -math.inf
        self._suspects: dict[str, float] = {}

    def start(self) -> None:
        """Begin dropping expired counts (in this process's memory; Redis expires its own)."""
        if self._memory is not None and self._expiry is None:
            self._expiry = asyncio.create_task(self._memory.expire_forever(), name="rate-limit-expiry")

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        if self._redis is not None:
            await self._redis.bridge.get_connection().aclose()  # type: ignore[attr-defined]

    # The budgets of a request.

    def budgets(self, principal: Principal, method: str) -> tuple[Budget, Budget]:
        """The token's own budget (its own, else the default) and its organisation's."""
        settings = self._settings
        if method in READ_METHODS:
            own = principal.rate_limit_read or settings.rate_limit_read
            return (
                budget("token", "read", str(principal.token_id), own),
                budget("organisation", "read", str(principal.org_id), settings.rate_limit_org_read),
            )
        own = principal.rate_limit_write or settings.rate_limit_write
        return (
            budget("token", "write", str(principal.token_id), own),
            budget("organisation", "write", str(principal.org_id), settings.rate_limit_org_write),
        )

    def address_budget(self, address: str, method: str) -> Budget:
        kind: Kind = "read" if method in READ_METHODS else "write"
        return budget("address", kind, address, self._settings.rate_limit_unauthenticated)

    # Counting: the moving window of `limits` (its MovingWindowRateLimiter's two operations, on
    # the storage itself, with each budget's key made once).

    async def spend(self, budgets: tuple[Budget, ...]) -> Standing | None:
        """Count one request against each budget in turn: Throttled by the first that is spent
        (the later ones are not counted), else the tightest standing; None while the storage is
        unreachable."""
        try:
            if not self._storage_up():
                return None
            for one in budgets:
                if not await self._hit(one):
                    self._throttled(one)
                    raise Throttled(await self._standing(one))
            if self._memory is not None:
                standings = [self._local_standing(one) for one in budgets]
            else:  # one round trip's wait for both
                standings = await asyncio.gather(*(self._standing(one) for one in budgets))
        except StorageError as exc:
            self._storage_failed(exc)
            return None
        return min(standings, key=lambda standing: standing.remaining)

    async def check_spent(self, spent: Budget) -> None:
        """Throttled when the budget has no room left, without counting a request against it."""
        try:
            if not self._storage_up():
                return
            standing = await self._standing(spent)
            if standing.remaining < 1:
                self._throttled(spent)
                raise Throttled(standing)
        except StorageError as exc:
            self._storage_failed(exc)

    async def count(self, failed: Budget) -> None:
        """Count a request against a budget that it does not pass or fail (a failed token)."""
        self._suspect(failed.subject)
        try:
            if self._storage_up():
                await self._hit(failed)
        except StorageError as exc:
            self._storage_failed(exc)

    def suspect(self, address: str) -> bool:
        """Whether this process saw a failed token from the address within the unauthenticated
        window: only then is its budget looked up before a token is checked. (Across several api
        processes, an address gets at most one unchecked try per process and window.)"""
        until = self._suspects.get(address)
        if until is None:
            return False
        if until < time.monotonic():
            del self._suspects[address]
            return False
        return True

    def _suspect(self, address: str) -> None:
        if len(self._suspects) >= MAX_SUSPECTS:
            self._suspects.pop(next(iter(self._suspects)))
        self._suspects.pop(address, None)
        window = _item(self._settings.rate_limit_unauthenticated).get_expiry()
        self._suspects[address] = time.monotonic() + window

    async def _hit(self, one: Budget) -> bool:
        item = one.item
        if self._memory is not None:
            return self._memory.acquire_entry(one.key, item.amount, item.get_expiry())
        assert self._redis is not None
        return await self._redis.acquire_entry(one.key, item.amount, item.get_expiry())

    def _local_standing(self, one: Budget) -> Standing:
        assert self._memory is not None
        item = one.item
        start, used = self._memory.get_moving_window(one.key, item.amount, item.get_expiry())
        return Standing(one, max(0, item.amount - used), start + item.get_expiry())

    async def _standing(self, one: Budget) -> Standing:
        if self._memory is not None:
            return self._local_standing(one)
        assert self._redis is not None
        item = one.item
        start, used = await self._redis.get_moving_window(one.key, item.amount, item.get_expiry())
        return Standing(one, max(0, item.amount - used), start + item.get_expiry())

    def _throttled(self, budget: Budget) -> None:
        self.metrics.throttled.labels(budget.owner, budget.kind).inc()

    def _storage_up(self) -> bool:
        return time.monotonic() >= self._unlimited_until

    def _storage_failed(self, exc: StorageError) -> None:
        self.metrics.storage_errors.inc()
        now = time.monotonic()
        self._unlimited_until = now + RETRY_STORAGE_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate-limit storage unreachable; serving without limits until it answers",
                extra={"error": repr(exc.storage_error)},
            )


def client_address(
    request: web.Request, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> str:
    """The peer's address; the first of X-Forwarded-For only when the peer is a trusted proxy."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded or not trusted:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in network for network in trusted):
        return peer
    first = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(first))
    except ValueError:
        return peer
