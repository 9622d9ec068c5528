"""Allocations in every phase, written straight through the ORM (no guard, so some pools are
over capacity): what each hand-written statement must select exactly as its ORM twin does."""

import itertools
from datetime import timedelta

import pytest
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import Phase
from bookings.models import Allocation, Lease, OfferSet
from resources.domain.capacity_file import capacity_file_load
from resources.models import CapacityChange, Pool
from tests.bookings.loads import one_site

POOLS = ["edi-a", "edi-b"]


@pytest.fixture
def every_phase(db, user):
    """Per phase two leases (an offer: one with a live hold, one lapsed), each with one
    allocation on every pool, at staggered times; returns (pools, offer sets, now)."""
    capacity_file_load(data=one_site(POOLS, {"cores": 16, "memory_gib": 64}))
    pools = list(Pool.objects.select_related("site").order_by("slug"))
    now = timezone.now().replace(microsecond=250_000)
    CapacityChange.objects.create(
        pool=pools[0], start=now + timedelta(hours=2), end=now + timedelta(hours=5), cores=4
    )
    CapacityChange.objects.create(pool=pools[1], start=now + timedelta(hours=30), memory_gib=8)
    sets = [
        OfferSet.objects.create(
            owner=user, request={}, result="YES", expires=now + timedelta(minutes=10)
        )
        for _ in range(2)
    ]
    hours = itertools.count()
    for phase, live in itertools.product(Phase, (True, False)):
        start = now + timedelta(hours=next(hours) % 9 - 2, microseconds=1)
        end = start + timedelta(hours=3, microseconds=500_001)
        lease = Lease.objects.create(
            offer_set=sets[live],
            owner=user,
            phase=phase,
            site=pools[0].site,
            start=start,
            end=end,
            preparation_start=start,
            expires=now + (timedelta(minutes=5) if live else -timedelta(seconds=1)),
        )
        for rank, pool in enumerate(pools):
            Allocation.objects.create(
                lease=lease,
                pool=pool,
                replica=rank,
                period=DateTimeTZRange(start, end, "[)"),
                cores=6 + rank,
                memory_gib=8 * (rank + 1),
            )
    return pools, sets, now
