"""E-mail notices through Django's SMTP backend to a real SMTP server (aiosmtpd)."""

from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.test import Client
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.ical import lease_uid
from bookings.domain.leases import lease_accept, lease_cancel, lease_transition
from bookings.models import Profile
from notices.choices import DeliveryState, Kind
from notices.domain import deliveries
from notices.domain.preferences import preferences_for_user, preferences_set
from notices.models import Delivery, Notice
from tests.bookings.lifecycle.lifecycle_support import make_offer
from tests.notices.support import parts

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def deliver(now=None) -> list[str]:
    """One sweep, then every claimed delivery sent, as the notices worker would."""
    result = deliveries.notices_sweep(now=now)
    return [deliveries.delivery_send(delivery_id=i) for i in result.claimed]


def booked(user, pool, *, start=None, seconds=3600):
    start = start or timezone.now() + timedelta(hours=2)
    return lease_accept(lease_id=make_offer(user, pool, start=start, seconds=seconds).id, user=user)


def test_one_message_per_notice_text_and_html_with_times_in_the_owners_zone(astro, pool, smtp):
    Profile.objects.create(user=astro, timezone="Europe/Berlin")
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    lease = booked(astro, pool, start=start)
    assert deliver() == ["sent"]
    [message] = smtp.messages
    assert message["To"] == "astro@example.org"
    assert (
        message["Subject"]
        == f"[WhenCanIDoThis?] Booked: {lease.name or 'Lease ' + str(lease.id)[:8]}"
    )
    body = parts(message)
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    shown = f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"
    assert shown in body["text/plain"] and shown in body["text/html"]
    assert "Times are in Europe/Berlin." in body["text/plain"]
    assert f"/leases/{lease.id}/" in body["text/plain"]
    assert message["Message-ID"] == f"<{Notice.objects.get().id}@127.0.0.1>"
    assert message["In-Reply-To"] is None


def test_messages_of_one_lease_are_threaded_and_carry_its_calendar_event(astro, pool, smtp):
    lease = booked(astro, pool)
    lease_transition(lease=lease, to=Phase.WAITING, actor_kind=ActorKind.WORKER)
    deliver()
    lease_cancel(lease_id=lease.id, user=astro)
    deliver()
    accepted, cancelled = smtp.messages
    assert cancelled["In-Reply-To"] == accepted["Message-ID"]
    assert cancelled["References"] == accepted["Message-ID"]
    first = icalendar.Calendar.from_ical(parts(accepted)["text/calendar"])
    last = icalendar.Calendar.from_ical(parts(cancelled)["text/calendar"])
    assert (str(first["method"]), str(last["method"])) == ("REQUEST", "CANCEL")
    [event], [gone] = first.walk("VEVENT"), last.walk("VEVENT")
    assert str(event["uid"]) == str(gone["uid"]) == lease_uid(lease.id)
    notices = Notice.objects.filter(lease=lease).order_by("created")
    assert [event["sequence"], gone["sequence"]] == [n.data["version"] for n in notices]
    assert event["sequence"] < gone["sequence"]
    assert str(gone["status"]) == "CANCELLED"
    assert str(event["attendee"]) == "mailto:astro@example.org"
    calendar_part = next(p for p in cancelled.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "CANCEL"


def test_every_message_has_a_one_click_unsubscribe_that_works_without_a_session(astro, pool, smtp):
    booked(astro, pool)
    deliver()
    [message] = smtp.messages
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip().strip("<>")
    path = urlsplit(url).path
    client = Client(enforce_csrf_checks=True)
    assert client.get(path).status_code == 200  # a GET only asks
    assert preferences_for_user(user=astro).choice(Kind.LEASE_ACCEPTED) == "email"
    answer = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert preferences_for_user(user=astro).choice(Kind.LEASE_ACCEPTED) == "web"
    assert client.post(path[:-5] + "xxxx/").status_code == 404
    booked(astro, pool, start=timezone.now() + timedelta(days=3))
    deliver()
    assert len(smtp.messages) == 1  # no more mail …
    assert Notice.objects.filter(user=astro).count() == 2  # … the web still has it


def test_a_kind_chosen_for_the_web_only_sends_no_mail(astro, pool, smtp):
    preferences_set(user=astro, choices={Kind.LEASE_ACCEPTED: "web"})
    booked(astro, pool)
    assert deliver() == []
    assert smtp.messages == [] and not Delivery.objects.exists()
    assert Notice.objects.get().routed


def test_smtp_down_is_retried_with_growing_gaps_then_failed(astro, pool, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    settings.NOTICE_MAX_ATTEMPTS, settings.NOTICE_RETRY_BASE_SECONDS = 4, 10
    booked(astro, pool)
    now = timezone.now()
    gaps = []
    for _ in range(4):
        states = deliver(now)
        assert states == [DeliveryState.PENDING] or states == [DeliveryState.FAILED]
        delivery = Delivery.objects.get()
        if delivery.due_at:
            gaps.append(round((delivery.due_at - timezone.now()).total_seconds()))
            now = delivery.due_at + timedelta(seconds=1)
    assert gaps == [10, 20, 40]
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 4)
    assert "ConnectionRefusedError" in delivery.last_error
    assert deliver(now + timedelta(days=1)) == []  # final
