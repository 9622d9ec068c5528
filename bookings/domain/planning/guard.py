"""The one guard every capacity-consuming write goes through (DESIGN §4).

In one transaction: lock the affected pool rows in ascending id order (`SELECT … FOR
UPDATE`), recompute their load over the affected interval from the database, check, write,
commit. Two writers touching a common pool are therefore serialised, and each sees the
other's committed allocations: the capacity invariant cannot be broken by any interleaving.
The engine runs outside the lock; only the cheap re-verification runs under it.
"""

from collections.abc import Iterable

from django.db import connection

from bookings.domain.inventory import instant
from bookings.domain.planning.load import engine_load, engine_loads, load_params
from bookings.domain.planning.pools import engine_pools_cached, pools_by_slug
from bookings.domain.sql.locks import POOLS, POOLS_THEN_LOAD
from resources.models import Pool
from scheduler import engine


def lock_pools(slugs: Iterable[str]) -> dict[str, Pool]:
    """Lock the named pools (ascending id, so lockers never deadlock); return them by slug.

    The rows are locked with one hand-written query; the pools themselves (site, capacity
    changes) come from this process's cache, validated by the generation read after the lock."""
    slugs = sorted(set(slugs))
    with connection.cursor() as cursor:
        cursor.execute(POOLS, {"slugs": slugs})
    return pools_by_slug(slugs)


def lock_offers(offers: list[engine.Offer]) -> tuple[dict[str, Pool], list[engine.Offer]]:
    """`lock_pools` for the offers' pools, then `offers_still_fitting`, in one round trip
    (sql.locks.POOLS_THEN_LOAD: the lock, the pools generation, the load)."""
    if not offers:
        return {}, []
    slugs = sorted({g.pool for o in offers for g in o.grants})
    start = instant(min(g.start for o in offers for g in o.grants))
    end = instant(max(g.end for o in offers for g in o.grants))
    with connection.cursor() as cursor:
        cursor.execute(POOLS_THEN_LOAD, load_params(slugs=slugs, start=start, end=end))
        cursor.nextset()
        (generation,) = cursor.fetchone()
        cursor.nextset()
        rows = cursor.fetchall()
    pools = pools_by_slug(slugs, generation=generation)
    load = engine_loads(rows, {pool.id: slug for slug, pool in pools.items()})
    return pools, offers_still_fitting(offers=offers, pools=pools, load=load)


def offers_still_fitting(
    *, offers: list[engine.Offer], pools: dict[str, Pool], exclude_lease=None, load=None
) -> list[engine.Offer]:
    """The offers that fit the load committed now; call with `pools` locked by `lock_pools`.

    Offers of one answer never share a pool at overlapping times, so each is checked on its
    own, against one load query over all of them.
    """
    if not offers:
        return []
    start = instant(min(g.start for o in offers for g in o.grants))
    end = instant(max(g.end for o in offers for g in o.grants))
    if load is None:
        load = engine_load(pools=pools.values(), start=start, end=end, exclude_lease=exclude_lease)
    epools = engine_pools_cached(pools.values())
    return [
        o
        for o in offers
        if all(g.pool in pools for g in o.grants)  # a pool vanished or was disabled meanwhile
        and engine.fits(pools=epools, load=load, offer=o)
    ]


def offer_fits(*, offer: engine.Offer, pools: dict[str, Pool], exclude_lease=None) -> bool:
    """Does `offer` fit the load committed now? Call with `pools` locked by `lock_pools`."""
    return bool(offers_still_fitting(offers=[offer], pools=pools, exclude_lease=exclude_lease))
