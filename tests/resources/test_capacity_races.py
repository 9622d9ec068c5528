"""An offer set (and its accept) racing a capacity change for the same pool, on real
PostgreSQL: whatever the interleaving, no pool ends over capacity."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.domain.errors import DomainError
from bookings.domain.isotime import iso
from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.planning.capacity import pools_over_capacity
from bookings.models import Lease
from resources.domain.capacity import ADD, capacity_apply, capacity_edit
from resources.models import Pool, Site
from tests.bookings.api.test_api_races import in_threads
from tests.resources.capacity_support import hour

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 12


def ask_and_accept(owner, i: int):
    data = {
        "name": f"job {i}",
        "components": [{"name": "c", "kind": "compute", "amounts": {"cores": 2}}],
        "duration": "PT2H",
        "start": f"{iso(hour(10))}/{iso(hour(16))}",
        "site": "edi",
        "max_offers": 1,
        "flex": {"after": "PT4H"} if i % 2 else None,
    }
    offers = offer_set_create(owner=owner, data={k: v for k, v in data.items() if v is not None})
    lease = offers.leases.first()
    if lease is None:
        return "no"
    try:
        lease_accept(lease_id=lease.id, user=owner)
    except DomainError as error:
        return error.code
    return "accepted"


def drop(pool, cores: int):
    edit = capacity_edit(
        action=ADD,
        pool=pool,
        data={"start": iso(hour(9)), "end": iso(hour(13)), "capacity": {"cores": cores}},
    )
    return capacity_apply(edit)


@pytest.mark.parametrize("cores", [0, 6])
def test_offer_sets_racing_a_capacity_change_never_end_over_capacity(transactional_db, cores):
    site = Site.objects.create(slug="edi", name="Edinburgh")
    pool = Pool.objects.create(slug="edi-a", site=site, kind="compute", cores=16, memory_gib=64)
    owners = [get_user_model().objects.create_user(f"u{i}") for i in range(CLIENTS)]
    calls = [lambda i=i: ask_and_accept(owners[i], i) for i in range(CLIENTS)]
    calls.insert(CLIENTS // 2, lambda: drop(pool, cores))
    results = in_threads(calls)
    impact = results[CLIENTS // 2]
    assert impact.applied
    assert pools_over_capacity(since=timezone.now()) == []
    live = Lease.objects.filter(phase="ACCEPTED", displaced=False)
    # every accepted lease that is not displaced still has its allocation, inside capacity
    assert all(lease.allocations.exists() for lease in live)
    assert None not in results  # no thread died
    assert sum(r == "accepted" for r in results) >= CLIENTS // 2
