"""Selectors that turn pools and datasets into the engine's plain inputs (the load and the
per-process caches are bookings.domain.planning's)."""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.utils import timezone

from adapters import AdapterError, AllocationSpec, LeaseSpec, get_adapter
from resources.choices import DIMENSIONS_BY_KIND
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
