"""Straight-line depreciation at its edges (pure functions): schedules, month ends, leap years,
rounding to the cent and the salvage floor."""

import datetime as dt
from decimal import Decimal

import pytest

from shared.domain.depreciation import (
    DepreciationPlan,
    Period,
    add_months,
    book_value,
    plan_for,
    schedule,
    whole_months_between,
)
from shared.domain.models import DepreciationSchedule as S

D = Decimal
THREE, FIVE, TEN = S.THREE_YEAR, S.FIVE_YEAR, S.TEN_YEAR


def plan(
    sched: S = THREE, cost: str = "1200.00", salvage: str = "0", start: dt.date = dt.date(2024, 1, 15)
) -> DepreciationPlan:
    made = plan_for(sched, D(cost), D(salvage), start, None)
    assert made is not None
    return made


def day(y: int, m: int, d: int) -> dt.date:
    return dt.date(y, m, d)


# --- which assets get a plan -------------------------------------------------------------------


def test_schedule_names_are_the_documented_ones() -> None:
    assert {s.value for s in S} == {"other", "3_year_33_percent", "5_year_20_percent", "10_year_10_percent"}


@pytest.mark.parametrize(("sched", "months"), [(THREE, 36), (FIVE, 60), (TEN, 120)])
def test_useful_life_of_the_three_schedules(sched: S, months: int) -> None:
    p = plan(sched)
    assert p.months == months
    periods = schedule(p)
    assert len(periods) == months
    assert [x.period for x in periods] == list(range(1, months + 1))


def test_no_plan_for_other() -> None:
    assert plan_for(S.OTHER, D("1000"), D("0"), day(2024, 1, 1), day(2024, 1, 1)) is None


def test_no_plan_without_a_schedule() -> None:
    assert plan_for(None, D("1000"), D("0"), day(2024, 1, 1), None) is None


def test_no_plan_without_a_cost() -> None:
    assert plan_for(THREE, None, D("0"), day(2024, 1, 1), day(2024, 1, 1)) is None


def test_no_plan_without_any_start_date() -> None:
    assert plan_for(FIVE, D("1000"), D("0"), None, None) is None


def test_start_defaults_to_the_purchase_date() -> None:
    p = plan_for(FIVE, D("1000"), None, None, day(2023, 5, 31))
    assert p is not None
    assert p.service_start == day(2023, 5, 31)


def test_service_start_date_wins_over_the_purchase_date() -> None:
    p = plan_for(FIVE, D("1000"), None, day(2023, 7, 1), day(2023, 5, 31))
    assert p is not None
    assert p.service_start == day(2023, 7, 1)


def test_missing_salvage_is_zero() -> None:
    p = plan_for(TEN, D("1000"), None, day(2023, 7, 1), None)
    assert p is not None
    assert p.salvage_value == D("0")
    assert p.depreciable == D("1000")


# --- the monthly amount, rounding and the exact sum -----------------------------------------------


@pytest.mark.parametrize(
    ("sched", "cost", "salvage", "monthly"),
    [
        (THREE, "12000.00", "0", "333.33"),
        (FIVE, "12000.00", "0", "200.00"),
        (TEN, "12000.00", "0", "100.00"),
        (THREE, "1899.00", "99.00", "50.00"),
        (THREE, "100.00", "0", "2.78"),  # 2.7777… rounds up
        (THREE, "0.18", "0", "0.01"),  # 0.005 rounds half up
        (FIVE, "1000.00", "0", "16.67"),  # 16.666…
        (TEN, "999.99", "0", "8.33"),  # 8.33325
    ],
)
def test_monthly_is_cost_less_salvage_over_the_life_rounded_to_the_cent(
    sched: S, cost: str, salvage: str, monthly: str
) -> None:
    p = plan(sched, cost, salvage)
    assert p.monthly == D(monthly)
    assert p.monthly.as_tuple().exponent == -2


