"""Charging at accept, refunds on cancel, release and failure, extension and shortening, on
real PostgreSQL; what a lease owes checked against an oracle over its allocations."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.errors import DomainError
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.leases import (
    lease_accept,
    lease_cancel,
    lease_extend,
    lease_mark_failed,
    lease_release_early,
)
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease
from projects.models import LedgerEntry, Rate
from tests.projects.support import core_hours, job, left, shifted, su

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def booked(user, **kwargs) -> Lease:
    offers = offer_set_create(owner=user, data=job(**kwargs))
    assert offers.result == "YES", offers.messages
    lease = offers.leases.get()
    lease_accept(lease_id=lease.id, user=user)
    return Lease.objects.get(id=lease.id)


def test_every_offer_carries_its_price_from_its_grants(project, user):
    offers = offer_set_create(owner=user, data={**job(cores=4, hours=2), "max_offers": 3})
    assert offers.result == "YES"
    for lease in offers.leases.all():
        assert lease.cost_su == core_hours(lease)
        assert lease.cost_su >= Decimal(8)  # 4 cores x 2 h, preparation on top
        assert lease.project == project
        assert lease.charged_su == 0  # an offer owes nothing
    assert left(project) == 100


def test_accept_commits_the_price_and_cancel_before_preparation_refunds_it(project, user):
    lease = booked(user, cores=4, hours=2)
    assert lease.charged_su == lease.cost_su == core_hours(lease)
    assert left(project) == su(100 - lease.cost_su)
    lease_cancel(lease_id=lease.id, user=user)
    lease.refresh_from_db()
    assert lease.charged_su == 0
    assert left(project) == 100
    kinds = list(LedgerEntry.objects.filter(lease=lease).values_list("kind", "su"))
    assert kinds == [("charge", lease.cost_su), ("refund", -lease.cost_su)]


def test_a_failed_lease_is_refunded_in_full(project, user, staff):
    lease = booked(user)
    lease_mark_failed(lease_id=lease.id, user=staff, reason="node died")
    lease.refresh_from_db()
    assert lease.phase == Phase.FAILED and lease.charged_su == 0
    assert left(project) == 100


def test_release_early_refunds_the_unused_part_but_keeps_the_minimum(project, user, settings):
    settings.BUDGET_MINIMUM_MINUTES = 60
    lease = booked(user, cores=6, hours=4, start_in=timedelta(0), window=timedelta(minutes=5))
    Lease.objects.filter(id=lease.id).update(phase=Phase.AVAILABLE)  # as the tick would
    lease = Lease.objects.get(id=lease.id)
    # started 10 minutes ago: the first hour is still owed
    shift = lease.preparation_start - (timezone.now() - timedelta(minutes=10))
    shifted(lease, -shift)
    lease_release_early(lease_id=lease.id, user=user)
    lease.refresh_from_db()
    assert lease.charged_su == su(6 * 1)  # 6 cores for the minimum hour
    assert left(project) == su(100 - 6)


def test_extending_charges_the_extension_and_shortening_refunds_the_cut(project, user):
    lease = booked(user, cores=2, hours=2)
    price = lease.cost_su
    lease_extend(lease_id=lease.id, user=user, end=lease.end + timedelta(hours=3))
    lease.refresh_from_db()
    assert lease.charged_su == su(price + 6)  # 2 cores x 3 h more
    assert lease.charged_su == core_hours(lease)
    lease_extend(lease_id=lease.id, user=user, end=lease.end - timedelta(hours=4))
    lease.refresh_from_db()
    assert lease.charged_su == su(price - 2) == core_hours(lease)
    assert left(project) == su(100 - lease.charged_su)


def test_an_extension_the_project_cannot_pay_is_refused_and_nothing_changes(project, user):
    lease = booked(user, cores=8, hours=2)
    end = lease.end
    with pytest.raises(DomainError) as caught:
        lease_extend(lease_id=lease.id, user=user, end=lease.end + timedelta(hours=12))
    assert caught.value.status == 409 and caught.value.code == "over-budget"
    assert "gaia" in caught.value.title
    lease.refresh_from_db()
    assert lease.end == end and lease.charged_su == lease.cost_su


def test_a_rate_change_does_not_reprice_an_accepted_lease(project, user, priced):
    lease = booked(user, cores=2, hours=2)
    Rate.objects.filter(pool=priced).update(cores=Decimal(5))
    lease_extend(lease_id=lease.id, user=user, end=lease.end + timedelta(hours=1))
    lease.refresh_from_db()
    assert lease.charged_su == su(core_hours(lease))  # still 1 SU per core-hour
    offers = offer_set_create(owner=user, data=job(cores=2, hours=2))
    assert offers.leases.get().cost_su == core_hours(offers.leases.get(), per_core_hour=5)


def test_a_fresh_offer_for_a_displaced_lease_may_spend_what_that_lease_gives_back(project, user):
    old = booked(user, cores=20, hours=4)  # about 80 of the 100 SU
    with transaction.atomic():
        locked = Lease.objects.select_for_update().get(id=old.id)
        leases_write(
            [LeaseChange(locked, message="displaced (test)", fields={"displaced": True})],
            actor_kind=ActorKind.SYSTEM,
        )
    fresh = offer_set_create(
        owner=user, data=job(cores=20, hours=4, start_in=timedelta(hours=3)), replaces=old
    )
    lease = fresh.leases.get()
    assert lease.project == project and lease.cost_su > left(project)  # only with the refund
    lease_accept(lease_id=lease.id, user=user)
    old.refresh_from_db()
    assert old.phase == Phase.CANCELLED and old.charged_su == 0
    assert left(project) == su(100 - lease.cost_su)
