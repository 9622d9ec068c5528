"""Races on real PostgreSQL: many clients compete for the last capacity through the API; the
capacity invariant holds and exactly the feasible number succeed."""

import threading
from collections import Counter

import pytest
from django.db import connection

from bookings.domain.planning.capacity import pools_over_capacity
from bookings.models import Allocation, Lease
from resources.domain.capacity_file import capacity_file_load
from tests.bookings.api.apidata import DAY
from tests.bookings.api.conftest import token_client

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 32
FREE = 4  # cores left on the pool at 08:00-09:00 (and 09:00-10:00 for the extend race)


def race_capacity(*, extra_leases=()) -> None:
    """A 36-core pool of which 32 cores are booked 08:00-09:00 by the operator's lease."""
    capacity_file_load(
        data={
            "sites": [{"slug": "edi", "name": "Edinburgh", "timezone": "Europe/London"}],
            "pools": [
                {
                    "slug": "race",
                    "site": "edi",
                    "kind": "compute",
                    "capacity": {"cores": CLIENTS + FREE, "memory_gib": 1000},
                    "adapter": "simulated",
                }
            ],
            "leases": [
                {
                    "owner": "operator",
                    "phase": "ACCEPTED",
                    "start": f"{DAY}T08:00:00Z",
                    "end": f"{DAY}T09:00:00Z",
                    "allocations": [{"pool": "race", "amounts": {"cores": CLIENTS}}],
                },
                *extra_leases,
            ],
        }
    )


def one_core_at_eight(i: int) -> dict:
    """Job `i`: the racing clients book jobs of their own (the same job asked again would
    supersede its own holds instead of racing for capacity)."""
    return {
        "name": f"job {i}",
        "components": [{"name": "job", "amounts": {"cores": 1}}],
        "duration": "PT1H",
        "start": f"{DAY}T08:00:00Z/{DAY}T08:00:00Z",
        "max_offers": 1,
    }


def in_threads(calls) -> list:
    """Run the calls at once, one thread each; each thread closes its own connection."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i):
        try:
            barrier.wait()
            results[i] = calls[i]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_accepts_racing_for_the_last_capacity(user, settings):
    race_capacity()
    settings.OFFER_HOLD_SECONDS = 0  # every offer's hold has lapsed: accept must re-check
    client = token_client(user)
    offers = []
    settings.OFFER_HOLDS_PER_USER = CLIENTS
    for i in range(CLIENTS):
        response = client.post("/api/v1/offer-sets/", one_core_at_eight(i), format="json")
        offers += [o["id"] for o in response.json()["offers"]]
    assert len(offers) == CLIENTS
    clients = [token_client(user) for _ in offers]
    responses = in_threads(
        [
            lambda c=c, o=o: c.post(f"/api/v1/leases/{o}/accept")
            for c, o in zip(clients, offers, strict=True)
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: FREE, 409: CLIENTS - FREE}
    codes = {r.json()["type"] for r in responses if r.status_code == 409}
    assert codes == {"urn:whencanidothis:problem:no-longer-available"}
    assert Lease.objects.filter(phase="ACCEPTED", owner=user).count() == FREE
    assert pools_over_capacity() == []


def test_offer_sets_racing_for_the_last_capacity(user, settings):
    race_capacity()
    settings.OFFER_HOLDS_PER_USER = CLIENTS
    clients = [token_client(user) for _ in range(CLIENTS)]
    responses = in_threads(
        [
            lambda c=c, i=i: c.post("/api/v1/offer-sets/", one_core_at_eight(i), format="json")
            for i, c in enumerate(clients)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    results = Counter(r.json()["result"] for r in responses)
    assert results == {"YES": FREE, "NO": CLIENTS - FREE}
    held = Allocation.objects.filter(lease__phase="OFFERED", pool__slug="race")
    assert sum(a.cores for a in held) == FREE
    assert pools_over_capacity() == []


def test_extends_racing_for_the_last_capacity(user):
    # 32 one-core leases of the user at 07:00-08:00 want to run until 09:00; the operator's
    # lease leaves FREE cores at 08:00-09:00.
    mine = {
        "owner": "astro",
        "phase": "ACCEPTED",
        "start": f"{DAY}T07:00:00Z",
        "end": f"{DAY}T08:00:00Z",
        "allocations": [{"pool": "race", "amounts": {"cores": 1}}],
    }
    race_capacity(extra_leases=[{**mine, "name": f"job {i}"} for i in range(CLIENTS)])
    leases = list(Lease.objects.filter(owner=user).values_list("id", flat=True))
    assert len(leases) == CLIENTS
    clients = [token_client(user) for _ in leases]
    body = {"end": f"{DAY}T09:00:00Z"}
    responses = in_threads(
        [
            lambda c=c, lease=lease: c.post(f"/api/v1/leases/{lease}/extend", body, format="json")
            for c, lease in zip(clients, leases, strict=True)
        ]
    )
    assert Counter(r.status_code for r in responses) == {200: FREE, 409: CLIENTS - FREE}
    refusals = [r.json() for r in responses if r.status_code == 409]
    assert {(p["type"], p["latest_end"]) for p in refusals} == {
        ("urn:whencanidothis:problem:extension-does-not-fit", f"{DAY}T08:00:00Z")
    }
    assert Lease.objects.filter(owner=user, end=f"{DAY}T09:00:00Z").count() == FREE
    assert pools_over_capacity() == []
