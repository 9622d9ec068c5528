"""Leases in any phase, as the lease services would find them."""

from datetime import timedelta

from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import Phase
from bookings.models import Lease, OfferSet


def lease_in(phase: str, owner, pool, *, started: bool = False) -> Lease:
    """A lease in `phase` read back from the database, as a service would lock it."""
    now = timezone.now()
    start = now - timedelta(minutes=5) if started else now + timedelta(hours=1)
    end = start + timedelta(hours=2)
    offer_set = OfferSet.objects.create(owner=owner, request={}, result="YES", expires=end)
    lease = Lease.objects.create(
        offer_set=offer_set,
        owner=owner,
        site=pool.site,
        phase=phase,
        start=start,
        end=end,
        preparation_start=start,
        expires=now + timedelta(minutes=5) if phase == Phase.OFFERED else None,
    )
    lease.allocations.create(pool=pool, cores=1, period=DateTimeTZRange(start, end, "[)"))
    return Lease.objects.get(id=lease.id)
