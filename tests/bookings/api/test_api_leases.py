"""Leases: list, detail (ETag), accept / reject / cancel / extend, holds, ownership."""

from datetime import timedelta

import pytest
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.models import Lease
from tests.bookings.api.apidata import DAY, allocation, lease_json, problem, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def offers(client, **changes) -> list[str]:
    response = client.post("/api/v1/offer-sets/", worker_request(**changes), format="json")
    assert response.status_code == 201, response.json()
    return [o["id"] for o in response.json()["offers"]]


def accepted(client, **changes) -> str:
    lease_id = offers(client, **changes)[0]
    assert client.post(f"/api/v1/leases/{lease_id}/accept").status_code == 200
    return lease_id


def test_lease_detail_has_events_and_a_weak_etag(api, capacity):
    first, second = offers(api)
    response = api.post(f"/api/v1/leases/{first}/accept", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 200
    assert response["ETag"] == 'W/"2"'
    body = response.json()
    offer_set = str(Lease.objects.get(id=first).offer_set_id)
    events = body["events"]
    held = events[0]["message"]
    assert held.startswith("offered, held until ")
    assert body == {
        **lease_json(first, phase="ACCEPTED", start="08:00", end="10:00"),
        "name": "crossmatch",
        "offer_set": offer_set,
        "project": None,
        "version": 2,
        "events": [
            {
                "time": events[0]["time"],
                "from_phase": "",
                "to_phase": "OFFERED",
                "actor_kind": "user",
                "actor": "astro",
                "message": held,
            },
            {
                "time": events[1]["time"],
                "from_phase": "OFFERED",
                "to_phase": "ACCEPTED",
                "actor_kind": "user",
                "actor": "astro",
                "message": "accepted",
            },
        ],
    }
    again = api.get(f"/api/v1/leases/{first}/")
    assert (again.status_code, again["ETag"], again.json()) == (200, 'W/"2"', body)
    sibling = api.get(f"/api/v1/leases/{second}/").json()
    assert (sibling["phase"], sibling["events"][-1]["message"]) == (
        "REJECTED",
        "another offer of its set was accepted",
    )


def test_a_stale_if_match_is_412_and_a_malformed_one_400(api, capacity):
    lease_id = offers(api)[0]
    response = api.post(f"/api/v1/leases/{lease_id}/accept", HTTP_IF_MATCH='W/"7"')
    assert response.status_code == 412
    assert response.json() == problem(
        412,
        "precondition-failed",
        "The lease changed since you read it; read it again.",
        version=1,
    )
    response = api.post(f"/api/v1/leases/{lease_id}/accept", HTTP_IF_MATCH="soon")
    assert response.status_code == 400
    assert response.json() == problem(
        400,
        "invalid",
        "The If-Match header is not valid.",
        'If-Match: must be one entity tag such as W/"3"',
        [("If-Match", 'must be one entity tag such as W/"3"')],
    )
    assert api.post(f"/api/v1/leases/{lease_id}/accept", HTTP_IF_MATCH='"1"').status_code == 200
    assert Lease.objects.get(id=lease_id).phase == "ACCEPTED"


def test_reject_and_cancel_and_their_illegal_moves(api, capacity):
    first, second = offers(api)
    response = api.post(f"/api/v1/leases/{second}/cancel")
    assert response.status_code == 409
    assert response.json() == problem(
        409, "illegal-transition", "An offer is rejected, not cancelled.", phase="OFFERED"
    )
    response = api.post(f"/api/v1/leases/{second}/reject")
    assert (response.status_code, response.json()["phase"]) == (200, "REJECTED")
    response = api.post(f"/api/v1/leases/{second}/accept")
    assert response.status_code == 409
    assert response.json() == problem(
        409,
        "illegal-transition",
        "Only an offer can be accepted; this lease is REJECTED.",
        phase="REJECTED",
    )
    api.post(f"/api/v1/leases/{first}/accept")
    response = api.post(f"/api/v1/leases/{first}/reject")
    assert response.json() == problem(
        409,
        "illegal-transition",
        "A lease in phase ACCEPTED cannot become REJECTED.",
        phase="ACCEPTED",
    )
    response = api.post(f"/api/v1/leases/{first}/cancel", HTTP_IF_MATCH='W/"2"')
    assert (response.status_code, response["ETag"]) == (200, 'W/"3"')
    assert response.json()["phase"] == "CANCELLED"


def test_extend_and_shorten(api, capacity):
    lease_id = accepted(api)
    response = api.post(
        f"/api/v1/leases/{lease_id}/extend", {"end": f"{DAY}T13:00:00Z"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    end = f"{DAY}T13:00:00Z"
    assert (body["end"], body["allocations"], body["version"]) == (
        end,
        [allocation(f"{DAY}T08:00:00Z", end)],
        3,
    )
    assert body["events"][-1]["message"] == f"extended: end {DAY}T10:00:00Z → {end}"
    response = api.post(
        f"/api/v1/leases/{lease_id}/extend", {"end": f"{DAY}T09:00:00+00:00"}, format="json"
    )
    assert (response.status_code, response.json()["end"]) == (200, f"{DAY}T09:00:00Z")


def test_an_extension_that_does_not_fit_is_409_with_the_latest_end(api, capacity):
    lease_id = accepted(api)
    response = api.post(
        f"/api/v1/leases/{lease_id}/extend", {"end": f"{DAY}T21:00:00Z"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == problem(
        409,
        "extension-does-not-fit",
        "The extension does not fit: other bookings or less capacity follow.",
        latest_end=f"{DAY}T20:00:00Z",
    )
    assert Lease.objects.get(id=lease_id).end.isoformat() == f"{DAY}T10:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [("end", "is required (an ISO 8601 date-time with a time zone)")]),
        (
            {"end": "tomorrow"},
            [("end", "'tomorrow' is not an ISO 8601 date-time with a time zone")],
        ),
        (
            {"end": 5, "until": 1},
            [
                ("until", "is not a known field"),
                ("end", "5 is not an ISO 8601 date-time with a time zone"),
            ],
        ),
        ([1], [("", "must be a JSON object")]),
        ({"end": f"{DAY}T07:00:00Z"}, [("end", "must be after the start and now")]),
    ],
)
def test_bad_extend_bodies_are_400(api, capacity, body, errors):
    lease_id = accepted(api)
    response = api.post(f"/api/v1/leases/{lease_id}/extend", body, format="json")
    assert response.status_code == 400
    detail = "; ".join(f"{p}: {m}" if p else m for p, m in errors)
    title = (
        "The new end must be after the start and in the future."
        if body == {"end": f"{DAY}T07:00:00Z"}
        else "The request is not valid."
    )
    assert response.json() == problem(400, "invalid", title, detail, errors)


def test_another_users_lease_cannot_be_read_or_changed(api, other_api, capacity):
    lease_id = offers(api)[0]
    not_found = problem(404, "not-found", "No such lease.")
    assert other_api.get(f"/api/v1/leases/{lease_id}/").json() == problem(
        404, "not-found", "Not found.", "Not found."
    )
    for action in ("accept", "reject", "cancel"):
        response = other_api.post(f"/api/v1/leases/{lease_id}/{action}")
        assert (response.status_code, response.json()) == (404, not_found)
    response = other_api.post(
        f"/api/v1/leases/{lease_id}/extend", {"end": f"{DAY}T11:00:00Z"}, format="json"
    )
    assert (response.status_code, response.json()) == (404, not_found)
    assert Lease.objects.get(id=lease_id).phase == "OFFERED"
    assert other_api.get("/api/v1/leases/").json()["count"] == 0


def test_lease_list_is_the_callers_and_filters(api, other_api, staff_api, capacity):
    first, second = offers(api)
    api.post(f"/api/v1/leases/{first}/accept")
    others = offers(other_api, start=f"{DAY}T14:00:00Z/{DAY}T16:00:00Z", max_offers=1)
    response = api.get("/api/v1/leases/")
    expires = Lease.objects.get(id=second).expires.isoformat().replace("+00:00", "Z")
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            lease_json(first, phase="ACCEPTED", start="08:00", end="10:00"),
            lease_json(second, phase="REJECTED", start="10:00", end="12:00", expires=expires),
        ],
    }
    assert [r["id"] for r in api.get("/api/v1/leases/?phase=accepted").json()["results"]] == [first]
    assert api.get("/api/v1/leases/?site=cam").json()["count"] == 0
    window = f"start={DAY}T10:00:00Z&end={DAY}T11:00:00Z".replace("+", "%2B")
    assert [r["id"] for r in api.get(f"/api/v1/leases/?{window}").json()["results"]] == [second]
    everyone = staff_api.get("/api/v1/leases/?limit=2")
    assert everyone.json()["count"] == 3
    assert everyone.json()["next"] == "http://testserver/api/v1/leases/?limit=2&offset=2"
    assert [r["id"] for r in staff_api.get("/api/v1/leases/?offset=2").json()["results"]] == others


def test_bad_lease_filters_are_400(api, capacity):
    response = api.get("/api/v1/leases/?phase=DONE&start=yesterday")
    assert response.status_code == 400
    phases = ", ".join(
        [
            "OFFERED",
            "ACCEPTED",
            "REJECTED",
            "EXPIRED",
            "WAITING",
            "PREPARING",
            "AVAILABLE",
            "RUNNING",
            "RELEASING",
            "COMPLETED",
            "CANCELLED",
            "FAILED",
        ]
    )
    errors = [
        ("phase", f"unknown phase 'DONE' (one of {phases})"),
        ("start", "'yesterday' is not an ISO 8601 date-time with a time zone"),
    ]
    assert response.json() == problem(
        400,
        "invalid",
        "A query parameter is not valid.",
        "; ".join(f"{p}: {m}" for p, m in errors),
        errors,
    )


def test_a_lapsed_hold_can_still_be_accepted_when_it_fits(api, capacity, settings):
    settings.OFFER_HOLD_SECONDS = 0
    lease_id = offers(api)[0]
    response = api.post(f"/api/v1/leases/{lease_id}/accept")
    assert response.status_code == 200
    assert response.json()["events"][-1]["message"] == (
        "accepted after its hold lapsed; capacity re-checked"
    )


def test_a_lapsed_hold_taken_by_another_is_409_with_fresh_offers(
    api, other_api, capacity, settings
):
    whole_pool = [{"name": "workers", "amounts": {"cores": 52, "memory_gib": 86}}]
    settings.OFFER_HOLD_SECONDS = 0
    mine = offers(api, components=whole_pool, max_offers=1)[0]
    settings.OFFER_HOLD_SECONDS = 300
    theirs = accepted(other_api, components=whole_pool, max_offers=1)
    assert Lease.objects.get(id=theirs).start == Lease.objects.get(id=mine).start
    response = api.post(f"/api/v1/leases/{mine}/accept")
    assert response.status_code == 409
    body = response.json()
    fresh = body.pop("fresh_offer_set")
    assert body == problem(
        409,
        "no-longer-available",
        "The hold on this offer expired and its resources were booked since.",
    )
    (offer,) = fresh["offers"]
    everything = allocation(f"{DAY}T10:00:00Z", f"{DAY}T12:00:00Z", cores=52, memory_gib=86)
    assert (fresh["result"], offer["phase"], offer["start"], offer["allocations"]) == (
        "YES",
        "OFFERED",
        f"{DAY}T10:00:00Z",
        [everything],
    )
    assert api.get(f"/api/v1/offer-sets/{fresh['id']}/").json() == fresh
    assert Lease.objects.get(id=mine).phase == "OFFERED"


def test_unknown_urls_under_api_are_problems(api):
    response = api.get("/api/v1/leases/not-a-uuid/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == problem(
        404, "not-found", "Not found.", "There is no API endpoint at /api/v1/leases/not-a-uuid/."
    )


def test_a_retried_accept_replays_the_first_answer(api, capacity):
    lease_id = offers(api)[0]
    headers = {"HTTP_IDEMPOTENCY_KEY": "accept-once"}
    first = api.post(f"/api/v1/leases/{lease_id}/accept", **headers)
    again = api.post(f"/api/v1/leases/{lease_id}/accept", **headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (again.json(), again["ETag"]) == (first.json(), 'W/"2"')
    assert again["Idempotent-Replayed"] == "true"
    unkeyed = api.post(f"/api/v1/leases/{lease_id}/accept")
    assert unkeyed.status_code == 409


def test_staff_can_change_anyones_lease(api, staff_api, capacity):
    lease_id = accepted(api)
    response = staff_api.post(
        f"/api/v1/leases/{lease_id}/extend",
        {"end": f"{DAY}T11:00:00Z"},
        format="json",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.json() == problem(
        412,
        "precondition-failed",
        "The lease changed since you read it; read it again.",
        version=2,
    )
    response = staff_api.post(f"/api/v1/leases/{lease_id}/cancel", HTTP_IF_MATCH='W/"2"')
    assert (response.status_code, response.json()["events"][-1]["actor"]) == (200, "operator")


def test_representations_nobody_serves_are_406_problems(api, capacity):
    response = api.get("/api/v1/leases/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json() == problem(
        406,
        "not-acceptable",
        "No acceptable representation.",
        "Could not satisfy the request Accept header.",
    )
    response = api.get("/api/v1/calendar.ics", HTTP_ACCEPT="application/json")
    assert (response.status_code, response["Content-Type"]) == (406, "application/problem+json")


def test_release_early_ends_a_started_lease_now(api, capacity):
    lease_id = accepted(api)
    response = api.post(f"/api/v1/leases/{lease_id}/release")
    assert response.status_code == 409
    assert response.json() == problem(
        409,
        "illegal-transition",
        "Only a lease that has started can be released early; this one is ACCEPTED"
        " (cancel a lease that has not started).",
        phase="ACCEPTED",
    )
    # As the life cycle would leave it: started an hour ago, resources available.
    now = timezone.now()
    lease = Lease.objects.get(id=lease_id)
    Lease.objects.filter(id=lease_id).update(
        phase="AVAILABLE",
        start=now - timedelta(hours=1),
        preparation_start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
    )
    lease.allocations.update(
        period=DateTimeTZRange(now - timedelta(hours=1), now + timedelta(hours=1), "[)")
    )
    response = api.post(f"/api/v1/leases/{lease_id}/release", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 412
    version = lease.version
    response = api.post(f"/api/v1/leases/{lease_id}/release", HTTP_IF_MATCH=f'W/"{version}"')
    assert response.status_code == 200
    body = response.json()
    assert body["phase"] == "RELEASING"
    released_at = Lease.objects.get(id=lease_id).allocations.get().end
    assert now <= released_at <= timezone.now()
    assert body["events"][-1]["to_phase"] == "RELEASING"
