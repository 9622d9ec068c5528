"""End to end in a real Chromium against the live server: what an astronomer does.

Every page visited is screenshotted into test-artifacts/screenshots/ (laptop and phone sizes).
"""

import re
import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from playwright.sync_api import expect

from bookings.choices import ActorKind, Phase
from bookings.domain.leases import lease_transition
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease, Profile
from resources.models import Template
from tests.bookings.web.conftest import LAPTOP, SCREENSHOTS

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

GAIA = "DR3 analysis (Spark, large)"


def test_book_the_gaia_template_accept_see_it_in_the_calendar_and_cancel(page, log_in, shot):
    page.goto("/login/")
    shot(page, "01-login")
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, astro")
    shot(page, "02-dashboard")

    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label("Template", exact=True).select_option(label="Gaia DMP Spark — large")
    page.get_by_role("button", name="Fill in the form").click()
    names = page.locator("input[name$='-name']")
    expect(names).to_have_count(4)
    assert [names.nth(i).input_value() for i in range(4)] == ["head", "workers", "scratch", ""]
    expect(page.get_by_label("Duration (hours)")).to_have_value("9")
    shot(page, "03-book-gaia-template")

    page.get_by_role("button", name="Find offers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"4 offers for “{GAIA}”")
    expect(page.locator(".hold .countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
    # 4 offers of (head + 6 workers + scratch + a Gaia reader) allocations on the timeline.
    expect(page.locator("[data-timeline] .ec-event:not(.ec-bg-event)")).to_have_count(36)
    expect(page.locator("[data-timeline] .ec-bg-event").first).to_be_attached()
    shot(page, "04-offers")

    first = Lease.objects.get(owner__username="astro", phase=Phase.OFFERED, rank=0)
    page.get_by_role("button", name="Accept offer 1").click()
    expect(page).to_have_url(re.compile(f"/leases/{first.id}/$"))
    expect(page.locator("#lease-phase")).to_have_text("ACCEPTED")
    expect(page.get_by_role("status")).to_have_text(f"Booked: {GAIA} is yours.")
    shot(page, "05-lease-accepted")

    # The life cycle moves the lease on; the page follows without a reload.
    with transaction.atomic():
        lease = Lease.objects.select_for_update().get(id=first.id)
        lease_transition(
            lease=lease, to=Phase.WAITING, actor_kind=ActorKind.SYSTEM, message="test: reserved"
        )
    expect(page.locator("#lease-phase")).to_have_text("WAITING", timeout=8_000)
    expect(page.locator("#lease-events")).to_contain_text("test: reserved")
    expect(page.locator(".step.current .step-name")).to_have_text("WAITING")

    new_end = first.end + timedelta(hours=1)
    page.get_by_label("New end").fill(f"{new_end:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Change the end…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Change the end of {GAIA}")
    shot(page, "06-extend-confirm")
    page.get_by_role("button", name="Yes, end it then").click()
    expect(page.get_by_role("status")).to_have_text(
        f"The lease is extended: it now ends {new_end:%a %d %b %Y %H:%M} UTC."
    )
    assert Lease.objects.get(id=first.id).end == new_end

    page.get_by_role("link", name="Show in the calendar").click()
    event = page.locator("[data-calendar] .ec-event", has_text=f"{GAIA} · WAITING")
    expect(event.first).to_be_visible()
    shot(page, "07-calendar-month")
    page.get_by_role("button", name="Week").click()
    expect(event.first).to_be_visible()
    shot(page, "08-calendar-week")
    event.first.click()
    expect(page).to_have_url(re.compile(f"/leases/{first.id}/$"))

    page.get_by_role("link", name="Cancel the lease…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel this lease?")
    shot(page, "09-cancel-confirm")
    page.get_by_role("button", name="Yes, cancel the lease").click()
    expect(page.locator("#lease-phase")).to_have_text("CANCELLED")
    expect(page.get_by_role("status")).to_have_text("The lease is cancelled.")
    expect(page.get_by_role("link", name="Cancel the lease…")).to_have_count(0)
    shot(page, "10-lease-cancelled")
    phases = dict(first.offer_set.leases.values_list("rank", "phase"))
    assert phases == {0: Phase.CANCELLED, 1: Phase.REJECTED, 2: Phase.REJECTED, 3: Phase.REJECTED}


def test_a_request_that_cannot_fit_shows_reasons_and_a_relaxation_that_works(page, log_in, shot):
    log_in(page)
    page.goto("/book/")
    cores = page.get_by_label("Cores, at least", exact=True).first
    cores_max = page.get_by_label("Cores, up to (optional)", exact=True).first
    cores.fill("60")
    cores_max.fill("10")
    page.get_by_label("Duration (hours)").fill("2")
    page.get_by_role("button", name="Find offers").click()
    # The engine's refusal lands on the field it names, and what was typed stays.
    expect(page.locator("#id_components-0-cores_max_error")).to_have_text("10 is less than min 60")
    expect(cores).to_have_value("60")
    expect(page.get_by_role("alert")).to_contain_text(
        "Component 1 “main”, cores, up to (optional): 10 is less than min 60"
    )
    shot(page, "11-book-inline-errors")

    cores_max.fill("")
    # Each replica fits the largest pool (64 cores), but only one such pool exists.
    page.get_by_label("Replicas", exact=True).first.fill("2")
    page.get_by_role("button", name="Find offers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("No slot fits")
    expect(page.locator(".reasons")).to_have_text(
        "main: its 2 replicas never fit together in the window"
    )
    # The engine's nearest relaxation (its wording and size are the engine's business).
    relax = page.get_by_role("button", name=re.compile(r"^Ask again: available with \d+ cores"))
    expect(relax).to_be_visible()
    shot(page, "12-no-fit-reasons")

    relax.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^[1-4] offers?$"))
    expect(page.locator(".offer").first).to_contain_text(re.compile(r"main: (\d+ \S )?\d+ cores"))
    shot(page, "13-relaxed-offers")


def test_availability_profile_and_phone_layout(page, log_in, shot):
    log_in(page)
    page.goto("/availability/?days=7")
    # Every dimension of every enabled demo pool is drawn (cam-gpu has three).
    expect(page.locator("svg.freechart")).to_have_count(14)
    expect(page.locator("svg.freechart title").first).to_contain_text("free now")
    shot(page, "14-availability")

    page.goto("/profile/")
    page.get_by_label("Your time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Times are now shown in America/New_York.")
    expect(page.locator(".who")).to_contain_text("times in America/New_York")
    shot(page, "15-profile")
    page.goto("/")
    expect(page.locator(".lease-list")).to_contain_text(re.compile(r"(EST|EDT)"))

    astro = get_user_model().objects.get(username="astro")
    gaia = Template.objects.get(slug="gaia-spark-large")
    offer_set = offer_set_create(owner=astro, data=gaia.request)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [
        (f"/book/{offer_set.id}/", "20-phone-offers"),
        ("/", "16-phone-dashboard"),
        ("/book/?template=gaia-spark-large", "17-phone-book"),
        ("/availability/", "18-phone-availability"),
        ("/calendar/", "19-phone-calendar"),
    ]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        shot(page, name)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow == 0, f"{path} scrolls sideways on a phone by {overflow}px"


def test_the_calendars_today_and_now_line_follow_the_profiles_zone(chromium, live_server, log_in):
    """The browser 26 h behind the profile's zone: "today" and the "now" line are the
    profile's (its date always differs from the browser's), as the events are."""
    astro = get_user_model().objects.get(username="astro")
    context = chromium.new_context(
        viewport=LAPTOP, base_url=live_server.url, locale="en-GB", timezone_id="Etc/GMT+12"
    )
    try:
        page = context.new_page()
        log_in(page)
        Profile.objects.update_or_create(user=astro, defaults={"timezone": "Pacific/Kiritimati"})
        today = datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
        assert page.evaluate("new Date().getDate()") != today.day
        page.goto("/calendar/")
        expect(page.locator("[data-calendar] .ec-day.ec-today")).to_have_count(1)
        expect(page.locator("[data-calendar] .ec-day.ec-today time")).to_have_attribute(
            "datetime", today.isoformat()
        )
        page.get_by_role("button", name="Day", exact=True).click()
        expect(page.locator("[data-calendar] .ec-now-indicator")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "21-calendar-day-kiritimati.png"), full_page=True)
    finally:
        context.close()
