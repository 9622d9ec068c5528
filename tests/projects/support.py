"""Requests and oracles for the fair-share tests, written without the code under test."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Sum
from django.utils import timezone

from bookings.domain.isotime import iso
from bookings.models import Lease
from projects.models import LedgerEntry, SUAllocation


def job(
    cores: int = 4,
    hours: float = 2,
    *,
    start_in: timedelta = timedelta(hours=1),
    window: timedelta = timedelta(hours=1),
    **extra,
) -> dict:
    start = timezone.now() + start_in
    return {
        "name": "job",
        "components": [{"name": "c", "kind": "compute", "amounts": {"cores": cores}}],
        "duration": f"PT{int(hours * 60)}M",
        "start": f"{iso(start)}/{iso(start + window)}",
        "max_offers": 1,
        **extra,
    }


def su(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def core_hours(lease, per_core_hour=1) -> Decimal:
    """The oracle: cores x hours of each allocation (preparation included) at the rate."""
    total = Fraction(0)
    for a in lease.allocations.all():
        total += Fraction(a.cores) * Fraction(int((a.end - a.start).total_seconds()), 3600)
    return su(Decimal(total.numerator) / Decimal(total.denominator) * per_core_hour)


def left(project) -> Decimal:
    allocated = SUAllocation.objects.filter(project=project).aggregate(s=Sum("su"))["s"]
    spent = LedgerEntry.objects.filter(project=project).aggregate(s=Sum("su"))["s"] or 0
    return su(allocated - spent)


def shifted(lease, delta: timedelta, **fields) -> None:
    """Move a lease and its allocations by `delta` (setting `fields` too), as if booked
    earlier: the tests' way to have a lease that has started."""
    Lease.objects.filter(id=lease.id).update(
        start=lease.start + delta,
        end=lease.end + delta,
        preparation_start=lease.preparation_start + delta,
        **fields,
    )
    for a in lease.allocations.all():
        a.period = DateTimeTZRange(a.start + delta, a.end + delta, "[)")
        a.save(update_fields=["period"])
