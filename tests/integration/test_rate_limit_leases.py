"""Leases of a budget shared in Redis: a process takes several slots of a budget with much room
in one call and spends them itself, which keeps the count exact between processes (every slot is
counted in Redis once, the ones left go back) while most requests make no call at all."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import CollectorRegistry

from services.api.rate_limits import LEASE_SECONDS, Budget, Limiter, Throttled
from shared.settings import Settings
from tests.conftest import REDIS_KEY_PREFIX, delete_keys

LimiterFactory = Callable[[], Limiter]


@pytest.fixture
async def limiters(settings: Settings, redis_url: str) -> AsyncIterator[LimiterFactory]:
    """Limiters that share one Redis under keys of the test's own, as api processes would."""
    prefix = f"{REDIS_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"
    shared = Settings(
        **{
            **settings.model_dump(),
            "rate_limit_enabled": True,
            "rate_limit_storage_url": redis_url,
            "rate_limit_key_prefix": prefix,
        }
    )
    made: list[Limiter] = []

    def make() -> Limiter:
        made.append(Limiter(shared, CollectorRegistry()))
        return made[-1]

    yield make
    for limiter in made:
        await limiter.close()
    await delete_keys(redis_url, prefix)


async def _allowed(limiter: Limiter, budget: Budget) -> int | None:
    """What is left of the budget after one more request, or None when it was refused."""
    try:
        standing = await limiter.spend((budget,))
    except Throttled:
        return None
    assert standing is not None, "the limiter served unlimited: Redis did not answer"
    return standing.remaining


def _calls(limiter: Limiter) -> float:
    return limiter.metrics.storage_calls._value.get()


async def test_a_busy_budget_is_counted_mostly_without_a_call_and_counts_down_by_one(
    limiters: LimiterFactory,
) -> None:
    limiter = limiters()
    budget = Budget("token", "read", str(uuid.uuid4()), "100000/minute")
    remaining = [await _allowed(limiter, budget) for _ in range(300)]
    assert remaining == list(range(99_999, 99_699, -1))
    assert _calls(limiter) <= 60, f"{_calls(limiter)} calls to Redis for 300 requests"


async def test_processes_with_leases_allow_exactly_the_budget_between_them(
    limiters: LimiterFactory,
) -> None:
    first, second = limiters(), limiters()
    subject = str(uuid.uuid4())
    budget = Budget("token", "read", subject, "300/minute")
    allowed = 0
    quiet_rounds = 0
    for _ in range(200):
        answers = await asyncio.gather(*(_allowed(p, budget) for p in (first, second) for _ in range(10)))
        allowed += sum(1 for answer in answers if answer is not None)
        assert allowed <= 300
        if any(answer is not None for answer in answers):
            quiet_rounds = 0
            continue
        # every request was refused: slots still leased to the other process come back soon
        quiet_rounds += 1
        if quiet_rounds == 3:
            break
        await asyncio.sleep(LEASE_SECONDS * 4)
    assert allowed == 300
    assert _calls(first) + _calls(second) < allowed  # leases were taken, not one call a request


async def test_slots_a_process_did_not_spend_go_back(limiters: LimiterFactory) -> None:
    busy, other = limiters(), limiters()
    budget = Budget("organisation", "read", str(uuid.uuid4()), "1000/minute")
    for _ in range(50):
        assert await _allowed(busy, budget) is not None
    assert _calls(busy) < 50
    await asyncio.sleep(LEASE_SECONDS * 4)
    # the other process sees exactly the 50 spent, none still held by the busy one
    assert await _allowed(other, budget) == 1000 - 51


async def test_a_token_refused_first_leaves_its_organisations_leased_slots_alone(
    limiters: LimiterFactory,
) -> None:
    """A request refused by its token's budget does not count against its organisation's, even
    when the slot it took from the organisation's lease has been given back or replaced by the
    time Redis answers."""
    busy, other = limiters(), limiters()
    org = str(uuid.uuid4())
    spent_token = (
        Budget("token", "read", "spent", "2/minute"),
        Budget("organisation", "read", org, "1000/minute"),
    )
    open_token = (Budget("token", "read", "open", "1000/minute"), spent_token[1])

    async def one(budgets: tuple[Budget, Budget]) -> bool:
        try:
            return await busy.spend(budgets) is not None
        except Throttled:
            return False

    allowed = 0
    for _ in range(30):
        answers = await asyncio.gather(
            *(one(spent_token) for _ in range(5)), *(one(open_token) for _ in range(5))
        )
        assert all(answers[5:])  # the open token is never refused
        allowed += sum(answers)
    assert allowed == 2 + 150
    await asyncio.sleep(LEASE_SECONDS * 4)
    assert await _allowed(other, spent_token[1]) == 1000 - allowed - 1
