"""Instants every page can show, whatever the user's zone.

Python's datetimes end at 9999-12-31: an instant within a day of either limit cannot be
converted to a zone ahead of (or behind) UTC, nor moved by a day. Older databases hold leases
ending in 9999 (before the booking horizon existed), so the pages clamp what they show to
[FIRST_SHOWN, LAST_SHOWN] instead of computing past the limits.
"""

from datetime import datetime, timedelta

from bookings.domain.isotime import FIRST_SHOWN, LAST_SHOWN, shown

__all__ = ["FIRST_SHOWN", "LAST_SHOWN", "shifted", "showable", "shown", "utc_offset"]


def shifted(value: datetime, delta: timedelta) -> datetime:
    """`value + delta`, clamped like `shown` (never an OverflowError)."""
    try:
        return shown(value + delta)
    except OverflowError:
        return LAST_SHOWN if delta > timedelta(0) else FIRST_SHOWN


def showable(value: datetime) -> bool:
    """Whether a typed instant is one the pages can show and the domain can compute with."""
    return FIRST_SHOWN <= value <= LAST_SHOWN


def utc_offset(moment: datetime) -> str:
    """The offset of an aware instant as EventCalendar's `timeZone` takes it: "+13:45"."""
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
