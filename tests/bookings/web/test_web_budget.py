"""The project page's budget in Chromium (issue 15): book the Gaia template, accept, see the
price charged as committed on the chart; cancel, see it given back. In UTC and in Chicago."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from bookings.choices import Phase
from bookings.models import Lease
from projects.domain.ledger import project_left
from projects.models import Project

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace(" SU", ""))


@pytest.mark.parametrize("zone", ["UTC", "America/Chicago"])
def test_the_budget_chart_after_booking_and_cancelling(page, log_in, shot, zone):
    log_in(page)
    page.goto("/profile/")
    page.get_by_label("Your time zone").select_option(zone)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(zone)
    project = Project.objects.get(slug="gaia-dmp")
    _, before = project_left(project.id)

    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label("Template", exact=True).select_option(label="Gaia DMP Spark — large")
    page.get_by_role("button", name="Fill in the form").click()
    page.get_by_role("button", name="Find offers").click()
    price = page.locator(".offer .price").first
    expect(price).to_contain_text("SU from project gaia-dmp")
    quoted = amount(re.search(r"Price: ([\d,.]+) SU", price.inner_text())[1])
    first = Lease.objects.get(owner__username="astro", phase=Phase.OFFERED, rank=0)
    assert first.cost_su == quoted
    page.get_by_role("button", name="Accept offer 1").click()
    expect(page.locator("#lease-phase")).to_have_text("ACCEPTED")
    expect(page.locator("p.price")).to_contain_text(f"{quoted:,.2f} SU charged to Gaia DMP")

    page.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Gaia DMP").click()
    line = page.locator(".budget-line")
    expect(line).to_contain_text(f"{quoted:,.2f} SU committed")
    expect(page.locator(".budget-chart polygon.band-committed")).to_have_count(1)
    expect(page.locator(".budget-chart .now")).to_have_count(1)
    expect(page.locator("table").nth(1)).to_contain_text("ACCEPTED")
    shot(page, f"budget-01-booked-{zone.replace('/', '-')}")
    assert project_left(project.id)[1] == before - quoted

    page.goto(f"/leases/{first.id}/")
    page.get_by_role("link", name="Cancel the lease…").click()
    page.get_by_role("button", name="Yes, cancel the lease").click()
    expect(page.locator("#lease-phase")).to_have_text("CANCELLED")
    page.goto("/projects/gaia-dmp/")
    expect(line).to_contain_text("0.00 SU committed")
    expect(page.locator("table").nth(1)).to_contain_text("CANCELLED")
    shot(page, f"budget-02-cancelled-{zone.replace('/', '-')}")
    assert project_left(project.id)[1] == before
