"""Operators' admin for fair share, and the projects pages: bad allocations refused inline with
nothing written, the usage report an allocation committee can read, no project leaked."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create
from projects.models import SUAllocation
from tests.projects.support import job

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def operator(staff):
    client = Client()
    client.force_login(staff)
    return client


def form(project, **changes) -> dict:
    now = timezone.now()
    data = {
        "project": project.id,
        "su": "50",
        "site": "",
        "valid_from_0": f"{now:%Y-%m-%d}",
        "valid_from_1": "00:00:00",
        "valid_to_0": f"{now + timedelta(days=30):%Y-%m-%d}",
        "valid_to_1": "00:00:00",
        "note": "",
    }
    return {**data, **changes}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"valid_to_0": "2000-01-01"}, None, "must end after it starts"),
        ({"su": "-5"}, "su", "greater than or equal to 0"),
        ({"su": "abc"}, "su", "Enter a number"),
    ],
)
def test_a_bad_allocation_is_refused_inline_and_nothing_is_written(
    operator, project, changes, field, words
):
    before = SUAllocation.objects.count()
    response = operator.post("/admin/projects/suallocation/add/", form(project, **changes))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors.get(field or "__all__", [])), errors
    assert SUAllocation.objects.count() == before


def test_an_allocation_cannot_shrink_below_what_was_drawn(operator, project, user):
    offers = offer_set_create(owner=user, data=job(cores=10, hours=3))
    lease_accept(lease_id=offers.leases.get().id, user=user)
    allocation = SUAllocation.objects.get(project=project)
    response = operator.post(
        f"/admin/projects/suallocation/{allocation.id}/change/", form(project, su="10")
    )
    assert response.status_code == 200
    assert "already drawn" in " ".join(response.context["adminform"].form.errors["su"])
    allocation.refresh_from_db()
    assert allocation.su == Decimal(100)


def test_the_usage_report_is_a_csv_per_project_and_site(operator, project, user):
    offers = offer_set_create(owner=user, data=job(cores=4, hours=2))
    lease = offers.leases.get()
    lease_accept(lease_id=lease.id, user=user)
    response = operator.get("/admin/projects/project/report.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_site = {row["site"]: row for row in rows}
    assert by_site["*"]["allocated_su"] == "100.00"
    assert Decimal(by_site["*"]["left_su"]) == 100 - lease.cost_su
    assert Decimal(by_site["edi"]["charged_su"]) == lease.cost_su
    assert Decimal(by_site["edi"]["committed_su"]) + Decimal(by_site["edi"]["used_su"]) == (
        lease.cost_su
    )
    assert by_site["edi"]["pi"] == user.username and by_site["edi"]["leases"] == "1"


def test_the_ledger_is_read_only_in_admin(operator, project):
    assert operator.get("/admin/projects/ledgerentry/add/").status_code == 403


def test_project_pages_for_members_only(project, user, other_user):
    member, stranger = Client(), Client()
    member.force_login(user)
    stranger.force_login(other_user)
    page = member.get("/projects/gaia/")
    assert page.status_code == 200 and b"SU committed" in page.content
    assert b"Gaia DMP" in member.get("/projects/").content
    assert stranger.get("/projects/gaia/").status_code == 404
    assert b"Gaia DMP" not in stranger.get("/projects/").content
