"""The one guard every capacity-consuming write goes through (DESIGN §4).

In one transaction: lock the affected pool rows in ascending id order (`SELECT … FOR
UPDATE`), recompute their load over the affected interval from the database, check, write,
commit. Two writers touching a common pool are therefore serialised, and each sees the
other's committed allocations: the capacity invariant cannot be broken by any interleaving.
The engine runs outside the lock; only the cheap re-verification runs under it.
"""

from collections.abc import Iterable

from bookings.domain.inventory import engine_load, engine_pools, instant
from resources.models import Pool
from scheduler import engine


def lock_pools(slugs: Iterable[str]) -> dict[str, Pool]:
    """Lock the named pools (ascending id, so lockers never deadlock); return them by slug."""
    pools = (
        Pool.objects.select_for_update(of=("self",))
        .filter(slug__in=set(slugs))
        .select_related("site")
        .prefetch_related("capacity_changes")
        .order_by("id")
    )
    return {pool.slug: pool for pool in pools}


def offers_still_fitting(
    *, offers: list[engine.Offer], pools: dict[str, Pool], exclude_lease=None
) -> list[engine.Offer]:
    """The offers that fit the load committed now; call with `pools` locked by `lock_pools`.

    Offers of one answer never share a pool at overlapping times, so each is checked on its
    own, against one load query over all of them.
    """
    if not offers:
        return []
    start = instant(min(g.start for o in offers for g in o.grants))
    end = instant(max(g.end for o in offers for g in o.grants))
    load = engine_load(pools=pools.values(), start=start, end=end, exclude_lease=exclude_lease)
    epools = engine_pools(pools.values())
    return [
        o
        for o in offers
        if all(g.pool in pools for g in o.grants)  # a pool vanished or was disabled meanwhile
        and engine.fits(pools=epools, load=load, offer=o)
    ]


def offer_fits(*, offer: engine.Offer, pools: dict[str, Pool], exclude_lease=None) -> bool:
    """Does `offer` fit the load committed now? Call with `pools` locked by `lock_pools`."""
    return bool(offers_still_fitting(offers=[offer], pools=pools, exclude_lease=exclude_lease))
