"""Helpers of the capacity tests: whole hours from now, and booking through the service."""

from datetime import datetime, timedelta

from django.utils import timezone

from bookings.domain.isotime import iso
from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create

HOUR = timedelta(hours=1)


def hour(n: float) -> datetime:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=n)


def book(owner, *, at: float, hours: float, cores: int, flex=None, name="job", pool=None):
    """Book through the service: ask, accept the first offer (which must start at `at`)."""
    data = {
        "name": name,
        "components": [{"name": "c", "kind": "compute", "amounts": {"cores": cores}}],
        "duration": f"PT{int(hours * 60)}M",
        "start": iso(hour(at)),
        "site": "edi",
        "max_offers": 1,
    }
    if flex is not None:
        data["flex"] = flex
    offers = offer_set_create(owner=owner, data=data)
    lease = offers.leases.get()
    assert lease.start == hour(at), offers.messages
    if pool is not None:
        assert lease.allocations.get().pool.slug == pool
    return lease_accept(lease_id=lease.id, user=owner)
