"""The notices pages: the list (read on open) and its count, preferences with inline errors,
unsubscribe, and the staff-only mail sink page."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from bookings.domain.leases import lease_accept
from bookings.models import Profile
from notices.choices import Kind
from notices.domain.preferences import preferences_for_user, preferences_set
from notices.models import Notice
from tests.bookings.lifecycle.lifecycle_support import make_offer

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def client(astro):
    c = Client()
    c.force_login(astro)
    return c


def book(user, pool, hours=2):
    start = timezone.now() + timedelta(hours=hours)
    return lease_accept(lease_id=make_offer(user, pool, start=start, seconds=3600).id, user=user)


def test_the_header_counts_unread_notices_and_the_list_marks_them_read(client, astro, pool):
    book(astro, pool)
    book(astro, pool, hours=5)
    page = client.get("/")
    assert page.context["unread_notices"] == 2
    assert 'aria-label="2 unread"' in page.content.decode()
    listing = client.get("/notices/")
    assert listing.status_code == 200
    assert [unread for _, _, unread in listing.context["rows"]] == [True, True]
    assert Notice.objects.filter(read_at=None).count() == 0
    assert client.get("/").context["unread_notices"] == 0
    again = client.get("/notices/")
    assert [unread for _, _, unread in again.context["rows"]] == [False, False]


def test_the_list_shows_times_in_the_users_zone_and_only_their_own(client, astro, pool):
    Profile.objects.create(user=astro, timezone="America/Santiago")
    lease = book(astro, pool)
    other = get_user_model().objects.create_user("other")
    book(other, pool, hours=9)
    rows = client.get("/notices/").context["rows"]
    assert [n.lease_id for n, _, _ in rows] == [lease.id]
    [(_, content, _)] = rows
    assert content.subject.startswith("Booked:")
    local = lease.start.astimezone(ZoneInfo("America/Santiago"))
    assert f"{local:%H:%M}" in content.lines[0]


def test_a_kind_turned_off_leaves_the_list_and_the_count(client, astro, pool):
    book(astro, pool)
    preferences_set(user=astro, choices={Kind.LEASE_ACCEPTED: "off"})
    assert client.get("/").context["unread_notices"] == 0
    assert client.get("/notices/").context["rows"] == []


def test_preferences_save_and_refuse_bad_choices_inline(client, astro):
    form = client.get("/notices/preferences/")
    assert form.status_code == 200
    headings = '<th scope="col">Not at all</th><th scope="col">In the web only</th>'
    assert headings in form.content.decode()  # each column of radios says what it is
    choices = {k.value: "email" for k in Kind if k != Kind.WEBHOOK_TEST}
    saved = client.post("/notices/preferences/", {**choices, "lease.cancelled": "web"})
    assert saved.status_code == 302
    assert preferences_for_user(user=astro).choice(Kind.LEASE_CANCELLED) == "web"
    bad = client.post("/notices/preferences/", {**choices, "lease.failed": "carrier-pigeon"})
    assert bad.status_code == 400
    assert "lease.failed" in bad.context["form"].errors
    assert "Some choices could not be saved" in bad.content.decode()
    assert preferences_for_user(user=astro).choice(Kind.LEASE_FAILED) == "email"  # unchanged


def test_a_bad_unsubscribe_token_is_a_clear_404_page(db):
    answer = Client().post("/notices/unsubscribe/not-a-token/")
    assert answer.status_code == 404
    assert "not valid" in answer.content.decode()


def test_the_mail_sink_page_is_for_staff_and_shows_each_message(client, staff, settings, tmp_path):
    settings.MAIL_SINK_DIR = tmp_path
    (tmp_path / "20261203T120000-abcd.eml").write_bytes(
        b"From: a@b\r\nTo: astro@example.org\r\nSubject: Ready: x\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    )
    assert client.get("/dev/mail/").status_code == 302  # astro is no staff: to the login
    operator = Client()
    operator.force_login(staff)
    listing = operator.get("/dev/mail/")
    assert listing.status_code == 200 and "Ready: x" in listing.content.decode()
    message = operator.get("/dev/mail/20261203T120000-abcd.eml")
    assert message.status_code == 200 and "hello" in message.content.decode()
    for bad in ("nope.eml", "..%2Fsecret_key", "x.txt"):
        assert operator.get(f"/dev/mail/{bad}").status_code == 404, bad
