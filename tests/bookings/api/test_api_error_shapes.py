"""Every answer under /api/ is problem+json and never a server error: unknown paths (control
characters included), every method, every kind of caller, CSRF refusals, the debug pages and a
failing plain view (issue 11, defect 16)."""

import uuid

import pytest
from rest_framework.test import APIClient

from bookings.models import ApiToken

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

LEASE = uuid.uuid4()
PATHS = [
    "/api/",
    "/api/nope",
    "/api/v1/",
    "/api/v1/sites",
    "/api/v1/sites/extra/",
    "/api/v1/offer-sets",
    "/api/v1/offer-sets/not-a-uuid/",
    f"/api/v1/offer-sets/{LEASE}/",
    "/api/v1/leases/not-a-uuid/",
    f"/api/v1/leases/{LEASE}/",
    f"/api/v1/leases/{LEASE}/accept",
    f"/api/v1/leases/{LEASE}/accept/",
    f"/api/v1/leases/{LEASE}/extend/",
    "/api/v1/pools/edi-workers-1/availability/",
    "/api/v1/%0a",
    "/api/v1/leases/%0d%0a/",
    "/api/v1/%01%02%1b%7f",
    "/api/v1/%00",
    "/api/v1/%e2%80%8b%ff%fe",
    "/api/v1/sites/%0a",
    "/api/" + "x" * 5000,
    "/api/v1/sites/?limit=%00",
    "/api/schema/extra",
]
METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]


def clients(user):
    anonymous = APIClient(enforce_csrf_checks=True)
    token = APIClient(enforce_csrf_checks=True)
    token.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.issue(user=user)[1]}")
    wrong = APIClient(enforce_csrf_checks=True)
    wrong.credentials(HTTP_AUTHORIZATION="Token wrong")
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(user)
    # a token caller whose browser also sends a session cookie
    both = APIClient(enforce_csrf_checks=True)
    both.force_login(user)
    both.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.issue(user=user)[1]}")
    return {"anonymous": anonymous, "token": token, "wrong token": wrong, "session": session,
            "token and session": both}  # fmt: skip


def assert_problem(response, where):
    assert response.status_code < 500, (where, response.status_code, response.content[:300])
    assert response.status_code >= 400 or response.status_code == 200, where
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json", (
            where,
            response.content[:300],
        )
        if where[1] != "head":
            body = response.json()
            assert body["status"] == response.status_code, where
            assert {"type", "title", "status", "detail", "errors"} <= set(body), where


@pytest.mark.parametrize("debug", [False, True])
def test_every_path_method_and_caller_gets_a_problem(user, capacity, settings, debug):
    settings.DEBUG = debug
    for kind, client in clients(user).items():
        for path in PATHS:
            for method in METHODS:
                body = {} if method in ("post", "put", "patch") else None
                response = getattr(client, method)(
                    path, body, format="json" if body is not None else None
                )
                assert_problem(response, (kind, method, path))


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("token", 404, "not-found"), ("session", 404, "not-found"), ("anonymous", 404, "not-found")],
)
def test_unmatched_paths_are_404_not_a_csrf_refusal(user, kind, status, code):
    client = clients(user)[kind]
    for method in ("post", "put", "patch", "delete"):
        for path in ("/api/v1/nope/", f"/api/v1/leases/{LEASE}/accept/", "/api/v1/%0a"):
            response = getattr(client, method)(path)
            assert (response.status_code, response.json()["type"]) == (
                status,
                f"urn:whencanidothis:problem:{code}",
            ), (method, path)


def test_a_csrf_refusal_from_django_itself_is_a_problem(user, settings):
    """Django's CSRF check on a non-DRF view under /api/ (none exists but the catch-all,
    which is exempt): a view of the test URLconf that is not exempt shows the rewrite."""
    settings.ROOT_URLCONF = "tests.bookings.api.boom_urls"
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/boom")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "urn:whencanidothis:problem:permission-denied"
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize("debug", [False, True])
def test_a_failing_plain_view_is_a_500_problem(user, settings, debug):
    settings.ROOT_URLCONF = "tests.bookings.api.boom_urls"
    settings.DEBUG = debug
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:whencanidothis:problem:server-error",
        "title": "Something went wrong on our side.",
        "status": 500,
        "detail": "The error was logged; please report it with the time of the request.",
        "errors": [],
    }


def test_errors_outside_api_are_left_alone(user, settings):
    settings.ROOT_URLCONF = "tests.bookings.api.boom_urls"
    response = APIClient().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
