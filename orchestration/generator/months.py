"""Reporting-month arithmetic on 'YYYY-MM' strings, the unit every delivery is named by."""

from __future__ import annotations

import calendar
import datetime as dt


def month_of(day: dt.date) -> str:
    """The reporting month a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def month_start(month: str) -> dt.date:
    year, mon = int(month[:4]), int(month[5:7])
    return dt.date(year, mon, 1)


def month_end(month: str) -> dt.date:
    """The last day of the month: a snapshot holds everything started on or before it."""
    year, mon = int(month[:4]), int(month[5:7])
    return dt.date(year, mon, calendar.monthrange(year, mon)[1])


def add_months(month: str, count: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    serial = year * 12 + (mon - 1) + count
    return f"{serial // 12:04d}-{serial % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from first to last inclusive (empty when last is before first)."""
    months = []
    current = first
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def age_on(birth: dt.date, day: dt.date) -> int:
    """Age in whole years, the way the contract's 'age at start' is meant."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
