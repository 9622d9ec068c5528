"""The planner's copy of the load (bookings.domain.planning.cache) equals what the database says,
after every kind of write: offer sets, accepts, rejects, cancels, extends, lapsing holds,
deletions, raw SQL updates, truncation; and it stays cheap while a long transaction runs."""

import itertools
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bookings.choices import Phase
from bookings.domain.leases import lease_accept, lease_cancel, lease_extend, lease_reject
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.planning.cache import LoadCache, load_cache
from bookings.domain.planning.load import engine_load
from bookings.models import Allocation, Lease
from resources.domain.capacity_file import capacity_file_load
from resources.models import Pool
from tests.bookings.loads import columns_keys, frozen, keys, one_site, orm_keys

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

POOLS = ["edi-a", "edi-b", "edi-c"]


@pytest.fixture
def pools(db):
    capacity_file_load(data=one_site(POOLS, {"cores": 32, "memory_gib": 128}))
    return list(Pool.objects.select_related("site").order_by("slug"))


_jobs = itertools.count()


def request(hours_ahead: int, cores: int = 8, offers: int = 2) -> dict:
    """A job of its own each time (the same job asked again would supersede its holds)."""
    start = (timezone.now() + timedelta(hours=hours_ahead)).replace(
        minute=0, second=0, microsecond=0
    )
    return {
        "name": f"job-{next(_jobs)}",
        "components": [{"name": "job", "amounts": {"cores": cores, "memory_gib": 16}}],
        "duration": "PT2H",
        "start": f"{start:%Y-%m-%dT%H:%M:%SZ}/PT6H",
        "max_offers": offers,
    }


def assert_same(cache: LoadCache, pools, *, now=None) -> int:
    """The copy, the load statement and the ORM rule agree on several windows; returns how
    many loads there were."""
    now = now or timezone.now()
    seen = 0
    for start_h, hours in [(-2, 4), (0, 30), (5, 3), (20, 60), (0, 24 * 10)]:
        start = now + timedelta(hours=start_h)
        end = start + timedelta(hours=hours)
        cached = cache.load(pools=pools, start=start, end=end, now=now)
        assert cached is not None
        with frozen(now):
            direct = engine_load(pools=pools, start=start, end=end)
            assert columns_keys(cached) == keys(direct) == orm_keys(pools, start, end)
        seen += len(direct)
    return seen


def test_the_copy_follows_every_kind_of_write(pools, user):
    cache = LoadCache()
    assert assert_same(cache, pools) == 0

    sets = [offer_set_create(owner=user, data=request(h)) for h in (1, 1, 3, 8, 30)]
    assert assert_same(cache, pools) > 0

    first, second, third, fourth, _ = (list(s.leases.all()) for s in sets)
    lease_accept(lease_id=first[0].id, user=user)  # its sibling is rejected
    lease_reject(lease_id=second[1].id, user=user)
    lease_accept(lease_id=third[1].id, user=user)
    assert_same(cache, pools)

    lease_extend(lease_id=first[0].id, user=user, end=first[0].end + timedelta(hours=1))
    lease_cancel(lease_id=third[1].id, user=user)
    assert_same(cache, pools)

    # Writes the domain does not make: raw updates of amounts and periods, and of a phase.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bookings_allocation SET cores = 3 WHERE lease_id = %s", [fourth[0].id]
        )
        cursor.execute(
            "UPDATE bookings_lease SET phase = %s, expires = NULL WHERE id = %s",
            [Phase.ACCEPTED, fourth[1].id],
        )
    assert_same(cache, pools)

    # Deletions leave nothing to find: the copy starts again.
    fulls = cache.refreshes["full"]
    Allocation.objects.filter(lease_id=first[0].id).delete()
    assert_same(cache, pools)
    assert cache.refreshes["full"] == fulls + 1

    # So does a truncation (what a test database flush does).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bookings_allocation CASCADE")
    assert assert_same(cache, pools) == 0


def test_a_hold_counts_until_it_expires_without_any_write(pools, user):
    cache = LoadCache()
    offer_set = offer_set_create(owner=user, data=request(1, offers=1))
    (offer,) = offer_set.leases.all()
    before = assert_same(cache, pools)
    assert before > 0
    # to the microsecond, as the database compares them
    just_before = offer.expires - timedelta(microseconds=1)
    assert assert_same(cache, pools, now=just_before) == before
    assert assert_same(cache, pools, now=offer.expires) == 0


def test_only_what_changed_is_read_even_while_a_long_transaction_runs(pools, user):
    cache = LoadCache()
    offer_set_create(owner=user, data=request(1))
    assert_same(cache, pools)
    # Another session holds a transaction open: the oldest running xid stays behind ours.
    url = settings.DATABASES["default"]
    with psycopg.connect(
        host=url["HOST"] or None,
        port=url["PORT"] or None,
        user=url["USER"],
        password=url["PASSWORD"] or None,
        dbname=connection.settings_dict["NAME"],
        autocommit=False,
    ) as other:
        other.execute("SELECT pg_current_xact_id()")
        for hours in (2, 4, 6, 8):
            rows = cache.refreshes["rows"]
            offer_set = offer_set_create(owner=user, data=request(hours))
            written = Allocation.objects.filter(lease__offer_set=offer_set).count()
            assert_same(cache, pools)
            # each read returns this offer set's rows, not every change since `other` began
            assert cache.refreshes["rows"] - rows == written
        other.rollback()


def test_not_used_inside_a_transaction_nor_before_its_floor(pools, user):
    cache = LoadCache()
    now = timezone.now()
    assert cache.load(pools=pools, start=now, end=now + timedelta(hours=1), now=now) == []
    old = now - timedelta(days=3)
    assert cache.load(pools=pools, start=old, end=now, now=now) is None
    with transaction.atomic():
        assert cache.load(pools=pools, start=now, end=now + timedelta(hours=1), now=now) is None


def test_the_planner_reads_it(pools, user, settings):
    """offer_set_create plans from the copy, and refuses nothing the database would allow."""
    settings.LOAD_CACHE = True
    load_cache.clear()
    deltas = load_cache.refreshes["delta"]
    for _ in range(3):
        offer_set = offer_set_create(owner=user, data=request(1, cores=32, offers=3))
        assert offer_set.result == "YES"
    assert load_cache.refreshes["delta"] >= deltas + 2
    # three pools, three sets of three distinct offers, each set two hours after the last
    assert Lease.objects.filter(phase=Phase.OFFERED).count() == 9
    assert_same(load_cache, pools)
