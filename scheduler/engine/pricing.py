"""Prices in service units (SU): what an offer costs at its pools' rates (fair share, DESIGN §8a).

A grant of ``amounts`` on a pool over [start, end) costs, per dimension, amount * rate * hours,
and ``peak_factor`` times that for the part of [start, end) that falls in the pool's peak hours
(local time of ``Rate.zone``). Preparation is included: a grant's interval begins at its
preparation. Arithmetic is exact (``Fraction``); a total is rounded half up to 0.01 SU once,
so that a refund (the cost of what was booked less the cost of what is kept) is exact too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from .model import Grant, Offer, Rate

CENT = Decimal("0.01")


def rounded(value: Fraction | Decimal | int) -> Decimal:
    """An exact amount of SU rounded half up to the cent."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def peak_seconds(rate: Rate, start: int, end: int) -> int:
    """How many seconds of [start, end) fall in the rate's peak hours."""
    if rate.peak_factor == 1 or rate.peak_start == rate.peak_end or start >= end:
        return 0
    zone = _zone(rate.zone)
    day = datetime.fromtimestamp(start, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, UTC).astimezone(zone).date()
    total = 0
    while day <= last:
        if day.weekday() in rate.peak_weekdays:
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            for a, b in _windows(rate.peak_start, rate.peak_end):
                lo = int((midnight + timedelta(minutes=a)).timestamp())
                hi = int((midnight + timedelta(minutes=b)).timestamp())
                total += max(0, min(end, hi) - max(start, lo))
        day += timedelta(days=1)
    return total


def _windows(first: int, last: int) -> list[tuple[int, int]]:
    """Peak minutes of one day as intervals; a window past midnight (22:00 to 06:00) runs into
    the next day."""
    if first < last:
        return [(first, last)]
    return [(first, 24 * 60 + last)]


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def grant_cost(
    grant: Grant, rate: Rate | None, *, start: int | None = None, end: int | None = None
) -> Fraction:
    """The exact cost of ``grant`` (clipped to [start, end) if given) at ``rate``."""
    if rate is None:
        return Fraction(0)
    lo = grant.start if start is None else max(grant.start, start)
    hi = grant.end if end is None else min(grant.end, end)
    if lo >= hi:
        return Fraction(0)
    per_second = (
        sum(
            (Fraction(rate.per_hour.get(dim, 0)) * amount for dim, amount in grant.amounts.items()),
            Fraction(0),
        )
        / 3600
    )
    if not per_second:
        return Fraction(0)
    peak = peak_seconds(rate, lo, hi)
    return per_second * ((hi - lo - peak) + Fraction(rate.peak_factor) * peak)


def grants_cost(
    grants: Iterable[Grant],
    rates: Mapping[str, Rate],
    *,
    start: int | None = None,
    end: int | None = None,
) -> Decimal:
    """What ``grants`` cost at ``rates`` (pool → rate), rounded to the cent once."""
    return rounded(
        sum((grant_cost(g, rates.get(g.pool), start=start, end=end) for g in grants), Fraction(0))
    )


def offer_cost(offer: Offer, rates: Mapping[str, Rate]) -> Decimal:
    return grants_cost(offer.grants, rates)
