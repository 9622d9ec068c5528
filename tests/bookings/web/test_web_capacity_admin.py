"""An operator adds a maintenance window in Django admin, in a real Chromium: the impact is
shown first (the leases it moves and displaces), confirming applies it, events are written
and the owners' notices are delivered to a real SMTP server."""

from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from bookings.models import Lease, Profile
from notices.domain import deliveries
from resources.models import CapacityChange, Pool, Site
from tests.resources.capacity_support import book, hour

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("zone", ["UTC", "America/Chicago"])
def test_maintenance_in_admin_previews_then_moves_and_displaces(page, shot, smtp, settings, zone):
    settings.REPLAN_IN_PROCESS = True  # the live server plans in its own process
    site = Site.objects.create(slug="edi", name="Edinburgh", timezone="Europe/London")
    Pool.objects.create(slug="edi-a", site=site, kind="compute", cores=8, memory_gib=32)
    astro = get_user_model().objects.create_user(
        "astro", email="astro@example.org", password="astro-pass"
    )
    operator = get_user_model().objects.create_user(
        "admin", password="admin-pass", is_staff=True, is_superuser=True
    )
    # the operator types times in the zone of their profile (the middleware activates it)
    Profile.objects.create(user=operator, timezone=zone)
    moving = book(astro, at=10, hours=2, cores=4, flex={"after": "PT12H"}, name="Gaia Spark run")
    stuck = book(astro, at=10, hours=2, cores=4, name="GPU notebook")
    send_notices()  # the accepted notices go out first
    sent_before = len(smtp.messages)

    page.goto("/admin/login/?next=/admin/resources/capacitychange/add/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin-pass")
    page.click("input[type=submit]")
    page.select_option("#id_pool", label="edi-a")
    start, end = hour(9), hour(13)
    local = ZoneInfo(zone)
    page.fill("#id_start_0", start.astimezone(local).strftime("%Y-%m-%d"))
    page.fill("#id_start_1", start.astimezone(local).strftime("%H:%M:%S"))
    page.fill("#id_end_0", end.astimezone(local).strftime("%Y-%m-%d"))
    page.fill("#id_end_1", end.astimezone(local).strftime("%H:%M:%S"))
    page.fill("#id_cores", "0")
    page.fill("#id_reason", "kernel upgrade")
    page.click("input[name=_save]")
    page.wait_for_selector("table#impact")
    shot(page, f"admin-capacity-impact-{zone.replace('/', '-')}")
    rows = page.locator("table#impact tbody tr")
    assert rows.count() == 2
    text = page.locator("table#impact").inner_text()
    assert "Gaia Spark run" in text and "moved" in text
    assert "GPU notebook" in text and "displaced" in text and "4 cores" in text
    assert CapacityChange.objects.count() == 0

    page.click("input[name=_confirm_impact]")
    page.wait_for_selector(".messagelist")
    shot(page, f"admin-capacity-applied-{zone.replace('/', '-')}")
    assert "applied (1 moved, 1 displaced)" in page.locator(".messagelist").inner_text()
    assert CapacityChange.objects.get().reason == "kernel upgrade"
    moved, displaced = Lease.objects.get(id=moving.id), Lease.objects.get(id=stuck.id)
    assert (
        moved.start == hour(13) and "moved (kernel upgrade on edi-a)" in moved.events.last().message
    )
    assert displaced.displaced and displaced.displaced_offer_set is not None

    send_notices()
    subjects = [m["Subject"] for m in smtp.messages[sent_before:]]
    assert "[WhenCanIDoThis?] Moved: Gaia Spark run" in subjects
    assert "[WhenCanIDoThis?] Needs a new time: GPU notebook" in subjects

    # the owner's lease page says what to do, with the fresh offers and the deadline
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Username").fill("astro")
    page.get_by_label("Password").fill("astro-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    page.goto(reverse("web:lease", args=[stuck.id]))
    banner = page.locator("#lease-displaced")
    assert "needs a new time" in banner.inner_text()
    shot(page, f"lease-displaced-{zone.replace('/', '-')}")
    banner.get_by_role("link").click()
    page.wait_for_url(f"**{reverse('web:offer-set', args=[displaced.displaced_offer_set_id])}")


def send_notices() -> None:
    """One sweep and every claimed delivery sent, as the notices worker would."""
    for delivery_id in deliveries.notices_sweep().claimed:
        deliveries.delivery_send(delivery_id=delivery_id)
