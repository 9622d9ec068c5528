"""Helpers of the load tests: the ORM twin of every load statement, and loads as comparable
keys (pool, start, end, non-zero amounts)."""

import math
from collections import Counter

from django.utils import timezone

from bookings.domain.planning.load import counting_allocations
from resources.choices import DIMENSIONS


def one_site(slugs, capacity: dict) -> dict:
    """A capacity file of one site, Edinburgh, with compute pools `slugs` of `capacity`."""
    return {
        "sites": [{"slug": "edi", "name": "Edinburgh", "timezone": "UTC"}],
        "pools": [
            {
                "slug": slug,
                "site": "edi",
                "kind": "compute",
                "capacity": capacity,
                "adapter": "simulated",
            }
            for slug in slugs
        ],
    }


def key(pool: str, start: int, end: int, amounts) -> tuple:
    return (pool, start, end, tuple(sorted((d, int(v)) for d, v in amounts if v)))


def keys(loads) -> Counter:
    """Engine loads as keys."""
    return Counter(key(x.pool, x.start, x.end, x.amounts.items()) for x in loads)


def columns_keys(columns) -> Counter:
    """The copy's PoolLoads as the keys of the equivalent Loads."""
    return Counter(
        key(
            block.pool,
            int(block.starts[i]),
            int(block.ends[i]),
            ((d, v[i]) for d, v in block.amounts.items()),
        )
        for block in columns
        for i in range(len(block.starts))
    )


def row_keys(rows, slug_of: dict[int, str]) -> Counter:
    """Rows of sql.load.LOAD as keys."""
    return Counter(
        key(slug_of[pool_id], lo, hi, zip(DIMENSIONS, amounts, strict=True))
        for pool_id, lo, hi, *amounts in rows
    )


def orm_keys(pools, start, end, *, exclude_lease=None, exclude_offer_set=None) -> Counter:
    """What the ORM form of the rule selects, as keys (bounds floored to seconds)."""
    rows = counting_allocations(
        pool_ids=[p.id for p in pools], start=start, end=end, exclude_lease=exclude_lease
    )
    if exclude_offer_set is not None:
        rows = rows.exclude(lease__offer_set=exclude_offer_set)
    return Counter(
        key(
            slug,
            math.floor(period.lower.timestamp()),
            math.floor(period.upper.timestamp()),
            zip(DIMENSIONS, amounts, strict=True),
        )
        for slug, period, *amounts in rows.values_list("pool__slug", "period", *DIMENSIONS)
    )


class frozen:
    """The domain reads timezone.now() for the hold rule: pin it to `now`."""

    def __init__(self, now):
        self.now = now

    def __enter__(self):
        self.original = timezone.now
        timezone.now = lambda: self.now

    def __exit__(self, *exc):
        timezone.now = self.original
