"""Warranty and support status from end dates (pure functions): none / within / out, the end date
itself, days left and the expiry notices."""

import datetime as dt

import pytest

from shared.domain.lifecycle import (
    Coverage,
    Notice,
    SupportStatus,
    WarrantyStatus,
    coverage,
    support_status,
    warranty_status,
)

TODAY = dt.date(2026, 6, 15)
WARN = 30


def test_status_values_are_the_documented_ones() -> None:
    assert {s.value for s in WarrantyStatus} == {"none", "within_warranty", "out_of_warranty"}
    assert {s.value for s in SupportStatus} == {"none", "within_support", "out_of_support"}
    assert {n.value for n in Notice} == {"nothing", "expiring", "expired"}


def test_no_end_date_is_status_none() -> None:
    cover = coverage(None, TODAY, WARN)
    assert cover == Coverage(None, None, Notice.NOTHING)
    assert warranty_status(cover) is WarrantyStatus.NONE
    assert support_status(cover) is SupportStatus.NONE


def test_end_date_in_the_future_is_within() -> None:
    cover = coverage(dt.date(2027, 6, 15), TODAY, WARN)
    assert cover.covered is True
    assert cover.days_left == 365
    assert cover.notice is Notice.NOTHING
    assert warranty_status(cover) is WarrantyStatus.WITHIN
    assert support_status(cover) is SupportStatus.WITHIN


def test_on_the_end_date_itself_still_covered_with_zero_days_left() -> None:
    # README: "Cover lasts through the end date: on the day itself the asset is still covered
    # with 0 days left."
    cover = coverage(TODAY, TODAY, WARN)
    assert cover.covered is True
    assert cover.days_left == 0
    assert warranty_status(cover) == "within_warranty"
    assert support_status(cover) == "within_support"
    # still within the warning window: an expiring notice, not an expired one
    assert cover.notice is Notice.EXPIRING


def test_the_day_after_the_end_date_is_out() -> None:
    cover = coverage(TODAY - dt.timedelta(days=1), TODAY, WARN)
    assert cover.covered is False
    assert cover.days_left == -1
    assert cover.notice is Notice.EXPIRED
    assert warranty_status(cover) == "out_of_warranty"
    assert support_status(cover) == "out_of_support"


def test_long_expired_is_out_with_negative_days_left() -> None:
    cover = coverage(dt.date(2020, 1, 1), TODAY, WARN)
    assert cover.covered is False
    assert cover.days_left == (dt.date(2020, 1, 1) - TODAY).days
    assert cover.days_left is not None and cover.days_left < -2000
    assert cover.notice is Notice.EXPIRED


def test_the_day_before_the_end_date_has_one_day_left() -> None:
    cover = coverage(TODAY + dt.timedelta(days=1), TODAY, WARN)
    assert (cover.covered, cover.days_left, cover.notice) == (True, 1, Notice.EXPIRING)


@pytest.mark.parametrize(
    ("days_ahead", "notice"),
    [
        (0, Notice.EXPIRING),
        (1, Notice.EXPIRING),
        (29, Notice.EXPIRING),
        (30, Notice.EXPIRING),
        (31, Notice.NOTHING),
        (400, Notice.NOTHING),
    ],
)
def test_expiring_window_is_inclusive_of_warn_days(days_ahead: int, notice: Notice) -> None:
    cover = coverage(TODAY + dt.timedelta(days=days_ahead), TODAY, WARN)
    assert cover.days_left == days_ahead
    assert cover.covered is True
    assert cover.notice is notice


def test_warn_days_zero_only_warns_on_the_last_day() -> None:
    assert coverage(TODAY, TODAY, 0).notice is Notice.EXPIRING
    assert coverage(TODAY + dt.timedelta(days=1), TODAY, 0).notice is Notice.NOTHING


def test_days_left_across_a_leap_day() -> None:
    cover = coverage(dt.date(2024, 3, 1), dt.date(2024, 2, 28), WARN)
    assert cover.days_left == 2
    cover = coverage(dt.date(2023, 3, 1), dt.date(2023, 2, 28), WARN)
    assert cover.days_left == 1


def test_days_left_across_a_year_end() -> None:
    assert coverage(dt.date(2027, 1, 1), dt.date(2026, 12, 31), WARN).days_left == 1
    assert coverage(dt.date(2026, 12, 31), dt.date(2027, 1, 1), WARN).days_left == -1


def test_status_depends_only_on_whether_covered() -> None:
    assert warranty_status(Coverage(True, 5, Notice.EXPIRING)) is WarrantyStatus.WITHIN
    assert warranty_status(Coverage(False, -5, Notice.EXPIRED)) is WarrantyStatus.OUT
    assert support_status(Coverage(True, 500, Notice.NOTHING)) is SupportStatus.WITHIN
    assert support_status(Coverage(False, -1, Notice.EXPIRED)) is SupportStatus.OUT
