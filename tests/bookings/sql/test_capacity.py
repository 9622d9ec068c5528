"""`pools_over_capacity` (sql.capacity) finds what a brute force over the ORM's counting
allocations and capacity changes finds."""

import pytest

from bookings.domain.planning.capacity import pools_over_capacity
from bookings.domain.planning.load import counts_as_load
from bookings.models import Allocation
from resources.choices import DIMENSIONS
from resources.models import CapacityChange, Pool
from tests.bookings.loads import frozen

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def brute_force(now, pool_ids=None) -> list[dict]:
    allocations = list(Allocation.objects.filter(counts_as_load(now)))
    changes = list(CapacityChange.objects.all())
    pools = {p.id: p for p in Pool.objects.all()}
    loaded = {a.pool_id for a in allocations}
    points = {
        (a.pool_id, a.period.lower)
        for a in allocations
        if pool_ids is None or a.pool_id in pool_ids
    }
    points |= {(c.pool_id, c.start) for c in changes if c.pool_id in loaded}
    points |= {(c.pool_id, c.end) for c in changes if c.end and c.pool_id in loaded}
    found = []
    for pool_id, t in sorted(points):
        covering = [
            a for a in allocations if a.pool_id == pool_id and a.period.lower <= t < a.period.upper
        ]
        if not covering:
            continue
        for dim in DIMENSIONS:
            load = sum(getattr(a, dim) for a in covering)
            cover = [
                c
                for c in changes
                if c.pool_id == pool_id
                and getattr(c, dim) is not None
                and c.start <= t
                and (c.end is None or c.end > t)
            ]
            capacity = (
                getattr(max(cover, key=lambda c: (c.start, c.id)), dim)
                if cover
                else getattr(pools[pool_id], dim)
            )
            if load > capacity:
                found.append(
                    {
                        "pool": pools[pool_id].slug,
                        "at": t,
                        "dimension": dim,
                        "load": load,
                        "capacity": capacity,
                    }
                )
    return found


def test_over_capacity_is_the_orm_rule(every_phase):
    pools, _, now = every_phase
    with frozen(now):
        everywhere = pools_over_capacity()
        assert everywhere == brute_force(now)
        assert {v["pool"] for v in everywhere} == {p.slug for p in pools}
        first = [pools[0].id]
        assert pools_over_capacity(pool_ids=first) == brute_force(now, set(first))
