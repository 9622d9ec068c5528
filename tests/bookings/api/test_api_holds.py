"""Holds must not hoard, and a lease cannot be stretched past the policy: declining a set,
a new request superseding the same shape, the per-user cap, the extension's bound."""

import pytest

from bookings.models import Lease, LeaseEvent
from tests.bookings.api.apidata import DAY, problem, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def offer_set(client, **changes) -> dict:
    response = client.post("/api/v1/offer-sets/", worker_request(**changes), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def phases(body: dict) -> list[str]:
    return [Lease.objects.get(id=o["id"]).phase for o in body["offers"]]


def test_decline_releases_every_unaccepted_offer_of_the_set(api, other_api, capacity):
    whole = [{"name": "workers", "amounts": {"cores": 52, "memory_gib": 86}}]
    mine = offer_set(api, components=whole)
    assert len(mine["offers"]) == 2
    # Held: another user is pushed past them.
    assert offer_set(other_api, components=whole, max_offers=1)["offers"][0]["start"] == (
        f"{DAY}T12:00:00Z"
    )
    response = api.post(f"/api/v1/offer-sets/{mine['id']}/decline")
    assert response.status_code == 200
    assert [o["phase"] for o in response.json()["offers"]] == ["REJECTED", "REJECTED"]
    assert phases(mine) == ["REJECTED", "REJECTED"]
    events = LeaseEvent.objects.filter(lease_id__in=[o["id"] for o in mine["offers"]])
    assert sorted(events.values_list("to_phase", "message")) == [
        ("OFFERED", f"offered, held until {mine['expires']}"),
        ("OFFERED", f"offered, held until {mine['expires']}"),
        ("REJECTED", "declined by the owner"),
        ("REJECTED", "declined by the owner"),
    ]
    # Released: the capacity is there again at once.
    again = offer_set(other_api, components=whole, max_offers=1, name="other shape")
    assert again["offers"][0]["start"] == f"{DAY}T08:00:00Z"
    # Declining again changes nothing; an accepted offer is never declined.
    assert api.post(f"/api/v1/offer-sets/{mine['id']}/decline").status_code == 200
    assert events.count() == 4


def test_decline_keeps_the_accepted_offer_and_hides_other_users_sets(api, other_api, capacity):
    body = offer_set(api)
    first, second = (o["id"] for o in body["offers"])
    assert api.post(f"/api/v1/leases/{first}/accept").status_code == 200
    assert other_api.post(f"/api/v1/offer-sets/{body['id']}/decline").status_code == 404
    assert api.post(f"/api/v1/offer-sets/{body['id']}/decline").status_code == 200
    assert [Lease.objects.get(id=i).phase for i in (first, second)] == ["ACCEPTED", "REJECTED"]
    response = api.post("/api/v1/offer-sets/00000000-0000-0000-0000-000000000000/decline")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_a_new_request_of_the_same_shape_supersedes_the_older_holds(api, capacity):
    whole = [{"name": "workers", "amounts": {"cores": 52, "memory_gib": 86}}]
    first = offer_set(api, components=whole, max_offers=1)
    assert first["offers"][0]["start"] == f"{DAY}T08:00:00Z"
    # The same job (another window and count): not pushed later by the user's own hold.
    window = f"{DAY}T08:00:00Z/{DAY}T13:00:00Z"
    second = offer_set(api, components=whole, max_offers=2, start=window)
    assert [o["start"] for o in second["offers"]] == [f"{DAY}T08:00:00Z", f"{DAY}T10:00:00Z"]
    assert phases(first) == ["REJECTED"]
    event = LeaseEvent.objects.filter(lease_id=first["offers"][0]["id"]).latest("id")
    assert event.message == "declined: superseded by a new request of the same shape"
    # Another shape or another name is another job: both are held.
    half = offer_set(api, components=[{"name": "workers", "amounts": {"cores": 1}}])
    named = offer_set(api, components=[{"name": "workers", "amounts": {"cores": 1}}], name="b")
    assert phases(second) == ["OFFERED", "OFFERED"]
    assert phases(half) == ["OFFERED"]  # 12:00, after the two whole-pool holds
    assert phases(named) == ["OFFERED"]


def test_the_holds_of_one_user_are_capped(api, other_api, capacity, settings):
    settings.OFFER_HOLDS_PER_USER = 3

    def ask(cores):
        request = worker_request(components=[{"name": "w", "amounts": {"cores": cores}}])
        return api.post("/api/v1/offer-sets/", request, format="json")

    assert len(ask(1).json()["offers"]) == 2
    capped = ask(2).json()
    assert len(capped["offers"]) == 1
    assert capped["messages"] == [
        {
            "kind": "holds",
            "path": "max_offers",
            "message": "1 offers at most: you already hold 2 of the 3 one user may hold at once.",
        }
    ]
    response = ask(3)
    assert response.status_code == 409
    body = response.json()
    first_lapse = body.pop("next_lapse")
    assert body == problem(
        409,
        "too-many-holds",
        "You already hold 3 offers, the most one user may hold at once (3): accept or decline"
        f" some first; the first lapses at {first_lapse}.",
        "max_offers: no more offers may be held (at most 3)",
        errors=[("max_offers", "no more offers may be held (at most 3)")],
        holds=3,
        limit=3,
    )
    # Refused before anything is written: every hold is still there.
    assert Lease.objects.filter(owner__username="astro", phase="OFFERED").count() == 3
    # The same job asked again at the cap replaces its own holds instead of being refused.
    again = ask(2).json()
    assert (len(again["offers"]), phases(capped)) == (1, ["REJECTED"])
    capped = again
    assert len(offer_set(other_api)["offers"]) == 2  # per user: others are not affected
    api.post(f"/api/v1/offer-sets/{capped['id']}/decline")
    assert ask(3).status_code == 201


def test_an_extension_past_the_longest_lease_is_400_and_changes_nothing(api, capacity):
    lease_id = offer_set(api)["offers"][0]["id"]
    assert api.post(f"/api/v1/leases/{lease_id}/accept").status_code == 200
    before = Lease.objects.get(id=lease_id)
    message = (
        "may be at most 2030-01-21T08:00:00Z: a lease lasts at most 14 days and ends at most"
        " 3660 days ahead"
    )
    for end in ("9999-12-31T23:59:59Z", "2030-01-21T08:01:00Z", "2100-01-01T00:00:00Z"):
        response = api.post(f"/api/v1/leases/{lease_id}/extend", {"end": end}, format="json")
        assert response.status_code == 400, end
        assert response.json() == problem(
            400,
            "invalid",
            "The lease may end at 2030-01-21T08:00:00Z at the latest.",
            f"end: {message}",
            errors=[("end", message)],
            latest_end="2030-01-21T08:00:00Z",
        )
    after = Lease.objects.get(id=lease_id)
    assert (after.end, after.version) == (before.end, before.version)


def test_extending_to_the_same_end_is_a_no_op(api, capacity):
    lease_id = offer_set(api)["offers"][0]["id"]
    assert api.post(f"/api/v1/leases/{lease_id}/accept").status_code == 200
    before = api.get(f"/api/v1/leases/{lease_id}/").json()
    response = api.post(f"/api/v1/leases/{lease_id}/extend", {"end": before["end"]}, format="json")
    assert response.status_code == 200
    assert response.json() == before  # same version, no new event
