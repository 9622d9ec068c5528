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


def offer_fits(*, offer: engine.Offer, pools: dict[str, Pool], exclude_lease=None) -> bool:
    """Does `offer` fit the load committed now? Call with `pools` locked by `lock_pools`."""
    used = [pools[g.pool] for g in offer.grants if g.pool in pools]
    if len(used) != len(offer.grants):
        return False  # a pool vanished or was disabled meanwhile
    start = min(g.start for g in offer.grants)
    end = max(g.end for g in offer.grants)
    load = engine_load(
        pools=set(used), start=instant(start), end=instant(end), exclude_lease=exclude_lease
    )
    return engine.fits(pools=engine_pools(set(used)), load=load, offer=offer)
