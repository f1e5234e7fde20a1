"""Turn the text of a cell into a typed value the way the contract reads it."""

from __future__ import annotations

import datetime as dt
import re

from orchestration.lib.contract import normalise_code

_DATE_FORMATS = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$"), None),
)


def parse_date(text: str) -> tuple[dt.date | None, bool]:
    """(date, True) for a valid date, (None, True) for a blank cell, (None, False) for junk."""
    text = text.strip()
    if not text:
        return None, True
    for pattern, date_format in _DATE_FORMATS:
        if pattern.match(text):
            try:
                if date_format is None:
                    return dt.datetime.fromisoformat(text.replace("T", " ")).date(), True
                return dt.datetime.strptime(text, date_format).date(), True
            except ValueError:
                return None, False
    return None, False


def parse_code(text: str) -> str | None:
    """A code in canonical form, or None for a blank cell."""
    text = text.strip()
    return normalise_code(text) if text else None


def month_end(reporting_month: str) -> dt.date:
    """The last day of a YYYY-MM month."""
    year, month = int(reporting_month[:4]), int(reporting_month[5:7])
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)
