"""Rate limits: each token's read and write budgets, its organisation's over all its tokens, and
what a client address may try with tokens that do not work.

The algorithm is a moving window (no request is allowed while the budget's count of requests in
the last window is spent, so there is no burst of twice the budget across a window's edge),
counted in this process (`memory://`: a deque of times per budget, see `_MemoryCounts`) or in
Redis, where every api process shares each budget (one script a call for all the budgets of the
requests waiting, with leases of slots for busy budgets: see MOVING_WINDOW_SCRIPT and `_Lease`).
The `limits` package parses the budgets (`1200/minute`, `3 per 2 seconds`) and names their keys.
When Redis cannot be reached the api serves without limits, warns once a minute and counts it,
and tries Redis again a second later.
"""

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from aiohttp import web
from limits import RateLimitItem
from multidict import istr
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.domain.models import Principal
from shared.settings import Settings, budget_of

logger = logging.getLogger(__name__)

Owner = Literal["token", "organisation", "address"]
Kind = Literal["read", "write"]

# The names of the fields, folded once.
RATELIMIT_POLICY, RATELIMIT = istr("RateLimit-Policy"), istr("RateLimit")
X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING = istr("X-RateLimit-Limit"), istr("X-RateLimit-Remaining")
X_RATELIMIT_RESET = istr("X-RateLimit-Reset")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long the api serves unlimited after Redis failed, before it asks Redis again.
RETRY_STORAGE_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0
# Addresses with a recent failed token, per process (see `Limiter.suspect`); the oldest go first.
MAX_SUSPECTS = 100_000
MAX_KNOWN_TOKENS = 65_536


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
    def amount(self) -> int:
        return self.item.amount

    @cached_property
    def window(self) -> int:
        """Seconds."""
        return self.item.get_expiry()

    @cached_property
    def key(self) -> str:
        """Its key in the storage (made once: a request counts against the same budgets again)."""
        return self.item.key_for(self.owner, self.kind, self.subject)

    @cached_property
    def policy(self) -> str:
        """Its name in the RateLimit fields: `token-read`, `organisation-write`, `address`."""
        return "address" if self.owner == "address" else f"{self.owner}-{self.kind}"

    @cached_property
    def policy_field(self) -> str:
        """Its RateLimit-Policy field (the same for every answer)."""
        return f'"{self.policy}";q={self.amount};w={self.window}'

    @cached_property
    def standing_prefix(self) -> str:
        """The start of its RateLimit field, up to the count left."""
        return f'"{self.policy}";r='

    @cached_property
    def quota(self) -> str:
        return str(self.amount)


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

    def headers(self, now: float) -> list[tuple[istr, str]]:
        """The IETF fields (draft-ietf-httpapi-ratelimit-headers) and the X-RateLimit triplet
        (every answer builds them: what does not change is made once per budget)."""
        budget, remaining = self.budget, str(self.remaining)
        return [
            (RATELIMIT_POLICY, budget.policy_field),
            (RATELIMIT, f"{budget.standing_prefix}{remaining};t={self.seconds_to_reset(now)}"),
            (X_RATELIMIT_LIMIT, budget.quota),
            (X_RATELIMIT_REMAINING, remaining),
            (X_RATELIMIT_RESET, str(math.ceil(self.reset_at))),
        ]


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
        self.storage_calls = Counter(
            "assetflow_rate_limit_storage_calls_total",
            "Calls to the shared rate-limit storage (Redis): one carries every request that came "
            "while the one before was out, and a request with leased slots makes none.",
            registry=registry,
        )
        self.storage_errors = Counter(
            "assetflow_rate_limit_storage_errors_total",
            "Calls to the rate-limit storage that failed; after each the api serves without limits for "
            "a second before it tries again.",
            registry=registry,
        )


