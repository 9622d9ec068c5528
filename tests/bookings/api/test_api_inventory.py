"""Sites, pools, availability, authentication and the iCal feed."""

import icalendar
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from bookings.models import ApiToken, Profile
from tests.bookings.api.apidata import DAY, problem, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

WORKERS = {
    "slug": "edi-workers-1",
    "site": "edi",
    "kind": "compute",
    "enabled": True,
    "adapter": "simulated",
    "description": "",
    "capacity": {"cores": 52, "memory_gib": 86, "gpus": 0},
    "capacity_changes": [
        {
            "start": f"{DAY}T20:00:00Z",
            "end": f"{DAY}T22:00:00Z",
            "capacity": {"cores": 0, "memory_gib": 0},
            "reason": "maintenance",
        }
    ],
}
SCRATCH = {
    "slug": "edi-scratch",
    "site": "edi",
    "kind": "storage",
    "enabled": True,
    "adapter": "simulated",
    "description": "",
    "capacity": {"size_gib": 1000},
    "capacity_changes": [],
}


def test_sites_and_pools(api, capacity):
    assert api.get("/api/v1/sites/").json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "slug": "edi",
                "name": "Edinburgh",
                "timezone": "Europe/London",
                "description": "",
                "pools": ["edi-scratch", "edi-workers-1"],
            }
        ],
    }
    assert api.get("/api/v1/pools/").json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [SCRATCH, WORKERS],
    }


def test_availability_is_a_step_function_of_free_capacity(api, capacity):
    lease_id = api.post("/api/v1/offer-sets/", worker_request(), format="json").json()["offers"][0]
    api.post(f"/api/v1/leases/{lease_id}/accept")
    response = api.get(
        f"/api/v1/pools/edi-workers-1/availability?start={DAY}T06:00:00Z&end={DAY}T23:00:00Z"
    )
    assert response.status_code == 200

    def segment(start, end, cores, memory_gib):
        free = {"cores": cores, "memory_gib": memory_gib, "gpus": 0}
        return {"start": f"{DAY}T{start}:00Z", "end": f"{DAY}T{end}:00Z", "free": free}

    # The accepted lease takes half 08-10; its sibling offer still holds the other half 10-12.
    assert response.json() == [
        segment("06:00", "08:00", 52, 86),
        segment("08:00", "12:00", 26, 43),
        segment("12:00", "20:00", 52, 86),
        segment("20:00", "22:00", 0, 0),
        segment("22:00", "23:00", 52, 86),
    ]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("start=now", [("start", "'now' is not an ISO 8601 date-time with a time zone")]),
        (f"start={DAY}T10:00:00Z&end={DAY}T09:00:00Z", [("end", "must be after start")]),
        (
            "start=2030-01-01T00:00:00Z&end=2032-01-01T00:00:00Z",
            [("end", "the window may be at most 366 days long")],
        ),
    ],
)
def test_bad_availability_windows_are_400(api, capacity, query, errors):
    response = api.get(f"/api/v1/pools/edi-workers-1/availability?{query}")
    assert response.status_code == 400
    title = (
        "A query parameter is not valid."
        if errors[0][0] == "start"
        else "The availability window is not valid."
    )
    detail = "; ".join(f"{p}: {m}" for p, m in errors)
    assert response.json() == problem(400, "invalid", title, detail, errors)


def test_an_unknown_pool_is_404(api, capacity):
    response = api.get("/api/v1/pools/nowhere/availability")
    assert (response.status_code, response.json()) == (
        404,
        problem(404, "not-found", "Not found.", "Not found."),
    )


def test_without_credentials_the_api_answers_401_with_the_scheme(capacity):
    response = APIClient().get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == problem(
        401,
        "not-authenticated",
        "Authentication is required.",
        "Authentication credentials were not provided.",
    )


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token wrong-key", "The token is not valid."),
        ("Token a b", "The Authorization header must be 'Token <key>' with one key."),
        ("Token", "The Authorization header must be 'Token <key>' with one key."),
    ],
)
def test_a_wrong_token_is_401(capacity, header, detail):
    response = APIClient().get("/api/v1/sites/", HTTP_AUTHORIZATION=header)
    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
    assert response.json() == problem(
        401, "authentication-failed", "Authentication is required.", detail
    )


def test_a_token_of_an_inactive_user_is_401(user, capacity):
    _, key = ApiToken.issue(user=user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    response = APIClient().get("/api/v1/sites/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401


def test_a_token_authenticates_and_records_its_use(user, capacity):
    token, key = ApiToken.issue(user=user)
    response = APIClient().get("/api/v1/sites/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used is not None


def test_session_auth_needs_csrf_for_posts(user, capacity):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/sites/").status_code == 200
    response = client.post("/api/v1/offer-sets/", worker_request(), format="json")
    assert response.status_code == 403
    assert response.json() == problem(
        403,
        "permission-denied",
        "You may not do this.",
        "CSRF Failed: CSRF cookie not set.",
    )


def test_the_calendar_feed_lists_the_owners_bookings(api, user, other_api, capacity, settings):
    # UIDs name the service's host (SITE_URL), whatever host the request named.
    settings.SITE_URL = "https://broker.example.org"
    first, second = (
        o["id"]
        for o in api.post("/api/v1/offer-sets/", worker_request(), format="json").json()["offers"]
    )
    api.post(f"/api/v1/leases/{first}/accept")
    other_api.post("/api/v1/offer-sets/", worker_request(), format="json")
    token = Profile.objects.create(user=user).ical_token
    response = APIClient().get(f"/api/v1/calendar.ics?token={token}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    events = [
        {
            "uid": str(e["uid"]),
            "summary": str(e["summary"]),
            "start": e.decoded("dtstart").isoformat(),
            "end": e.decoded("dtend").isoformat(),
            "status": str(e["status"]),
            "sequence": e["sequence"],
            "location": str(e["location"]),
            "description": str(e["description"]),
        }
        for e in calendar.walk("VEVENT")
    ]
    assert events == [
        {
            "uid": f"{first}@broker.example.org",
            "summary": "crossmatch (edi)",
            "start": f"{DAY}T08:00:00+00:00",
            "end": f"{DAY}T10:00:00+00:00",
            "status": "CONFIRMED",
            "sequence": 2,
            "location": "Edinburgh",
            "description": "Phase: ACCEPTED\nworkers[0] on edi-workers-1: cores 26, memory_gib 43",
        }
    ]
    assert str(second) not in response.content.decode()
    assert api.get("/api/v1/calendar.ics").content == response.content


def test_calendar_without_a_valid_token_is_a_problem(capacity):
    response = APIClient().get("/api/v1/calendar.ics?token=guess")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == problem(404, "not-found", "No calendar has this token.")
    response = APIClient().get("/api/v1/calendar.ics")
    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
    assert response.json() == problem(
        401,
        "not-authenticated",
        "Authentication is required.",
        "Give the feed's token (?token=) or authenticate.",
    )


def test_schema_and_docs_are_served_without_a_cdn(capacity):
    client = APIClient()
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "WhenCanIDoThis? API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
