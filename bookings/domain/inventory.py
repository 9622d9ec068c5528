"""Selectors that turn the database into the engine's plain inputs.

Only the allocations that overlap the window of interest, on the pools of interest, are
loaded: one indexed range query (GiST on pool, period).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Q
from django.utils import timezone

from adapters import ADAPTER_NAMES, AdapterError, AllocationSpec, LeaseSpec, get_adapter
from bookings.choices import LOAD_PHASES, Phase
from bookings.domain.load_cache import POOLS_STAMP, load_cache
from bookings.domain.queries import phases_sql
from bookings.models import Allocation
from resources.choices import DIMENSIONS, DIMENSIONS_BY_KIND
from resources.models import Dataset, Pool
from scheduler import engine


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def pool_setup_seconds(pool: Pool) -> int:
    """How long the pool's adapter needs before a lease's start (its allocations begin then)."""
    now = timezone.now()
    options = pool.adapter_settings or {}
    try:
        adapter = get_adapter(pool.adapter, options)
    except AdapterError:
        return 0  # an unknown adapter fails loudly at prepare time, not while planning
    spec = LeaseSpec(
        uuid=uuid.UUID(int=0),
        owner="",
        start=now,
        end=now,
        allocations=(AllocationSpec(pool.slug, {}, now, now, options),),
    )
    return max(0, int(adapter.setup_seconds(spec)))


def engine_pools(pools: Iterable[Pool]):
    """Engine pools with their capacity timelines (changes in start order: later wins)."""
    result = []
    for pool in pools:
        dims = DIMENSIONS_BY_KIND[pool.kind]
        changes = tuple(
            engine.CapacityChange(
                start=epoch(c.start),
                end=epoch(c.end) if c.end else None,
                capacity={d: v for d, v in c.capacity().items() if d in dims},
            )
            for c in sorted(pool.capacity_changes.all(), key=lambda c: (c.start, c.id))
        )
        result.append(
            engine.Pool(
                slug=pool.slug,
                site=pool.site.slug,
                kind=pool.kind,
                base=pool.capacity(),
                changes=changes,
                setup_seconds=pool_setup_seconds(pool),
            )
        )
    return result


def eligible_pools(*, site: str | None = None, kinds: Iterable[str] | None = None):
    pools = Pool.objects.filter(enabled=True).select_related("site")
    if site:
        pools = pools.filter(site__slug=site)
    if kinds is not None:
        pools = pools.filter(kind__in=list(kinds))
    return list(pools.prefetch_related("capacity_changes").order_by("site__slug", "slug"))


_planning_cache: dict = {"stamp": None, "entries": {}, "engine": {}}


def _pools_stamp() -> str:
    with connection.cursor() as cursor:
        cursor.execute(POOLS_STAMP)
        (stamp,) = cursor.fetchone()
    return stamp


def _stamped_cache(stamp: str | None = None) -> dict:
    """This process's pool cache, emptied if the pool, site or capacity rows changed (the
    stamp is read now unless the caller just read it)."""
    stamp = stamp or _pools_stamp()
    global _planning_cache
    if _planning_cache["stamp"] != stamp:
        _planning_cache = {"stamp": stamp, "entries": {}, "engine": {}}
    return _planning_cache


@dataclass(frozen=True)
class PlanningSnapshot:
    """What a plan starts from: the pools stamp, and whether the load copy was brought up to
    date in the same statement (then `planning_load` reads it without a query)."""

    stamp: str
    load_copy: bool


def planning_snapshot() -> PlanningSnapshot:
    if settings.LOAD_CACHE:
        stamp = load_cache.refresh(timezone.now())
        if stamp is not None:
            return PlanningSnapshot(stamp, load_copy=True)
    return PlanningSnapshot(_pools_stamp(), load_copy=False)


def planning_pools(
    *,
    site: str | None = None,
    kinds: Iterable[str] | None = None,
    snapshot: PlanningSnapshot | None = None,
):
    """`eligible_pools` and their `engine_pools`, kept in this process while the digest of the
    pool, site and capacity-change rows is unchanged: no query (the stamp comes with the
    snapshot) instead of two queries, 32 model instances and 32 adapters per offer set. The
    stamp is read before the rows, so rows read after a concurrent change are cached under the
    older stamp and never reused."""
    cache = _stamped_cache(snapshot.stamp if snapshot else None)
    key = (site or None, None if kinds is None else frozenset(kinds))
    entry = cache["entries"].get(key)
    if entry is None:
        # A pool whose adapter the registry lacks (a legacy row) could never be provisioned.
        pools = [p for p in eligible_pools(site=site, kinds=kinds) if p.adapter in ADAPTER_NAMES]
        epools = engine_pools(pools)
        cache["engine"].update((pool.id, epool) for pool, epool in zip(pools, epools, strict=True))
        entry = cache["entries"][key] = (pools, epools)
    return entry


def pools_by_slug(slugs: Iterable[str], *, stamp: str | None = None) -> dict[str, Pool]:
    """The named pools, enabled or not, with their sites and capacity changes, from the same
    stamped cache (give the stamp read after locking them, to see the committed rows)."""
    cache = _stamped_cache(stamp)
    every = cache["entries"].get("every")
    if every is None:
        pools = list(
            Pool.objects.select_related("site").prefetch_related("capacity_changes").order_by("id")
        )
        every = cache["entries"]["every"] = {pool.slug: pool for pool in pools}
    return {slug: every[slug] for slug in slugs if slug in every}


def engine_pools_cached(pools: Iterable[Pool]) -> list:
    """`engine_pools`, taken from the stamped cache where this process built them already."""
    known = _planning_cache["engine"]
    missing = [pool for pool in pools if pool.id not in known]
    if missing:
        known.update((p.id, e) for p, e in zip(missing, engine_pools(missing), strict=True))
    return [known[pool.id] for pool in pools]


def counting_allocations(
    *, pool_ids: Iterable[int], start: datetime, end: datetime, exclude_lease=None
):
    """Allocations that consume capacity in [start, end): load phases, live holds only."""
    now = timezone.now()
    query = Allocation.objects.filter(
        pool_id__in=list(pool_ids),
        period__overlap=DateTimeTZRange(start, end, "[)"),
        lease__phase__in=LOAD_PHASES,
    ).filter(~Q(lease__phase=Phase.OFFERED) | Q(lease__expires__gt=now))
    if exclude_lease is not None:
        query = query.exclude(lease_id=exclude_lease)
    return query


def planning_load(*, pools: list[Pool], start: datetime, end: datetime, snapshot: PlanningSnapshot):
    """`engine_load` for the planner, from this process's copy of the load when the snapshot
    brought it up to date and it can answer (bookings.domain.load_cache)."""
    if snapshot.load_copy:
        loads = load_cache.select(pools=pools, start=start, end=end, now=timezone.now())
        if loads is not None:
            return loads
    return engine_load(pools=pools, start=start, end=end)


def engine_load(*, pools: Iterable[Pool], start: datetime, end: datetime, exclude_lease=None):
    """The counting load of `pools` over [start, end) as engine loads (what
    `counting_allocations` selects, in hand-written SQL: this runs under the pool locks of
    every offer set and accept, where the ORM's query building was a large share). PostgreSQL
    turns the bounds into epoch seconds: parsing thousands of tstzrange values in Python was
    most of an offer set's time (bench/api.py)."""
    by_id = {p.id: p.slug for p in pools}
    with connection.cursor() as cursor:
        params = load_params(start=start, end=end, exclude_lease=exclude_lease, pools=list(by_id))
        cursor.execute(_LOAD_SQL, params)
        rows = cursor.fetchall()
    return engine_loads(rows, by_id)


def load_params(*, start: datetime, end: datetime, exclude_lease=None, **more) -> dict:
    return {"start": start, "end": end, "now": timezone.now(), "exclude": exclude_lease, **more}


def engine_loads(rows, slug_of: dict[int, str]) -> list:
    """Rows of `load_sql` as engine loads."""
    # Most allocations share a few amount shapes: build each amounts mapping once (the engine
    # only reads them), which halves the Python time of a few thousand rows.
    shapes: dict[tuple, dict] = {}
    loads = []
    for pool_id, lo, hi, *amounts in rows:
        shape = tuple(amounts)
        mapping = shapes.get(shape)
        if mapping is None:
            mapping = shapes[shape] = {d: v for d, v in zip(DIMENSIONS, shape, strict=True) if v}
        loads.append(engine.Load(slug_of[pool_id], lo, hi, mapping))
    return loads


def load_sql(pools: str) -> str:
    """The counting load (what `counting_allocations` selects) of the pools `pools` names (a
    FROM item with an `id` column), as (pool id, epoch start, epoch end, amounts…) rows.

    One GiST probe on (pool, period) per pool: `pool_id = ANY(…)` cannot use the GiST index's
    pool column, and the planner combined the period alone with the pool's B-tree (65k
    entries)."""
    return f"""
    SELECT a.pool_id,
           floor(extract(epoch from lower(a.period)))::bigint,
           floor(extract(epoch from upper(a.period)))::bigint,
           {", ".join(f"a.{d}" for d in DIMENSIONS)}
    FROM {pools}
    JOIN bookings_allocation a
      ON a.pool_id = p.id AND a.period && tstzrange(%(start)s, %(end)s, '[)')
    JOIN bookings_lease l ON l.id = a.lease_id
    WHERE l.phase IN ({phases_sql(LOAD_PHASES)})
      AND (l.phase <> '{Phase.OFFERED}' OR l.expires > %(now)s)
      AND (%(exclude)s::uuid IS NULL OR a.lease_id <> %(exclude)s::uuid)
"""


_LOAD_SQL = load_sql("unnest(%(pools)s::bigint[]) AS p(id)")


def engine_datasets(slugs: Iterable[str]) -> list:
    datasets = Dataset.objects.filter(slug__in=list(slugs)).prefetch_related(
        "replicas__site", "replicas__data_pool"
    )
    return [
        engine.Dataset(
            slug=d.slug,
            size_gib=d.size_gib,
            replicas=tuple(
                engine.DatasetReplica(
                    site=r.site.slug,
                    staging_gib_per_hour=r.staging_gib_per_hour,
                    data_pool=r.data_pool.slug if r.data_pool else None,
                )
                for r in d.replicas.all()
            ),
        )
        for d in datasets
    ]
