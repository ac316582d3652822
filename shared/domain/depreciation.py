"""Straight-line depreciation: monthly schedules and the book value on a date (pure functions)."""

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, Protocol

from shared.domain.models import DepreciationSchedule

USEFUL_LIFE_YEARS: dict[DepreciationSchedule, int] = {
    DepreciationSchedule.THREE_YEAR: 3,
    DepreciationSchedule.FIVE_YEAR: 5,
    DepreciationSchedule.TEN_YEAR: 10,
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class DepreciationPlan:
    """What a schedule is computed from."""

    schedule: DepreciationSchedule
    original_cost: Decimal
    salvage_value: Decimal
    service_start: dt.date

    @property
    def months(self) -> int:
        return 12 * USEFUL_LIFE_YEARS[self.schedule]

    @property
    def depreciable(self) -> Decimal:
        return max(self.original_cost - self.salvage_value, Decimal(0))

    @property
    def monthly(self) -> Decimal:
        """Each whole month's share, (cost - salvage) / (12 x years), to the cent."""
        return (self.depreciable / self.months).quantize(CENT, rounding=ROUND_HALF_UP)


class Period(NamedTuple):
    """One month of a schedule (a named tuple: a schedule makes up to 120 of them at once)."""

    period: int
    period_end: dt.date
    depreciation: Decimal
    accumulated: Decimal
    book_value: Decimal


def plan_for(
    schedule: DepreciationSchedule | None,
    original_cost: Decimal | None,
    salvage_value: Decimal | None,
    service_start: dt.date | None,
    purchase_date: dt.date | None,
) -> DepreciationPlan | None:
    """A plan, or None when nothing is computed (`other`, no schedule, no cost or no start)."""
    start = service_start or purchase_date
    if schedule is None or schedule not in USEFUL_LIFE_YEARS or original_cost is None or start is None:
        return None
    return DepreciationPlan(schedule, original_cost, salvage_value or Decimal(0), start)


class Costed(Protocol):
    """What an asset (or the asset in an event) holds that its plan is made from."""

    @property
    def depreciation_schedule(self) -> DepreciationSchedule | None: ...
    @property
    def purchase_price(self) -> Decimal | None: ...
    @property
    def estimated_salvage_value(self) -> Decimal | None: ...
    @property
    def service_start_date(self) -> dt.date | None: ...
    @property
    def purchase_date(self) -> dt.date | None: ...


def plan_of(asset: Costed) -> DepreciationPlan | None:
    """The plan of an asset's own fields (see `plan_for`)."""
    return plan_for(
        asset.depreciation_schedule,
        asset.purchase_price,
        asset.estimated_salvage_value,
        asset.service_start_date,
        asset.purchase_date,
    )


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(start: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day when it is shorter (Jan 31 + 1 = Feb 28/29)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = start.day
    if day > 28:  # every month has the 28th
        last = 29 if month == 2 and calendar.isleap(year) else _DAYS_IN_MONTH[month - 1]
        day = min(day, last)
    return dt.date(year, month, day)


def fits_the_calendar(plan: DepreciationPlan) -> bool:
    """Whether the plan's last month ends by 9999-12-31, the last date there is."""
    try:
        add_months(plan.service_start, plan.months)
    except ValueError:  # year 10000 is out of range
        return False
    return True


def whole_months_between(start: dt.date, as_of: dt.date) -> int:
    """How many whole months have passed from `start` to `as_of` (0 before or on the start)."""
    if as_of <= start:
        return 0
    months = (as_of.year - start.year) * 12 + (as_of.month - start.month)
    while months > 0 and add_months(start, months) > as_of:
        months -= 1
    return months


def book_values(plan: DepreciationPlan) -> list[Decimal]:
    """The book value at the end of every month of the useful life: each month takes the monthly
    share, the last month the rounding, so that the schedule ends exactly at the salvage value."""
    months, monthly, depreciable, cost = plan.months, plan.monthly, plan.depreciable, plan.original_cost
    values = []
    accumulated = Decimal(0)
    for n in range(1, months + 1):
        amount = monthly if n < months else depreciable - accumulated
        accumulated += min(amount, depreciable - accumulated)
        values.append(cost - accumulated)
    return values


def months_of(original_cost: Decimal, service_start: dt.date, values: Sequence[Decimal]) -> list[Period]:
    """A schedule's months from its book values: each month's end, its depreciation (the fall
    from the month before) and the accumulated depreciation (cost less book value)."""
    months, before = [], original_cost
    for n, value in enumerate(values, start=1):
        months.append(Period(n, add_months(service_start, n), before - value, original_cost - value, value))
        before = value
    return months


def schedule(plan: DepreciationPlan) -> list[Period]:
    """Every month of the useful life (see book_values)."""
    return months_of(plan.original_cost, plan.service_start, book_values(plan))


def book_value(plan: DepreciationPlan, as_of: dt.date) -> Decimal:
    """Cost less the whole months elapsed, never below the salvage value."""
    elapsed = min(whole_months_between(plan.service_start, as_of), plan.months)
    if elapsed == plan.months:
        return min(plan.salvage_value, plan.original_cost)
    value = plan.original_cost - plan.monthly * elapsed
    return max(value, min(plan.salvage_value, plan.original_cost))
