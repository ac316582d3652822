"""The moving window in the api's memory, on a clock the test turns: exact at the boundary, a
request's worth back as each time leaves the window, the tightest budget answered, idle budgets
forgotten."""

import types

import pytest

from services.api import rate_limits
from services.api.rate_limits import Budget, _MemoryCounts


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    now = types.SimpleNamespace(value=1_800_000_000.0)
    fake = types.SimpleNamespace(time=lambda: now.value, monotonic=lambda: now.value)
    monkeypatch.setattr(rate_limits, "time", fake)
    return now


def test_the_window_allows_exactly_its_count_and_gives_back_one_as_each_leaves(
    clock: types.SimpleNamespace,
) -> None:
    counts = _MemoryCounts()
    budget = Budget("token", "read", "t", "3 per 10 seconds")
    answers = []
    for _ in range(3):
        answers.append(counts.spend_now((budget,)))
        clock.value += 1
    assert [spent for spent, _ in answers] == [None, None, None]
    assert [standing.remaining for _, (standing,) in answers] == [2, 1, 0]
    spent, (standing,) = counts.spend_now((budget,))
    assert spent == 0 and standing.remaining == 0
    assert standing.reset_at == 1_800_000_000.0 + 10  # when the first request leaves the window
    clock.value = 1_800_000_000.0 + 10  # the first is still inside at exactly its window's end
    assert counts.spend_now((budget,))[0] == 0
    clock.value += 0.001
    assert counts.spend_now((budget,))[0] is None  # its slot came back, and only its slot
    assert counts.spend_now((budget,))[0] == 0


def test_the_tightest_budget_is_answered_and_a_spent_one_stops_the_count(
    clock: types.SimpleNamespace,
) -> None:
    counts = _MemoryCounts()
    token = Budget("token", "read", "t", "5/minute")
    organisation = Budget("organisation", "read", "o", "2/minute")
    spent, (standing,) = counts.spend_now((token, organisation))
    assert spent is None and standing.budget is organisation and standing.remaining == 1
    counts.spend_now((token, organisation))
    spent, (standing,) = counts.spend_now((token, organisation))
    assert spent == 1 and standing.budget is organisation
    # the token counted the refused request (it came first), the organisation did not
    assert counts.spend_now((token,))[1][0].remaining == 5 - 4


async def test_idle_budgets_are_forgotten(clock: types.SimpleNamespace) -> None:
    counts = _MemoryCounts()
    short, long = Budget("token", "read", "a", "1/second"), Budget("token", "read", "b", "1/hour")
    counts.spend_now((short,))
    counts.spend_now((long,))
    clock.value += 2
    counts.sweep()
    assert (await counts.peek(short)).remaining == 1
    assert (await counts.peek(long)).remaining == 0
    assert set(counts._windows) == {long.key, short.key}  # peek made the short one again, empty
    clock.value += 2
    counts.sweep()
    assert set(counts._windows) == {long.key}
