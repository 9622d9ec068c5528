"""The REST side of fair share: offers carry their cost, a NO names the limit, charging a
foreign project is 403 naming it, a token bound to a project, /api/v1/projects/ and usage."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.models import ApiToken
from projects.models import PolicyLimit, Project
from tests.bookings.api.conftest import token_client
from tests.projects.support import job

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
PROBLEM = "application/problem+json"


def test_offers_carry_their_cost_and_accept_charges_it(project, user):
    api = token_client(user)
    response = api.post("/api/v1/offer-sets/", job(cores=4, hours=2), format="json")
    assert response.status_code == 201, response.json()
    offer = response.json()["offers"][0]
    assert Decimal(offer["cost"]["su"]) >= 8 and offer["cost"]["charged_su"] == "0.00"
    assert response.json()["request"]["project"] == "gaia"
    accepted = api.post(f"/api/v1/leases/{offer['id']}/accept").json()
    assert accepted["cost"]["charged_su"] == offer["cost"]["su"]
    assert accepted["project"] == "gaia"
    usage = api.get("/api/v1/projects/gaia/usage").json()
    assert Decimal(usage["committed_su"]) + Decimal(usage["used_su"]) == Decimal(
        offer["cost"]["su"]
    )
    assert Decimal(usage["left_su"]) == 100 - Decimal(offer["cost"]["su"])
    assert usage["leases"][0]["id"] == offer["id"]
    assert usage["series"] and all(set(p) >= {"used_su", "committed_su"} for p in usage["series"])
    (listed,) = api.get("/api/v1/projects/").json()
    assert listed["id"] == "gaia" and listed["role"] == "pi" and listed["default"] is True


def test_over_budget_accept_is_409_naming_the_project(project, user):
    api = token_client(user)
    ids = [
        api.post("/api/v1/offer-sets/", job(cores=30, hours=2, name=f"j{i}"), format="json").json()[
            "offers"
        ][0]["id"]
        for i in range(2)
    ]
    assert api.post(f"/api/v1/leases/{ids[0]}/accept").status_code == 200
    response = api.post(f"/api/v1/leases/{ids[1]}/accept")
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["project"] == "gaia" and "gaia" in body["title"] and body["needs_su"]


def test_a_policy_no_names_the_limit(project, user):
    PolicyLimit.objects.create(project=project, max_duration=timedelta(hours=1))
    response = token_client(user).post("/api/v1/offer-sets/", job(hours=2), format="json")
    body = response.json()
    assert response.status_code == 201 and body["result"] == "NO"
    assert {"kind": "policy", "path": "", "message": "a lease lasts at most 1 hour"} in body[
        "messages"
    ]


def test_charging_a_project_one_is_not_in_is_403_naming_it(project, other_user):
    response = token_client(other_user).post(
        "/api/v1/offer-sets/", job(project="gaia"), format="json"
    )
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["errors"][0]["path"] == "project" and "gaia" in body["errors"][0]["message"]


@pytest.mark.parametrize("bad", [3, "", ["gaia"], "x" * 51])
def test_a_malformed_project_is_400_naming_it(project, user, bad):
    response = token_client(user).post("/api/v1/offer-sets/", job(project=bad), format="json")
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["project"]


def test_a_token_bound_to_a_project_charges_it_and_no_other(project, user):
    other = Project.objects.create(slug="other", name="Other")
    other.memberships.create(user=user)
    token, key = ApiToken.issue(user=user, name="platform")
    token.project = other
    token.save()
    api = token_client(user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = api.post("/api/v1/offer-sets/", job(), format="json").json()
    assert body["request"]["project"] == "other"
    refused = api.post("/api/v1/offer-sets/", job(project="gaia"), format="json")
    assert refused.status_code == 403
    assert "charges project 'other' only" in refused.json()["errors"][0]["message"]


def test_someone_elses_project_is_404(project, other_user):
    api = token_client(other_user)
    assert api.get("/api/v1/projects/gaia/usage").status_code == 404
    assert api.get("/api/v1/projects/gaia/").status_code == 404
    assert api.get("/api/v1/projects/").json() == []