# A moving window over several budgets at once, for several requests, in one round trip. The same
# algorithm and list layout as `limits`' own Redis scripts (a list per budget of the times of its
# requests, newest first); its scripts take one budget and one operation a call, and each call is
# a round trip, which here costs ~70-100 µs of the api's CPU (a plain GET with redis-py and
# hiredis: 69 µs; ten in one pipeline: 17 µs each): one a request cost a third of the read rate.
# So the requests that arrive while a call is out wait for the next call, which carries all of
# them (see `_RedisCounts`), and a budget with much room left hands out several of its slots at
# once (a lease: see `_Lease`). For each request in turn this counts it against each of its
# budgets in turn, stops at the first that is spent (the later ones are not counted), and answers
# where each budget it saw stands. The script runs atomically, so the counts are exact however the
# requests of several api processes interleave. The times older than a window are dropped as it
# goes, so a list holds at most a window's worth.
#   The time is Redis's own (TIME), so that the times in a list are in the order they were pushed
#   whichever process pushed them (the binary search and the trim rely on it).
#   KEYS: the keys of the slots given back, then every request's budgets' keys, request after
#   request. ARGV: the lease share, the number of give-backs and each one's time and count;
#   then for each request "spend" or "peek", its number of budgets, and each budget's count,
#   window in seconds and the slots wanted (1 for the request itself, more to lease).
#   Answers: the time the call's entries carry (what a give-back names), then for each request
#   the 1-based index of its spent budget or 0, then for each budget
#   seen: the count in its window, the time of its oldest entry (a string: a Lua number is
#   answered as an integer), and the slots it granted (0 when spent or peeked).
MOVING_WINDOW_SCRIPT = """
local clock = redis.call('TIME')
local stamp = clock[1] .. '.' .. string.format('%06d', tonumber(clock[2]))
local now = tonumber(stamp)
local share = tonumber(ARGV[1])
local returns = tonumber(ARGV[2])
local at = 3
for r = 1, returns do
    redis.call('lrem', KEYS[r], tonumber(ARGV[at + 1]), ARGV[at])
    at = at + 2
end
local answers = {stamp}
local k = returns
while at <= #ARGV do
    local spend = ARGV[at] == 'spend'
    local count = tonumber(ARGV[at + 1])
    at = at + 2
    local answer = {0}
    for i = 1, count do
        local key = KEYS[k + i]
        local limit = tonumber(ARGV[at])
        local window = tonumber(ARGV[at + 1])
        local want = tonumber(ARGV[at + 2])
        at = at + 3
        local cutoff = now - window
        local length = redis.call('llen', key)
        local low, high, inside = 0, length - 1, 0
        while low <= high do
            local mid = math.floor((low + high) / 2)
            if tonumber(redis.call('lindex', key, mid)) >= cutoff then
                inside = mid + 1
                low = mid + 1
            else
                high = mid - 1
            end
        end
        if inside == 0 and length > 0 then
            redis.call('del', key)
        elseif inside < length then
            redis.call('ltrim', key, 0, inside - 1)
        end
        local oldest = stamp
        if inside > 0 then
            oldest = redis.call('lindex', key, inside - 1)
        end
        local granted = 0
        local spent = false
        if spend then
            local room = limit - inside
            if room < 1 then
                spent = true
            else
                granted = math.min(want, room, math.max(1, math.floor(room / share)))
                local stamps = {}
                for j = 1, granted do
                    stamps[j] = stamp
                end
                redis.call('lpush', key, unpack(stamps))
                redis.call('expire', key, window)
                inside = inside + granted
            end
        end
        answer[#answer + 1] = inside
        answer[#answer + 1] = oldest
        answer[#answer + 1] = granted
        if spent then
            answer[1] = i
            at = at + 3 * (count - i)
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

# Leases: how long slots taken ahead stay this process's to spend before what is left goes back,
# the most one lease takes, and the share of a budget's room one may take at most (so a budget
# with fewer than twice that many slots left hands out one slot a call: exact at its boundary).
LEASE_SECONDS = 0.025
LEASE_MOST = 256
LEASE_SHARE = 16
MAX_LEASES = 65_536
MAX_RETURNS = 10_000  # give-backs kept while Redis is away


# What counting a request answers: the index of the budget that was spent, if one was, and where
# the budgets it saw stand.
Outcome = tuple[int | None, list[Standing]]


class _MemoryCounts:
    """This process's counts: the moving window over the times of each budget's requests in its
    window, oldest first, in a deque: the times that left the window drop off its front as a
    request comes, so counting is a few steps however full the window is. (`limits`' memory
    storage keeps the same moving window as a list of objects, newest first, found by bisection
    and dropped by a sweep; it cost 7.7% of a read's CPU against a target of 5% for the whole
    limiter: py-spy, wrk at 10 connections.)"""

    SWEEP_EVERY_SECONDS = 1.0

    def __init__(self) -> None:
        self._windows: dict[str, tuple[deque[float], float]] = {}

    def _times(self, one: Budget, now: float) -> deque[float]:
        """The budget's times in its window (those older have dropped off its front)."""
        found = self._windows.get(one.key)
        if found is None:
            found = self._windows[one.key] = (deque(), one.window)
        times, cutoff = found[0], now - found[1]
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def spend_now(self, budgets: tuple[Budget, ...]) -> Outcome:
        now = time.time()
        tightest: Standing | None = None
        for index, one in enumerate(budgets):
            times = self._times(one, now)
            if len(times) >= one.amount:
                return index, [Standing(one, 0, times[0] + one.window)]
            times.append(now)
            remaining = one.amount - len(times)
            if tightest is None or remaining < tightest.remaining:
                tightest = Standing(one, remaining, times[0] + one.window)
        assert tightest is not None, "a request counts against at least one budget"
        return None, [tightest]

    async def spend(self, budgets: tuple[Budget, ...]) -> Outcome:
        return self.spend_now(budgets)

    async def peek(self, one: Budget) -> Standing:
        now = time.time()
        times = self._times(one, now)
        return Standing(one, max(0, one.amount - len(times)), (times[0] if times else now) + one.window)

    def sweep(self) -> None:
        """Forget the budgets with no request in their window."""
        now = time.time()
        for key, (times, window) in list(self._windows.items()):
            if not times or times[-1] < now - window:
                del self._windows[key]

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.SWEEP_EVERY_SECONDS)
            self.sweep()

    async def close(self) -> None:
        return None


