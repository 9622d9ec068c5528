"""The pools generation (migration 0008) moves with every write of the rows planning pools are
built from, and the per-process pools cache follows it."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bookings.domain.planning.pools import planning_pools, planning_snapshot, pools_by_slug
from bookings.models import PoolsGeneration
from resources.domain.capacity_file import capacity_file_load
from resources.models import CapacityChange, Pool, Site
from tests.bookings.loads import one_site

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def pool(db):
    capacity_file_load(data=one_site(["edi-a"], {"cores": 16, "memory_gib": 64}))
    return Pool.objects.get()


def generation():
    return PoolsGeneration.objects.get().generation


@pytest.mark.django_db(transaction=True)  # a TRUNCATE cannot follow pending FK checks
def test_every_kind_of_write_moves_the_generation(pool):
    now = timezone.now()
    writes = [
        lambda: Pool.objects.filter(pk=pool.pk).update(cores=8),
        lambda: Site.objects.update(name="Edinburgh (KB)"),
        lambda: Site.objects.create(slug="cam", name="Cambridge", timezone="UTC"),
        lambda: Site.objects.filter(slug="cam").delete(),
        lambda: CapacityChange.objects.create(pool=pool, start=now, cores=2),
        lambda: CapacityChange.objects.update(end=now + timedelta(hours=1)),
        lambda: CapacityChange.objects.all().delete(),
    ]
    for write in writes:
        before = generation()
        write()
        assert generation() != before
    before = generation()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE resources_capacitychange")
    assert generation() != before
    # Reads and rolled-back writes leave it as it was.
    before = generation()
    with transaction.atomic():
        list(Pool.objects.select_for_update().all())
    with pytest.raises(RuntimeError), transaction.atomic():
        Pool.objects.update(cores=1)
        raise RuntimeError
    assert generation() == before


def test_the_pools_cache_follows_the_generation(pool):
    (cached,), _ = planning_pools(snapshot=planning_snapshot())
    assert planning_pools(snapshot=planning_snapshot())[0][0] is cached
    assert pools_by_slug(["edi-a"])["edi-a"].cores == 16
    Pool.objects.filter(pk=pool.pk).update(cores=12)
    (fresh,), (engine_pool,) = planning_pools(snapshot=planning_snapshot())
    assert fresh is not cached
    assert (fresh.cores, engine_pool.base["cores"]) == (12, 12)
    assert pools_by_slug(["edi-a"])["edi-a"].cores == 12
