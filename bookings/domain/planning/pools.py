"""What a plan starts from: the pools (cached per process under the pools generation) and the
load (from the process's copy when it is current).

The pools generation (migration 0008) changes with every pool, site or capacity-change write,
so an unchanged generation means the same rows: this process then reuses its model instances
and engine pools instead of two queries, 32 instances and 32 adapters per offer set. The
generation is read before the rows, so rows read after a concurrent change are cached under
the older generation and never reused.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from adapters import ADAPTER_NAMES
from bookings.domain.inventory import eligible_pools, engine_pools
from bookings.domain.planning.cache import load_cache
from bookings.domain.planning.load import engine_load
from bookings.domain.sql.load import POOLS_GENERATION
from resources.models import Pool

_planning_cache: dict = {"generation": None, "entries": {}, "engine": {}}


def _pools_generation():
    with connection.cursor() as cursor:
        cursor.execute(POOLS_GENERATION)
        (generation,) = cursor.fetchone()
    return generation


def _current_cache(generation=None) -> dict:
    """This process's pool cache, emptied if the pools generation moved on (read now unless
    the caller just read it)."""
    generation = generation or _pools_generation()
    global _planning_cache
    if _planning_cache["generation"] != generation:
        _planning_cache = {"generation": generation, "entries": {}, "engine": {}}
    return _planning_cache


@dataclass(frozen=True)
class PlanningSnapshot:
    """What a plan starts from: the pools generation, and whether the load copy was brought
    up to date in the same statement (then `planning_load` reads it without a query)."""

    generation: object
    load_copy: bool


def planning_snapshot() -> PlanningSnapshot:
    if settings.LOAD_CACHE:
        generation = load_cache.refresh(timezone.now())
        if generation is not None:
            return PlanningSnapshot(generation, load_copy=True)
    return PlanningSnapshot(_pools_generation(), load_copy=False)


def planning_pools(
    *,
    site: str | None = None,
    kinds: Iterable[str] | None = None,
    snapshot: PlanningSnapshot | None = None,
):
    """`eligible_pools` and their `engine_pools`, from this process's cache (no query when
    `snapshot` brings the generation)."""
    cache = _current_cache(snapshot.generation if snapshot else None)
    key = (site or None, None if kinds is None else frozenset(kinds))
    entry = cache["entries"].get(key)
    if entry is None:
        # A pool whose adapter the registry lacks (a legacy row) could never be provisioned.
        pools = [p for p in eligible_pools(site=site, kinds=kinds) if p.adapter in ADAPTER_NAMES]
        epools = engine_pools(pools)
        cache["engine"].update((pool.id, epool) for pool, epool in zip(pools, epools, strict=True))
        entry = cache["entries"][key] = (pools, epools)
    return entry


def planning_cached(name: str, load, *, snapshot: PlanningSnapshot | None = None):
    """`load()` cached in this process under the pools generation (rates and policy limits
    bump it too: projects migration 0002)."""
    cache = _current_cache(snapshot.generation if snapshot else None)
    key = ("extra", name)
    if key not in cache["entries"]:
        cache["entries"][key] = load()
    return cache["entries"][key]


def pools_by_slug(slugs: Iterable[str], *, generation=None) -> dict[str, Pool]:
    """The named pools, enabled or not, with their sites and capacity changes, from the same
    cache (give the generation read after locking them, to see the committed rows)."""
    cache = _current_cache(generation)
    every = cache["entries"].get("every")
    if every is None:
        pools = list(
            Pool.objects.select_related("site").prefetch_related("capacity_changes").order_by("id")
        )
        every = cache["entries"]["every"] = {pool.slug: pool for pool in pools}
    return {slug: every[slug] for slug in slugs if slug in every}


def engine_pools_cached(pools: Iterable[Pool]) -> list:
    """`engine_pools`, taken from the cache where this process built them already."""
    known = _planning_cache["engine"]
    missing = [pool for pool in pools if pool.id not in known]
    if missing:
        known.update((p.id, e) for p, e in zip(missing, engine_pools(missing), strict=True))
    return [known[pool.id] for pool in pools]


def planning_load(*, pools: list[Pool], start: datetime, end: datetime, snapshot: PlanningSnapshot):
    """`engine_load` for the planner, from this process's copy of the load when the snapshot
    brought it up to date and it can answer (planning.cache)."""
    if snapshot.load_copy:
        loads = load_cache.select(pools=pools, start=start, end=end, now=timezone.now())
        if loads is not None:
            return loads
    return engine_load(pools=pools, start=start, end=end)
