"""ISO 8601 instants and durations as the service reads and writes them.

Nothing here overflows: a duration is counted in whole seconds (an unbounded int) before it
becomes a `timedelta`, and an instant that cannot be represented in UTC is no instant.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.parser import isoparser

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_UNIT_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
# More digits than any meaningful duration has; longer strings are not parsed at all (an int
# of thousands of digits costs quadratic time and trips Python's int-string limit).
_MAX_DURATION_CHARS = 64


def duration_seconds(value: Any) -> int | None:
    """An ISO 8601 duration without years or months (their length varies) — P1DT2H, PT90M —
    as whole seconds, however large; None if `value` is not one."""
    if not isinstance(value, str) or len(value) > _MAX_DURATION_CHARS:
        return None
    match = _DURATION.match(value.strip().upper())
    if not match:
        return None
    return sum(int(v) * _UNIT_SECONDS[k] for k, v in match.groupdict().items() if v)


def parse_duration(value: Any) -> timedelta | None:
    """`duration_seconds` as a timedelta; None if not a duration or longer than a timedelta
    can be (about 2.7 million years): compare with a limit before doing arithmetic with it."""
    seconds = duration_seconds(value)
    if seconds is None or seconds > _MAX_TIMEDELTA_SECONDS:
        return None
    return timedelta(seconds=seconds)


_MAX_TIMEDELTA_SECONDS = int(timedelta.max.total_seconds())


def parse_instant(value: Any) -> datetime | None:
    """A strict ISO 8601 date-time with a zone (dateutil's isoparse), in UTC; else None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = isoparser().isoparse(value.strip())
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def iso(value: datetime) -> str:
    """An instant as ISO 8601 in UTC with `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_iso(value: str) -> datetime:
    """An instant this service wrote (`iso`, stored JSON, its own messages) read back; a
    ValueError for anything else. Input from outside goes through `parse_instant`."""
    return datetime.fromisoformat(value)


# Python's datetimes end at 9999-12-31: an instant within a day of either limit cannot be
# converted to a zone ahead of (or behind) UTC. Older databases hold leases ending in 9999, so
# what is shown to people is clamped to [FIRST_SHOWN, LAST_SHOWN] (the pages, the notices).
FIRST_SHOWN = datetime(1, 1, 3, tzinfo=UTC)
LAST_SHOWN = datetime(9999, 12, 29, tzinfo=UTC)


def shown(value: datetime | None) -> datetime | None:
    """`value`, clamped to the instants every zone can show."""
    if value is None:
        return None
    return min(max(value, FIRST_SHOWN), LAST_SHOWN)
