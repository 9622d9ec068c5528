"""Every hand-written form of the load rule selects what the ORM form (`counting_allocations`)
selects: the planner's and the pictures' load (sql.load.LOAD), the guard's one round trip
(sql.locks.POOLS_THEN_LOAD) and the copy's full and delta reads (planning.cache)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction

from bookings.domain.planning.cache import LoadCache
from bookings.domain.planning.load import engine_load, load_params
from bookings.domain.sql.locks import POOLS_THEN_LOAD
from bookings.models import Allocation, Lease, PoolsGeneration
from tests.bookings.loads import columns_keys, frozen, keys, orm_keys, row_keys

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

WINDOWS = [(-3, 1), (-2, 4), (0, 1), (1, 2), (4, 30), (-48, 96)]


def test_the_load_is_the_orm_rule(every_phase):
    pools, sets, now = every_phase
    lease = Lease.objects.filter(phase="ACCEPTED").first()
    seen = 0
    for exclude_lease, offer_set in [(None, None), (lease.id, None), (None, sets[1])]:
        for start_h, hours in WINDOWS:
            start = now + timedelta(hours=start_h)
            end = start + timedelta(hours=hours)
            with frozen(now):
                direct = engine_load(
                    pools=pools,
                    start=start,
                    end=end,
                    exclude_lease=exclude_lease,
                    exclude_offer_set=offer_set.pk if offer_set else None,
                )
                twin = orm_keys(
                    pools, start, end, exclude_lease=exclude_lease, exclude_offer_set=offer_set
                )
            assert keys(direct) == twin
            seen += len(direct)
    assert seen > 0


def test_the_guards_round_trip_reads_the_generation_and_the_orm_rule(every_phase):
    pools, _, now = every_phase
    for start_h, hours in WINDOWS:
        start = now + timedelta(hours=start_h)
        end = start + timedelta(hours=hours)
        with frozen(now), transaction.atomic(), connection.cursor() as cursor:
            params = load_params(slugs=[p.slug for p in pools], start=start, end=end)
            cursor.execute(POOLS_THEN_LOAD, params)
            assert sorted(row[0] for row in cursor.fetchall()) == sorted(p.id for p in pools)
            cursor.nextset()
            assert cursor.fetchone() == (PoolsGeneration.objects.get().generation,)
            cursor.nextset()
            rows = cursor.fetchall()
            twin = orm_keys(pools, start, end)
        assert row_keys(rows, {p.id: p.slug for p in pools}) == twin


@pytest.mark.django_db(transaction=True)  # the copy is not used inside a transaction
def test_the_copy_is_the_orm_rule_after_full_and_delta_reads(every_phase):
    pools, _, now = every_phase
    cache = LoadCache()

    def same():
        for start_h, hours in WINDOWS[:-1]:  # the copy keeps no history before its floor
            start = now + timedelta(hours=start_h)
            end = start + timedelta(hours=hours)
            columns = cache.load(pools=pools, start=start, end=end, now=now)
            with frozen(now):
                assert columns_keys(columns) == orm_keys(pools, start, end)

    same()
    rows = cache.refreshes["rows"]
    changed = Allocation.objects.filter(lease__phase__in=["OFFERED", "ACCEPTED", "COMPLETED"])
    changed = changed.count()
    # A phase change of every kind, read as deltas only.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bookings_lease SET phase = CASE phase WHEN 'OFFERED' THEN 'ACCEPTED'"
            " WHEN 'ACCEPTED' THEN 'CANCELLED' WHEN 'COMPLETED' THEN 'RUNNING' ELSE phase END,"
            " expires = CASE WHEN phase = 'COMPLETED' THEN NULL ELSE expires END"
        )
    same()
    assert cache.refreshes["full"] == 1
    assert cache.refreshes["rows"] - rows == changed
