"""Times as Swedish readers expect them: the warehouse keeps UTC (file modification times,
run times); every report and view shows Swedish local time (Europe/Stockholm, summer time
included)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SWEDEN = ZoneInfo("Europe/Stockholm")


def swedish(moment: dt.datetime | None) -> dt.datetime | None:
    """A naive UTC (or any aware) time as naive Swedish local time; None stays None."""
    if moment is None or moment != moment:          # None or NaT
        return None
    if hasattr(moment, "to_pydatetime"):
        moment = moment.to_pydatetime()
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(SWEDEN).replace(tzinfo=None)


def shown(moment: dt.datetime | None, seconds: bool = False) -> str:
    """`2017-01-05 11:11` in Swedish local time, or '' when there is none."""
    local = swedish(moment)
    if local is None:
        return ""
    return f"{local:%Y-%m-%d %H:%M:%S}" if seconds else f"{local:%Y-%m-%d %H:%M}"


def swedish_date(moment: dt.datetime | None) -> dt.date | None:
    local = swedish(moment)
    return None if local is None else local.date()
