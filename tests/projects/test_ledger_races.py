"""32 accepts racing for one project's last SU, on real PostgreSQL: exactly the affordable
number succeed, the ledger never goes negative, and the others are 409 naming the project."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum

from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create
from projects.models import LedgerEntry, Membership, SUAllocation
from tests.bookings.api.test_api_races import in_threads
from tests.projects.support import job

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 32
AFFORDABLE = 10


def test_accepts_racing_for_the_last_su(project, settings):
    settings.OFFER_HOLDS_PER_USER = CLIENTS
    users = [get_user_model().objects.create_user(f"racer{i}") for i in range(CLIENTS)]
    for user in users:
        Membership.objects.create(project=project, user=user, default=True)
    offers = []
    for user in users:  # 1 core for 1 hour at 1 SU per core-hour: 1 SU each
        made = offer_set_create(owner=user, data=job(cores=1, hours=1, window=timedelta(minutes=2)))
        lease = made.leases.get()
        assert lease.cost_su == Decimal(1)
        offers.append((user, lease.id))
    SUAllocation.objects.filter(project=project).update(su=Decimal(AFFORDABLE))

    def accept(user, lease_id):
        try:
            lease_accept(lease_id=lease_id, user=user)
            return "accepted"
        except DomainError as error:
            assert error.status == 409 and error.code == "over-budget", error
            assert error.extra["project"] == "gaia"
            return "refused"

    results = in_threads([lambda u=u, i=i: accept(u, i) for u, i in offers])
    assert results.count("accepted") == AFFORDABLE
    assert results.count("refused") == CLIENTS - AFFORDABLE
    spent = LedgerEntry.objects.filter(project=project).aggregate(s=Sum("su"))["s"]
    assert spent == Decimal(AFFORDABLE)  # never more than allocated: nothing left, not below
    assert LedgerEntry.objects.filter(project=project).count() == AFFORDABLE
    assert SUAllocation.objects.get(project=project).spent_su == Decimal(AFFORDABLE)
