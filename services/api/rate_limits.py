"""Rate limits: each token's read and write budgets, its organisation's over all its tokens, and
what a client address may try with tokens that do not work.

The algorithm is a moving window (no request is allowed while the budget's count of requests in
the last window is spent, so there is no burst of twice the budget across a window's edge),
counted in this process (`memory://`, the `limits` package's storage) or in Redis, where every
api process shares each budget (one script a request for all its budgets: see
MOVING_WINDOW_SCRIPT). In this process the counts are `limits`' synchronous
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
from limits.storage import MemoryStorage
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

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


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond, a request
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
            "Calls to the rate-limit storage that failed; after each the api serves without limits for "
            "a second before it tries again.",
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


# A moving window over several budgets at once, for several requests, in one round trip. The same
# algorithm and list layout as `limits`' own Redis scripts (a list per budget of the times of its
# requests, newest first, trimmed to the budget's count); its scripts take one budget and one
# operation a call, and each call is a round trip, which here costs ~70-100 µs of the api's CPU (a
# plain GET with redis-py and hiredis: 69 µs; ten in one pipeline: 17 µs each): one a request cost
# a third of the read rate. So the requests that arrive while a call is out wait for the next
# call, which carries all of them (see `_RedisCounts`). For each request in turn this counts it
# against each of its budgets in turn, stops at the first that is spent (the later ones are not
# counted), and answers where each budget it saw stands. The script runs atomically, so the
# counts are exact however the requests of several api processes interleave.
#   KEYS: every request's budgets' keys, request after request. ARGV: now, then for each request
#   "spend" or "peek", its number of budgets, and each budget's count and window in seconds.
#   Answers: for each request, the 1-based index of its spent budget or 0, then for each budget
#   seen: the count in its window and the time of its oldest entry (a string: a Lua number is
#   answered as an integer).
MOVING_WINDOW_SCRIPT = """
local now = tonumber(ARGV[1])
local answers = {}
local at, k = 2, 0
while at <= #ARGV do
    local spend = ARGV[at] == 'spend'
    local count = tonumber(ARGV[at + 1])
    local first = at + 2
    at = first + 2 * count
    local answer = {0}
    for i = 1, count do
        local key = KEYS[k + i]
        local limit = tonumber(ARGV[first + 2 * (i - 1)])
        local window = tonumber(ARGV[first + 2 * (i - 1) + 1])
        local cutoff = now - window
        local spent = false
        if spend then
            local entry = redis.call('lindex', key, limit - 1)
            if entry and tonumber(entry) >= cutoff then
                spent = true
            else
                redis.call('lpush', key, ARGV[1])
                redis.call('ltrim', key, 0, limit - 1)
                redis.call('expire', key, window)
            end
        end
        local high = math.min(redis.call('llen', key), limit) - 1
        local low, oldest = 0, nil
        while low <= high do
            local mid = math.floor((low + high) / 2)
            if tonumber(redis.call('lindex', key, mid)) >= cutoff then
                oldest = mid
                low = mid + 1
            else
                high = mid - 1
            end
        end
        if oldest then
            answer[#answer + 1] = oldest + 1
            answer[#answer + 1] = redis.call('lindex', key, oldest)
        else
            answer[#answer + 1] = 0
            answer[#answer + 1] = ARGV[1]
        end
        if spent then
            answer[1] = i
            break
        end
    end
    answers[#answers + 1] = answer
    k = k + count
end
return answers
"""

# What a storage that cannot be reached raises.
STORAGE_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


# What counting a request answers: the index of the budget that was spent, if one was, and where
# the budgets it saw stand.
Outcome = tuple[int | None, list[Standing]]


class _MemoryCounts:
    """This process's counts: `limits`' moving window on its memory storage."""

    def __init__(self) -> None:
        self.storage = LoopExpiredMemoryStorage()

    def _standing(self, one: Budget) -> Standing:
        item = one.item
        start, used = self.storage.get_moving_window(one.key, item.amount, item.get_expiry())
        return Standing(one, max(0, item.amount - used), start + item.get_expiry())

    def spend_now(self, budgets: tuple[Budget, ...]) -> Outcome:
        for index, one in enumerate(budgets):
            item = one.item
            if not self.storage.acquire_entry(one.key, item.amount, item.get_expiry()):
                return index, [self._standing(one)]
        return None, [self._standing(one) for one in budgets]

    async def spend(self, budgets: tuple[Budget, ...]) -> Outcome:
        return self.spend_now(budgets)

    async def peek(self, one: Budget) -> Standing:
        return self._standing(one)

    async def close(self) -> None:
        return None


class _RedisCounts:
    """Counts shared by every api process: the moving window above, in Redis. One call is out at
    a time; the requests that come meanwhile go together in the next (a request that finds none
    out goes at once, at the end of the event loop's turn, with any that came in the same turn)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._client = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(MOVING_WINDOW_SCRIPT)
        self._prefix = prefix
        self._waiting: list[tuple[tuple[Budget, ...], str, asyncio.Future[Outcome]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def _run(self, budgets: tuple[Budget, ...], mode: str) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((budgets, mode, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="rate-limit-redis")
        return await future

    async def _send_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    answers = await self._send(batch)
                except BaseException as exc:  # every request of the batch learns why
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (budgets, _, future), answer in zip(batch, answers, strict=True):
                    if future.done():
                        continue  # its request is gone (its client went away); it was counted
                    try:
                        future.set_result(self._outcome(budgets, answer))
                    except (ValueError, IndexError, TypeError) as exc:  # not the answer this script gives
                        future.set_exception(
                            RedisError(f"unexpected answer from the rate-limit script: {exc!r}")
                        )
        finally:
            self._sender = None

    async def _send(
        self, batch: list[tuple[tuple[Budget, ...], str, asyncio.Future[Outcome]]]
    ) -> list[list[bytes]]:
        now = time.time()
        keys: list[str] = []
        args: list[str | int] = [repr(now)]
        for budgets, mode, _ in batch:
            args += [mode, len(budgets)]
            for one in budgets:
                keys.append(f"{self._prefix}:{one.key}")
                args += [one.item.amount, one.item.get_expiry()]
        return await self._script(keys=keys, args=args)

    @staticmethod
    def _outcome(budgets: tuple[Budget, ...], answer: list[bytes]) -> Outcome:
        standings = []
        for index in range(len(answer) // 2):
            one = budgets[index]
            used, oldest = int(answer[1 + 2 * index]), float(answer[2 + 2 * index])
            standings.append(Standing(one, max(0, one.item.amount - used), oldest + one.item.get_expiry()))
        spent = int(answer[0])
        return (spent - 1, standings[-1:]) if spent else (None, standings)

    async def spend(self, budgets: tuple[Budget, ...]) -> Outcome:
        return await self._run(budgets, "spend")

    async def peek(self, one: Budget) -> Standing:
        return (await self._run((one,), "peek"))[1][0]

    async def close(self) -> None:
        await self._client.aclose()


def _counts(settings: Settings) -> _MemoryCounts | _RedisCounts:
    url = settings.rate_limit_storage_url.get_secret_value()
    if url.startswith("memory://"):
        return _MemoryCounts()
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("RATE_LIMIT_STORAGE_URL must be memory:// or redis://…")
    return _RedisCounts(url, settings.rate_limit_key_prefix)


class Limiter:
    """The budgets of the api process, in the storage the settings name."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._counts = _counts(settings)
        self._expiry: asyncio.Task[None] | None = None
        self.metrics = RateLimitMetrics(registry)
        self._unlimited_until = 0.0
        self._warned_at = -math.inf
        self._suspects: dict[str, float] = {}

    def start(self) -> None:
        """Begin dropping expired counts (in this process's memory; Redis expires its own)."""
        if isinstance(self._counts, _MemoryCounts) and self._expiry is None:
            storage = self._counts.storage
            self._expiry = asyncio.create_task(storage.expire_forever(), name="rate-limit-expiry")

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await self._counts.close()

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

    # Counting.

    async def spend(self, budgets: tuple[Budget, ...]) -> Standing | None:
        """Count one request against each budget in turn: Throttled by the first that is spent
        (the later ones are not counted), else the tightest standing; None while the storage is
        unreachable."""
        if not self._storage_up():
            return None
        counts = self._counts
        try:
            # in this process's memory there is nothing to wait for: no coroutine to make
            spent, standings = (
                counts.spend_now(budgets)
                if isinstance(counts, _MemoryCounts)
                else await counts.spend(budgets)
            )
        except STORAGE_ERRORS as exc:
            self._storage_failed(exc)
            return None
        if spent is not None:
            self._throttled(budgets[spent])
            raise Throttled(standings[-1])
        return min(standings, key=lambda standing: standing.remaining)

    async def check_spent(self, spent: Budget) -> None:
        """Throttled when the budget has no room left, without counting a request against it."""
        if not self._storage_up():
            return
        try:
            standing = await self._counts.peek(spent)
        except STORAGE_ERRORS as exc:
            self._storage_failed(exc)
            return
        if standing.remaining < 1:
            self._throttled(spent)
            raise Throttled(standing)

    async def count(self, failed: Budget) -> None:
        """Count a request against a budget that it does not pass or fail (a failed token)."""
        self._suspect(failed.subject)
        if not self._storage_up():
            return
        try:
            await self._counts.spend((failed,))
        except STORAGE_ERRORS as exc:
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

    def _throttled(self, budget: Budget) -> None:
        self.metrics.throttled.labels(budget.owner, budget.kind).inc()

    def _storage_up(self) -> bool:
        return time.monotonic() >= self._unlimited_until

    def _storage_failed(self, exc: BaseException) -> None:
        self.metrics.storage_errors.inc()
        now = time.monotonic()
        self._unlimited_until = now + RETRY_STORAGE_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate-limit storage unreachable; serving without limits until it answers",
                extra={"error": repr(exc)},
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
