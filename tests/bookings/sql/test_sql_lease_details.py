"""bookings.domain.sql.lease_details against its ORM twin, LEASE_DETAILS prefetched."""

import pytest
from django.db.models import prefetch_related_objects

from bookings.choices import ActorKind
from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.selectors import LEASE_DETAILS, lease_details_load
from bookings.domain.sql.lease_details import RELATIONS, lease_details_rows
from bookings.models import Lease, LeaseEvent
from resources.domain.capacity_file import capacity_file_load
from tests.bookings.api.apidata import CAPACITY, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def shape(objects, reference: str) -> list:
    return [
        (fields(o), fields(getattr(o, reference)) if getattr(o, reference) else None)
        for o in objects
    ]


@pytest.fixture
def lease(user, staff):
    """An accepted lease of two replicas with events by a user, by staff and by the system."""
    capacity_file_load(data=CAPACITY)
    body = worker_request(components=[{"name": "w", "replicas": 2, "amounts": {"cores": 8}}])
    offer = offer_set_create(owner=user, data=body).leases.all()[0]
    lease = lease_accept(lease_id=offer.id, user=user, if_match=None)
    lease = Lease.objects.get(id=lease.id)
    LeaseEvent.objects.create(lease=lease, actor_kind=ActorKind.SYSTEM, message="a tick")
    LeaseEvent.objects.create(lease=lease, actor_kind=ActorKind.USER, actor=staff, message="x")
    return lease


def test_the_rows_are_the_prefetched_ones(lease):
    twin = Lease.objects.get(id=lease.id)
    prefetch_related_objects([twin], *LEASE_DETAILS)
    rows = lease_details_rows(lease=lease, relations=RELATIONS)
    assert len(rows["allocations"]) == 2 and len(rows["events"]) == 4
    for name, reference in (("allocations", "pool"), ("events", "actor")):
        assert shape(rows[name], reference) == shape(getattr(twin, name).all(), reference)
        assert all(o.lease is lease for o in rows[name])


def test_loading_keeps_what_is_loaded_and_reads_in_one_query(lease, django_assert_num_queries):
    prefetch_related_objects([lease], LEASE_DETAILS[0])
    allocations = lease.allocations.all()
    with django_assert_num_queries(1):
        lease_details_load(lease=lease)
    assert lease.allocations.all() is allocations
    assert [e.message for e in lease.events.all()][-2:] == ["a tick", "x"]
    with django_assert_num_queries(0):
        lease_details_load(lease=lease)