def test_every_month_but_the_last_takes_the_rounded_share() -> None:
    periods = schedule(plan(THREE, "1200.00", "0"))
    # 1200 / 36 = 33.333…: 35 months of 33.33 and the last takes the remaining 33.45
    assert all(x.depreciation == D("33.33") for x in periods[:-1])
    assert periods[-1].depreciation == D("33.45")
    assert periods[-1].accumulated == D("1200.00")
    assert periods[-1].book_value == D("0.00")


def test_last_month_takes_a_negative_rounding_difference() -> None:
    periods = schedule(plan(THREE, "100.00", "0"))
    # 2.78 x 35 = 97.30, so the last month is 2.70
    assert all(x.depreciation == D("2.78") for x in periods[:-1])
    assert periods[-1].depreciation == D("2.70")
    assert sum(x.depreciation for x in periods) == D("100.00")


@pytest.mark.parametrize("sched", [THREE, FIVE, TEN])
@pytest.mark.parametrize(
    ("cost", "salvage"),
    [
        ("1200.00", "0"),
        ("1899.00", "100.00"),
        ("100.00", "0"),
        ("1000.00", "0.01"),
        ("999.99", "333.33"),
        ("0.01", "0"),
        ("0.18", "0"),
        ("0.35", "0"),
        ("7.77", "1.11"),
        ("123456789012.34", "0.99"),
        ("2499.00", "2498.99"),
    ],
)
def test_schedule_sums_exactly_to_cost_less_salvage(sched: S, cost: str, salvage: str) -> None:
    p = plan(sched, cost, salvage)
    periods = schedule(p)
    total = sum((x.depreciation for x in periods), D(0))
    assert total == D(cost) - D(salvage)
    assert periods[-1].accumulated == D(cost) - D(salvage)
    assert periods[-1].book_value == D(salvage)
    accumulated = D(0)
    for x in periods:
        # no month gives value back, every amount is whole cents, and the running sums are right
        assert x.depreciation >= 0
        assert x.depreciation == x.depreciation.quantize(D("0.01"))
        accumulated += x.depreciation
        assert x.accumulated == accumulated
        assert x.book_value == D(cost) - accumulated
        assert x.book_value >= D(salvage)


def test_tiny_cost_rounded_up_never_overshoots() -> None:
    # 0.35 / 36 = 0.0097 -> 0.01 a month would reach 0.36 after 36 months: it stops at 0.35.
    periods = schedule(plan(THREE, "0.35", "0"))
    assert [x.depreciation for x in periods[:35]] == [D("0.01")] * 35
    assert periods[35].depreciation == D("0")
    assert periods[-1].book_value == D("0")


def test_tiny_cost_rounded_down_to_zero_lands_in_the_last_month() -> None:
    periods = schedule(plan(TEN, "0.50", "0"))  # 0.50 / 120 = 0.0041… -> 0.00
    assert all(x.depreciation == D("0") for x in periods[:-1])
    assert periods[-1].depreciation == D("0.50")


def test_salvage_equal_to_cost_depreciates_nothing() -> None:
    p = plan(FIVE, "1000.00", "1000.00")
    assert p.monthly == D("0")
    assert all(x.depreciation == 0 and x.book_value == D("1000.00") for x in schedule(p))
    assert book_value(p, day(2030, 1, 1)) == D("1000.00")


def test_salvage_above_cost_depreciates_nothing_and_never_raises_the_value() -> None:
    p = plan(FIVE, "1000.00", "1500.00")
    assert p.depreciable == D("0")
    assert all(x.depreciation == 0 and x.book_value == D("1000.00") for x in schedule(p))
    for as_of in (day(2024, 1, 15), day(2025, 6, 1), day(2040, 1, 1)):
        assert book_value(p, as_of) == D("1000.00")


def test_zero_cost() -> None:
    p = plan(THREE, "0", "0")
    assert all(x.depreciation == 0 and x.book_value == 0 for x in schedule(p))
    assert book_value(p, day(2025, 1, 1)) == D("0")


