"""A short demo lease watched live in Chromium from booking to COMPLETED: the lease page
follows WAITING → PREPARING → AVAILABLE (with its connectors) by itself, "Release early" ends
it, and no step (page or htmx fragment) is ever a server error. A real Celery worker and beat
drive the life cycle (the `lifecycle` fixture)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.models import Lease
from resources.models import Pool

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

# The simulated adapter takes 25 s to set up and 6 s to prepare: long enough to see each phase.
SIMULATED = {"setup_seconds": 25, "prepare_seconds": 6}


def test_a_short_lease_seen_live_from_booking_to_completed(lifecycle, page, log_in, shot):
    Pool.objects.filter(adapter="simulated").update(adapter_settings=SIMULATED)
    server_errors = []
    page.on(
        "response",
        lambda r: server_errors.append(f"{r.status} {r.url}") if r.status >= 500 else None,
    )
    log_in(page)
    page.goto("/book/")
    page.get_by_label("Cores, at least", exact=True).first.fill("2")
    page.get_by_label("Duration (hours)").fill("0.1")
    # Far enough ahead to see WAITING before preparation begins (25 s before the start).
    earliest = timezone.localtime() + timedelta(seconds=100)
    page.get_by_label("Start no earlier than (empty: now)").fill(f"{earliest:%Y-%m-%dT%H:%M}")
    page.get_by_label("Name (optional)").fill("live demo")
    page.get_by_role("button", name="Find offers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("offers? for “live demo”"))
    shot(page, "lifecycle-01-offers")

    page.get_by_role("button", name="Accept offer 1").click()
    expect(page.locator("#lease-phase")).to_have_text(re.compile("ACCEPTED|WAITING"))
    lease = Lease.objects.get(id=page.url.rstrip("/").rsplit("/", 1)[1])
    shot(page, "lifecycle-02-accepted")

    waits = {"WAITING": 20, "PREPARING": 150, "AVAILABLE": 60}
    for step, phase in enumerate(waits, start=3):
        expect(page.locator("#lease-phase")).to_have_text(phase, timeout=waits[phase] * 1000)
        expect(page.locator(".step.current .step-name")).to_have_text(phase)
        shot(page, f"lifecycle-{step:02d}-{phase.lower()}")

    connectors = page.locator(".connectors li")
    expect(connectors).to_have_text([f"Simulated: simulated://{lease.id}"])

    # The notices so far, unread in the header (as of the page's load), read once their page
    # is opened.
    lease_page = page.url
    page.reload()
    unread = page.locator(".site-header .count")
    # accepted, preparing, available — and the demo's own leases' notices, which move too
    assert int(unread.inner_text()) >= 3
    page.get_by_role("link", name=re.compile("^Notices")).click()
    mine = page.locator(".notice-list .notice", has_text="live demo")
    expect(mine.locator("strong")).to_have_text(
        ["Ready: live demo", "Preparing: live demo", "Booked: live demo"]
    )
    expect(mine.first).to_contain_text(f"Simulated: simulated://{lease.id}")
    expect(mine.and_(page.locator(".unread"))).to_have_count(3)  # shown as new this once
    shot(page, "lifecycle-05b-notices")
    page.reload()
    expect(page.locator(".notice.unread", has_text="live demo")).to_have_count(0)
    page.get_by_role("link", name="Choose which notices you get, and how.").click()
    expect(page.locator("table.preferences thead th")).to_have_text(
        ["Notice", "Not at all", "In the web only", "In the web and by e-mail"]
    )
    shot(page, "lifecycle-05c-notice-preferences")
    page.goto(lease_page)
    release = page.get_by_role("link", name="Release early…")
    expect(release).to_be_visible()
    release.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Release this lease now?")
    expect(page.locator(".narrow p").first).to_contain_text(f"{lease.start:%Y}")
    shot(page, "lifecycle-06-release-confirm")
    page.get_by_role("button", name="Yes, release it now").click()
    expect(page.get_by_role("status")).to_have_text("The lease is being released.")
    expect(page.locator("#lease-phase")).to_have_text("COMPLETED", timeout=30_000)
    expect(page.locator(".connectors")).to_have_count(0)
    expect(page.locator("#lease-events")).to_contain_text("RELEASING → COMPLETED")
    shot(page, "lifecycle-07-completed")

    assert server_errors == []
    assert Lease.objects.get(id=lease.id).released_at is not None