@dataclass(slots=True)
class _Lease:
    """Slots of one budget that this process took from Redis in one call, beyond the one its
    request spent, for the requests that follow within LEASE_SECONDS; they are counted in Redis
    from the moment they were taken, so every process sees them as used, and what is left of them
    then goes back (a slot counts from its lease, at most LEASE_SECONDS before its use). How many
    the next lease asks for follows how many this one served."""

    budget: Budget
    stamp: str  # the time its entries carry in Redis, which a give-back names
    left: int
    used: int  # the budget's count in Redis once the lease was taken, its own slots included
    reset_at: float
    until: float  # time.monotonic()
    served: int = 1

    def standing(self) -> Standing:
        return Standing(self.budget, max(0, self.budget.amount - self.used + self.left), self.reset_at)


# One budget's answer from the script: its standing and the slots it granted.
_Seen = tuple[Standing, int]
_Request = tuple[tuple[Budget, ...], str, "asyncio.Future[tuple[int | None, list[_Seen]]]"]


class _RedisCounts:
    """Counts shared by every api process: the moving window above, in Redis. One call is out at
    a time; the requests that come meanwhile go together in the next (a request that finds none
    out goes at once, at the end of the event loop's turn, with any that came in the same turn).
    A request whose budgets all have leased slots left is counted here, with no call."""

    def __init__(self, url: str, prefix: str, calls: Counter) -> None:
        self._calls = calls
        self._client = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(MOVING_WINDOW_SCRIPT)
        self._prefix = prefix
        self._waiting: list[_Request] = []
        self._returns: list[tuple[str, str, int]] = []  # (key, stamp, slots) to give back
        self._leases: dict[str, _Lease] = {}
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    async def spend(self, budgets: tuple[Budget, ...]) -> Outcome:
        now = time.monotonic()
        held = [self._take(one, now) for one in budgets]
        if all(held):
            return None, [lease.standing() for lease in held if lease is not None]
        asked = tuple(one for one, lease in zip(budgets, held, strict=True) if lease is None)
        try:
            spent, seen = await self._run(asked, "spend")
        except BaseException:
            self._refund(held)
            raise
        standings: list[Standing] = []
        answers = iter(seen)
        for index, (one, lease) in enumerate(zip(budgets, held, strict=True)):
            if lease is not None:
                standings.append(lease.standing())
                continue
            standings.append(next(answers)[0])
            if spent is not None and one is asked[spent]:
                self._refund(held[index + 1 :])  # the budgets after the spent one are not counted
                return index, standings[-1:]
        return None, standings

    async def peek(self, one: Budget) -> Standing:
        return (await self._run((one,), "peek"))[1][0][0]

    async def close(self) -> None:
        for _ in range(2):  # what is left goes back, for the other processes (also of a lease
            for lease in list(self._leases.values()):  # that a call out at the first pass made)
                self._give_back(lease)
            if self._sender is not None:
                await asyncio.wait([self._sender])
        self._closed = True
        await self._client.aclose()

    # Leases.

    def _take(self, one: Budget, now: float) -> _Lease | None:
        """A slot of the budget's lease, if it has one left; either way the request counts as
        demand for the next lease."""
        lease = self._leases.get(one.key)
        if lease is None:
            return None
        lease.served += 1
        if lease.left > 0 and lease.until > now:
            lease.left -= 1
            return lease
        return None

    def _refund(self, held: list[_Lease | None]) -> None:
        """Slots taken from leases for a request that did not count after all go back to their
        lease, or to Redis when the lease has run out or been replaced meanwhile."""
        now = time.monotonic()
        for lease in held:
            if lease is None:
                continue
            if self._leases.get(lease.budget.key) is lease and lease.until > now:
                lease.left += 1
            else:
                self._return_slots(lease, 1)

    def _wanted(self, one: Budget) -> int:
        """Slots to ask for: twice the requests the budget's last lease saw (1 with no lease)."""
        last = self._leases.get(one.key)
        return 1 if last is None else max(1, min(LEASE_MOST, 2 * last.served))

    def _lease(self, one: Budget, stamp: str, standing: Standing, granted: int) -> _Lease:
        """The slots granted beyond the request's own become the budget's lease; a grant of the
        request's slot alone keeps the lease there is (the demand it counts goes on)."""
        old = self._leases.get(one.key)
        if old is not None and granted == 1:
            return old
        if old is not None:
            self._give_back(old)
        elif len(self._leases) >= MAX_LEASES:  # the oldest budget's lease goes, and what is left of it
            self._give_back(self._leases.pop(next(iter(self._leases))))
        lease = _Lease(
            one,
            stamp,
            granted - 1,
            one.amount - standing.remaining,
            standing.reset_at,
            time.monotonic() + LEASE_SECONDS,
            served=0,
        )
        self._leases[one.key] = lease
        if lease.left:
            asyncio.get_running_loop().call_later(LEASE_SECONDS, self._give_back, lease)
        return lease

    def _give_back(self, lease: _Lease) -> None:
        """What is left of a lease goes back to Redis with the next call (one starts if none is
        out), so another process can spend it."""
        if lease.left > 0:
            self._return_slots(lease, lease.left)
            lease.left = 0

    def _return_slots(self, lease: _Lease, slots: int) -> None:
        if not self._closed:
            self._returns.append((lease.budget.key, lease.stamp, slots))
            self._start_sending()

    # Calls.

    async def _run(self, budgets: tuple[Budget, ...], mode: str) -> tuple[int | None, list[_Seen]]:
        future: asyncio.Future[tuple[int | None, list[_Seen]]] = asyncio.get_running_loop().create_future()
        self._waiting.append((budgets, mode, future))
        self._start_sending()
        return await future

    def _start_sending(self) -> None:
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="rate-limit-redis")

    async def _send_all(self) -> None:
        try:
            while self._waiting or self._returns:
                batch, self._waiting = self._waiting, []
                returns, self._returns = self._returns, []
                try:
                    stamp, answers = await self._send(returns, batch)
                    if len(answers) != len(batch):
                        raise RedisError(f"the rate-limit script answered {len(answers)} of {len(batch)}")
                except BaseException as exc:  # every request of the batch learns why
                    # the slots to give back wait for the next call (a few, however long Redis is away)
                    self._returns = (returns + self._returns)[-MAX_RETURNS:]
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (budgets, _, future), answer in zip(batch, answers, strict=True):
                    try:
                        spent, seen = self._outcome(budgets, answer)
                    except (ValueError, IndexError, TypeError) as exc:  # not the answer this script gives
                        if not future.done():
                            future.set_exception(
                                RedisError(f"unexpected answer from the rate-limit script: {exc!r}")
                            )
                        continue
                    for index, (one, (standing, granted)) in enumerate(zip(budgets, seen, strict=False)):
                        if not granted:
                            continue
                        lease = self._lease(one, stamp, standing, granted)
                        if lease.stamp == stamp:
                            # the budget's slots leased in this call are this process's to spend:
                            # they are left, for its request and any other of the call
                            seen[index] = (
                                Standing(one, standing.remaining + lease.left, standing.reset_at),
                                granted,
                            )
                    if not future.done():  # else its request is gone (its client went away)
                        future.set_result((spent, seen))
        finally:
            self._sender = None

    async def _send(
        self, returns: list[tuple[str, str, int]], batch: list[_Request]
    ) -> tuple[str, list[list[bytes]]]:
        keys = [f"{self._prefix}:{key}" for key, _, _ in returns]
        args: list[str | int] = [LEASE_SHARE, len(returns)]
        for _, given, slots in returns:
            args += [given, slots]
        asked: set[str] = set()  # one lease a budget and call: the other requests ask for their own slot
        for budgets, mode, _ in batch:
            args += [mode, len(budgets)]
            for one in budgets:
                keys.append(f"{self._prefix}:{one.key}")
                wanted = 0 if mode != "spend" else 1 if one.key in asked else self._wanted(one)
                asked.add(one.key)
                args += [one.amount, one.window, wanted]
        self._calls.inc()
        reply = await self._script(keys=keys, args=args)
        return reply[0].decode(), reply[1:]

    @staticmethod
    def _outcome(budgets: tuple[Budget, ...], answer: list[bytes]) -> tuple[int | None, list[_Seen]]:
        seen: list[_Seen] = []
        for index in range((len(answer) - 1) // 3):
            one = budgets[index]
            used, oldest, granted = (
                int(answer[1 + 3 * index]),
                float(answer[2 + 3 * index]),
                int(answer[3 + 3 * index]),
            )
            standing = Standing(one, max(0, one.amount - used), oldest + one.window)
            seen.append((standing, granted))
        spent = int(answer[0])
        return (spent - 1 if spent else None), seen


def _counts(settings: Settings, metrics: RateLimitMetrics) -> _MemoryCounts | _RedisCounts:
    url = settings.rate_limit_storage_url.get_secret_value()
    if url.startswith("memory://"):
        return _MemoryCounts()
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("RATE_LIMIT_STORAGE_URL must be memory:// or redis://…")
    return _RedisCounts(url, settings.rate_limit_key_prefix, metrics.storage_calls)


class Limiter:
    """The budgets of the api process, in the storage the settings name."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self._settings = settings
        self.metrics = RateLimitMetrics(registry)
        self._counts = _counts(settings, self.metrics)
        # whether the counts are in this process, so that `spend_here` counts without a coroutine
        # (there is nothing to wait for)
        self.counts_here = isinstance(self._counts, _MemoryCounts)
        self._expiry: asyncio.Task[None] | None = None
        self._unlimited_until = 0.0
        self._warned_at = -math.inf
        self._suspects: dict[str, float] = {}
        self._budgets: dict[tuple[int, str | None, Kind], tuple[Budget, Budget]] = {}

    def start(self) -> None:
        """Begin dropping expired counts (in this process's memory; Redis expires its own)."""
        if isinstance(self._counts, _MemoryCounts) and self._expiry is None:
            self._expiry = asyncio.create_task(self._counts.sweep_forever(), name="rate-limit-sweep")

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await self._counts.close()

    # The budgets of a request.

    def budgets(self, principal: Principal, method: str) -> tuple[Budget, Budget]:
        """The token's own budget (its own, else the default) and its organisation's (made once
        per token and kind: most requests come from a few tokens)."""
        if method in READ_METHODS:
            kind: Kind = "read"
            own = principal.rate_limit_read
        else:
            kind, own = "write", principal.rate_limit_write
        key = (principal.token_id.int, own, kind)
        found = self._budgets.get(key)
        if found is None:
            if len(self._budgets) >= MAX_KNOWN_TOKENS:
                self._budgets.pop(next(iter(self._budgets)))
            found = self._budgets[key] = self._make_budgets(principal, own, kind)
        return found

    def _make_budgets(self, principal: Principal, own: str | None, kind: Kind) -> tuple[Budget, Budget]:
        settings = self._settings
        if kind == "read":
            token_limit, org_limit = own or settings.rate_limit_read, settings.rate_limit_org_read
        else:
            token_limit, org_limit = own or settings.rate_limit_write, settings.rate_limit_org_write
        return (
            budget("token", kind, str(principal.token_id), token_limit),
            budget("organisation", kind, str(principal.org_id), org_limit),
        )

    def address_budget(self, address: str, method: str) -> Budget:
        kind: Kind = "read" if method in READ_METHODS else "write"
        return budget("address", kind, address, self._settings.rate_limit_unauthenticated)

    # Counting.

    async def spend(self, budgets: tuple[Budget, ...]) -> Standing | None:
        """Count one request against each budget in turn: Throttled by the first that is spent
        (the later ones are not counted), else the tightest standing; None while the storage is
        unreachable."""
        counts = self._counts
        if isinstance(counts, _MemoryCounts):
            return self.spend_here(budgets)
        if not self._storage_up():
            return None
        try:
            spent, standings = await counts.spend(budgets)
        except STORAGE_ERRORS as exc:
            self._storage_failed(exc)
            return None
        return self._answer(budgets, spent, standings)

    def spend_here(self, budgets: tuple[Budget, ...]) -> Standing:
        """`spend` when the counts are in this process."""
        counts = self._counts
        assert isinstance(counts, _MemoryCounts)
        spent, standings = counts.spend_now(budgets)
        return self._answer(budgets, spent, standings)

    def _answer(self, budgets: tuple[Budget, ...], spent: int | None, standings: list[Standing]) -> Standing:
        if spent is not None:
            self._throttled(budgets[spent])
            raise Throttled(standings[-1])
        return (
            standings[0] if len(standings) == 1 else min(standings, key=lambda standing: standing.remaining)
        )

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

    def has_suspects(self) -> bool:
        return bool(self._suspects)

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
