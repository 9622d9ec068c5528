"""The database itself holds the rules: these bypass forms and write rows directly."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange

from bookings.models import Allocation, Lease
from resources.models import CapacityChange, Dataset, DatasetReplica, Pool, Site

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.fixture
def site():
    return Site.objects.create(slug="edi", name="Edinburgh")


@pytest.fixture
def pool(site):
    return Pool.objects.create(slug="w1", site=site, kind="compute", cores=52, memory_gib=86)


def violates(constraint: str):
    """Context manager: the block must fail with an IntegrityError naming `constraint`."""
    return pytest.raises(IntegrityError, match=constraint)


def test_negative_capacity_is_refused_by_the_database(pool):
    with violates("cores"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE resources_pool SET cores = -1 WHERE id = %s", [pool.id])


@pytest.mark.parametrize(
    ("kind", "dims"),
    [
        ("storage", {"cores": 4, "size_gib": 10}),
        ("compute", {"cores": 4, "readers": 1}),
        ("data", {"readers": 2, "memory_gib": 8}),
    ],
)
def test_pool_has_only_the_dimensions_of_its_kind(site, kind, dims):
    with violates("pool_dimensions_match_kind"), transaction.atomic():
        Pool.objects.create(slug="p", site=site, kind=kind, **dims)


def test_pools_of_each_kind_with_their_own_dimensions_are_accepted(site):
    Pool.objects.create(slug="c", site=site, kind="compute", cores=8, memory_gib=16, gpus=2)
    Pool.objects.create(slug="s", site=site, kind="storage", size_gib=1000)
    Pool.objects.create(slug="d", site=site, kind="data", readers=4)
    assert Pool.objects.count() == 3


def test_capacity_change_must_end_after_it_starts(pool):
    with violates("capacity_change_end_after_start"), transaction.atomic():
        CapacityChange.objects.create(pool=pool, start=T0, end=T0, cores=0)


def test_capacity_change_must_set_a_dimension(pool):
    with violates("capacity_change_sets_a_dimension"), transaction.atomic():
        CapacityChange.objects.create(pool=pool, start=T0, end=T0 + timedelta(hours=1))


def test_open_ended_capacity_change_is_allowed(pool):
    CapacityChange.objects.create(pool=pool, start=T0, end=None, cores=64)
    assert CapacityChange.objects.get().end is None


def test_replica_staging_rate_must_be_positive(site):
    dataset = Dataset.objects.create(slug="gaia-dr3", size_gib=3700)
    with violates("replica_staging_rate_positive"), transaction.atomic():
        DatasetReplica.objects.create(dataset=dataset, site=site, staging_gib_per_hour=0)


@pytest.fixture
def owner():
    return get_user_model().objects.create_user("astro")


def lease_row(site, owner, **overrides) -> dict:
    fields = {
        "owner": owner,
        "site": site,
        "phase": "ACCEPTED",
        "start": T0,
        "end": T0 + timedelta(hours=9),
        "preparation_start": T0,
    }
    return {**fields, **overrides}


def test_lease_must_end_after_it_starts(site, owner):
    with violates("lease_end_after_start"), transaction.atomic():
        Lease.objects.create(**lease_row(site, owner, end=T0))


def test_lease_preparation_cannot_follow_the_start(site, owner):
    with violates("lease_preparation_before_start"), transaction.atomic():
        Lease.objects.create(**lease_row(site, owner, preparation_start=T0 + timedelta(1)))


def test_an_offer_must_have_an_expiry(site, owner):
    with violates("lease_offer_has_expiry"), transaction.atomic():
        Lease.objects.create(**lease_row(site, owner, phase="OFFERED", expires=None))


def test_lease_phase_must_be_known(site, owner):
    lease = Lease.objects.create(**lease_row(site, owner))
    with violates("lease_phase_valid"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE bookings_lease SET phase = 'DANCING' WHERE id = %s", [lease.id])


def test_allocation_period_must_be_bounded_and_non_empty(site, owner, pool):
    lease = Lease.objects.create(**lease_row(site, owner))
    for period in (DateTimeTZRange(T0, T0, "[)"), DateTimeTZRange(T0, None, "[)")):
        with violates("allocation_period_bounded"), transaction.atomic():
            Allocation.objects.create(lease=lease, pool=pool, cores=1, period=period)


def test_allocation_amounts_cannot_be_negative(site, owner, pool):
    lease = Lease.objects.create(**lease_row(site, owner))
    with violates("memory_gib"), transaction.atomic():
        Allocation.objects.create(
            lease=lease, pool=pool, memory_gib=-4, period=DateTimeTZRange(T0, T0 + timedelta(1))
        )


def test_allocations_have_a_gist_index_on_pool_and_period():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'allocation_pool_period_gist'"
        )
        (definition,) = cursor.fetchone()
    assert "USING gist (pool_id, period)" in definition