# --- whole months, month ends and leap years ---------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (day(2023, 1, 31), 1, day(2023, 2, 28)),
        (day(2024, 1, 31), 1, day(2024, 2, 29)),
        (day(2023, 1, 31), 2, day(2023, 3, 31)),  # from the start, not chained through Feb 28
        (day(2023, 1, 31), 3, day(2023, 4, 30)),
        (day(2024, 2, 29), 1, day(2024, 3, 29)),
        (day(2024, 2, 29), 12, day(2025, 2, 28)),
        (day(2024, 2, 29), 48, day(2028, 2, 29)),
        (day(2024, 2, 29), 120, day(2034, 2, 28)),
        (day(2023, 12, 31), 2, day(2024, 2, 29)),
        (day(2023, 11, 30), 3, day(2024, 2, 29)),
        (day(2024, 8, 31), 1, day(2024, 9, 30)),
        (day(2024, 12, 15), 1, day(2025, 1, 15)),
        (day(2024, 1, 15), 0, day(2024, 1, 15)),
    ],
)
def test_add_months(start: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "as_of", "months"),
    [
        (day(2024, 1, 15), day(2024, 1, 1), 0),  # before the start
        (day(2024, 1, 15), day(2024, 1, 15), 0),  # on the start
        (day(2024, 1, 15), day(2024, 2, 14), 0),  # the day before a whole month
        (day(2024, 1, 15), day(2024, 2, 15), 1),  # the day of it
        (day(2024, 1, 15), day(2025, 1, 14), 11),
        (day(2024, 1, 15), day(2025, 1, 15), 12),
        (day(2023, 1, 31), day(2023, 2, 27), 0),
        (day(2023, 1, 31), day(2023, 2, 28), 1),  # the 28th is Feb's last day in 2023
        (day(2024, 1, 31), day(2024, 2, 28), 0),  # …but not in 2024
        (day(2024, 1, 31), day(2024, 2, 29), 1),
        (day(2023, 1, 31), day(2023, 3, 30), 1),
        (day(2023, 1, 31), day(2023, 3, 31), 2),
        (day(2023, 1, 31), day(2023, 4, 30), 3),
        (day(2024, 2, 29), day(2024, 3, 28), 0),
        (day(2024, 2, 29), day(2024, 3, 29), 1),
        (day(2024, 2, 29), day(2025, 2, 27), 11),
        (day(2024, 2, 29), day(2025, 2, 28), 12),
        (day(2024, 2, 29), day(2028, 2, 28), 47),
        (day(2024, 2, 29), day(2028, 2, 29), 48),
        (day(2023, 12, 31), day(2024, 2, 29), 2),
    ],
)
def test_whole_months_between(start: dt.date, as_of: dt.date, months: int) -> None:
    assert whole_months_between(start, as_of) == months


def test_whole_months_agree_with_add_months_every_day_for_years() -> None:
    for start in (day(2023, 1, 31), day(2024, 2, 29), day(2024, 1, 30), day(2024, 3, 1)):
        as_of = start
        while as_of < add_months(start, 50):
            n = whole_months_between(start, as_of)
            assert add_months(start, n) <= as_of < add_months(start, n + 1), (start, as_of, n)
            as_of += dt.timedelta(days=1)


def test_period_ends_from_the_31st() -> None:
    periods = schedule(plan(THREE, "3600.00", "0", day(2023, 1, 31)))
    assert [x.period_end for x in periods[:4]] == [
        day(2023, 2, 28),
        day(2023, 3, 31),
        day(2023, 4, 30),
        day(2023, 5, 31),
    ]
    assert periods[12].period_end == day(2024, 2, 29)
    assert periods[-1].period_end == day(2026, 1, 31)


