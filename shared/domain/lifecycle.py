"""Warranty and support status from end dates and today (pure functions)."""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class WarrantyStatus(StrEnum):
    NONE = "none"
    WITHIN = "within_warranty"
    OUT = "out_of_warranty"


class SupportStatus(StrEnum):
    NONE = "none"
    WITHIN = "within_support"
    OUT = "out_of_support"


class Notice(StrEnum):
    """What a coverage end calls for today."""

    NOTHING = "nothing"
    EXPIRING = "expiring"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Coverage:
    """One kind of cover (warranty or support) as of a day."""

    covered: bool | None  # None: no end date known
    days_left: int | None
    notice: Notice


def coverage(end: dt.date | None, today: dt.date, warn_days: int) -> Coverage:
    """Cover lasts through its end date: on the day itself it is still covered, with 0 days left."""
    if end is None:
        return Coverage(None, None, Notice.NOTHING)
    days_left = (end - today).days
    if days_left < 0:
        return Coverage(False, days_left, Notice.EXPIRED)
    return Coverage(True, days_left, Notice.EXPIRING if days_left <= warn_days else Notice.NOTHING)


def warranty_status(cover: Coverage) -> WarrantyStatus:
    if cover.covered is None:
        return WarrantyStatus.NONE
    return WarrantyStatus.WITHIN if cover.covered else WarrantyStatus.OUT


def support_status(cover: Coverage) -> SupportStatus:
    if cover.covered is None:
        return SupportStatus.NONE
    return SupportStatus.WITHIN if cover.covered else SupportStatus.OUT
