"""Dates and moments as the API reads them: a calendar date is YYYY-MM-DD, a moment has a UTC."""

import datetime as dt
import re

_FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def full_date(text: str) -> dt.date | None:
    """The date a YYYY-MM-DD text names (JSON Schema's `date`); None for anything else, such as
    the basic format `20260331` or the week date `2026-W14-2` that Python would also take."""
    if not _FULL_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


def in_utc(moment: dt.datetime) -> dt.datetime:
    """The moment in UTC; a ValueError naming the problem when that falls outside years 1-9999
    (9999-12-31T23:59:59-14:00 is a valid ISO 8601 text, but no moment PostgreSQL is given)."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("is out of range: in UTC it falls outside the years 1 to 9999") from exc
