"""Fixtures of the web tests: the demo data, signed-in clients, and a real Chromium.

The browser is Debian's `chromium` driven by Playwright (never `playwright install`); pages
are screenshotted into test-artifacts/screenshots/ for people to look at.
"""

import io
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from playwright.sync_api import sync_playwright

from tests.bookings.lifecycle.lifecycle_support import Cluster, database_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(db):
    """The demo sites, pools, dataset, templates and users astro/astro and admin/admin."""
    call_command("seed_demo", stdout=io.StringIO())


@pytest.fixture
def astro(demo):
    return get_user_model().objects.get(username="astro")


@pytest.fixture
def astro_client(astro):
    client = Client()
    client.force_login(astro)
    return client


@pytest.fixture(scope="module")
def chromium():
    """One Chromium per test module. Playwright's sync API keeps an event loop running in this
    thread while it is open, so Django would refuse the plain ORM calls the tests make between
    page steps; they are safe (nothing else runs on that loop), hence the flag — set only
    while the browser is open, so tests after these see Django's usual check again."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(viewport=LAPTOP, base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"


@pytest.fixture
def shot():
    """shot(page, name): a full-page screenshot at test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in(demo):
    """log_in(page): sign in through the login form as astro (seeded by `demo`)."""

    def sign_in(page, username: str = "astro", password: str = "astro") -> None:
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/")

    return sign_in


@pytest.fixture(scope="module")
def lifecycle(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker and beat (ticking every second) on the test database, for the
    browser tests that watch a lease live through its phases (tests/bookings/lifecycle has the
    same)."""
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    cluster = Cluster(tmp_path_factory.mktemp("web-lifecycle"), url)
    try:
        cluster.start_redis()
        cluster.start_worker(concurrency=1)
        cluster.start_beat()
        yield cluster
    finally:
        cluster.stop()