def test_period_ends_from_a_leap_day() -> None:
    periods = schedule(plan(FIVE, "6000.00", "0", day(2024, 2, 29)))
    assert periods[0].period_end == day(2024, 3, 29)
    assert periods[11].period_end == day(2025, 2, 28)
    assert periods[47].period_end == day(2028, 2, 29)
    assert periods[-1].period_end == day(2029, 2, 28)


# --- the book value on a date ----------------------------------------------------------------


def test_book_value_before_and_on_the_start_is_the_cost() -> None:
    p = plan(THREE, "1200.00", "0", day(2024, 1, 31))
    assert book_value(p, day(2023, 12, 1)) == D("1200.00")
    assert book_value(p, day(2024, 1, 31)) == D("1200.00")


def test_book_value_the_day_before_and_the_day_of_a_whole_month() -> None:
    p = plan(THREE, "1200.00", "0", day(2024, 1, 31))
    assert book_value(p, day(2024, 2, 28)) == D("1200.00")
    assert book_value(p, day(2024, 2, 29)) == D("1166.67")
    assert book_value(p, day(2024, 3, 30)) == D("1166.67")
    assert book_value(p, day(2024, 3, 31)) == D("1133.34")


def test_book_value_from_a_leap_day_start() -> None:
    p = plan(THREE, "3600.00", "0", day(2024, 2, 29))  # 100.00 a month
    assert book_value(p, day(2024, 3, 28)) == D("3600.00")
    assert book_value(p, day(2024, 3, 29)) == D("3500.00")
    assert book_value(p, day(2025, 2, 27)) == D("2500.00")
    assert book_value(p, day(2025, 2, 28)) == D("2400.00")
    assert book_value(p, day(2027, 2, 27)) == D("100.00")
    assert book_value(p, day(2027, 2, 28)) == D("0")


@pytest.mark.parametrize("sched", [THREE, FIVE, TEN])
def test_after_the_useful_life_the_book_value_is_the_salvage(sched: S) -> None:
    p = plan(sched, "1899.00", "150.00", day(2024, 2, 29))
    end = add_months(p.service_start, p.months)
    assert book_value(p, end - dt.timedelta(days=1)) > D("150.00")
    assert book_value(p, end) == D("150.00")
    assert book_value(p, end + dt.timedelta(days=1)) == D("150.00")
    assert book_value(p, day(2100, 1, 1)) == D("150.00")


def test_book_value_never_below_salvage_when_the_rounded_share_overshoots() -> None:
    p = plan(THREE, "10.35", "10.00", day(2024, 1, 1))  # 0.35 / 36 -> 0.01 a month
    for months in range(37):
        assert book_value(p, add_months(p.service_start, months)) >= D("10.00")
    assert book_value(p, add_months(p.service_start, 35)) == D("10.00")
    assert book_value(p, add_months(p.service_start, 36)) == D("10.00")


def _expected_on(periods: list[Period], cost: Decimal, as_of: dt.date) -> Decimal:
    value = cost
    for x in periods:
        if x.period_end <= as_of:
            value = x.book_value
    return value


@pytest.mark.parametrize(
    ("sched", "cost", "salvage", "start"),
    [
        (THREE, "1200.00", "0", day(2023, 1, 31)),
        (THREE, "100.00", "10.00", day(2024, 2, 29)),
        (FIVE, "1899.00", "99.99", day(2024, 2, 29)),
        (THREE, "0.35", "0", day(2024, 5, 31)),
        (TEN, "999.99", "0", day(2023, 8, 30)),
    ],
)
def test_book_value_matches_the_stored_schedule_every_day(
    sched: S, cost: str, salvage: str, start: dt.date
) -> None:
    # What the API answers for a date (book_value) and what it stores (the schedule) must agree.
    p = plan(sched, cost, salvage, start)
    periods = schedule(p)
    as_of = start - dt.timedelta(days=3)
    last = periods[-1].period_end + dt.timedelta(days=3)
    while as_of <= last:
        assert book_value(p, as_of) == _expected_on(periods, D(cost), as_of), as_of
        as_of += dt.timedelta(days=1)
