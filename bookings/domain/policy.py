"""Policy limits on what one request may claim (DESIGN §8a), read from settings at call time.

`BOOKING_MAX_DURATION` bounds a lease's length (a request's duration, and an extension's new
length); `BOOKING_MAX_LEAD` how far ahead of now a lease may start; `BOOKING_MAX_END` how far
ahead the start window may reach and an extension may end. Each setting is an ISO 8601
duration (`P14D`), a number of seconds, or a `timedelta`. `OFFER_HOLDS_PER_USER` caps the
offers one user holds at once. Amounts are bounded by the largest enabled pool of their kind
(`bookings.domain.offer_sets`, which knows the pools).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from bookings.domain.isotime import duration_seconds

# The shape of one request, the same for every interface (API, web form, IVOA).
MAX_COMPONENTS = 32
MAX_REPLICAS = 256  # of one component
MAX_NAME_LENGTH = 200  # a request's (an offer set's) name
MAX_COMPONENT_NAME_LENGTH = 100
MAX_OFFERS = 10  # offers one request may ask for
DEFAULT_OFFERS = 4
# The widest integer a capacity column holds (PostgreSQL `integer`): no amount can exceed it.
MAX_AMOUNT = 2**31 - 1


def limit_seconds(name: str) -> int:
    """The setting `name` as whole seconds."""
    value = getattr(settings, name)
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        seconds = duration_seconds(value)
        if seconds is not None:
            return seconds
    raise ImproperlyConfigured(f"{name} must be an ISO 8601 duration or seconds, not {value!r}")


def max_duration() -> int:
    return limit_seconds("BOOKING_MAX_DURATION")


def latest_start(now: datetime) -> datetime:
    """The latest instant a lease may start at."""
    return now + timedelta(seconds=limit_seconds("BOOKING_MAX_LEAD"))


def horizon(now: datetime) -> datetime:
    """The latest instant a start window may reach and an extension may end at."""
    return now + timedelta(seconds=limit_seconds("BOOKING_MAX_END"))


def holds_per_user() -> int:
    return int(settings.OFFER_HOLDS_PER_USER)


def retry_delay(attempts: int, *, base: int, most: int) -> int:
    """Seconds before try `attempts` + 1 of a failed step: base·2^(attempts-1), at most `most`
    (lease steps, notice deliveries)."""
    return min(base * 2 ** (attempts - 1), most)


def words(seconds: int) -> str:
    """A limit in words: "14 days", "36 hours", "90 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
