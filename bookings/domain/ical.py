"""The owner's leases as an iCalendar feed (RFC 5545), built with the `icalendar` package.

UIDs are ``<lease uuid>@<host of SITE_URL>`` so calendar clients update an event in place when
a lease is extended or cancelled; SEQUENCE is the lease version. The notices' e-mails carry
the same event as an iTIP REQUEST or CANCEL (RFC 5546, `lease_itip`), so a calendar that took
it from a mail and one subscribed to the feed agree.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone
from icalendar import Calendar, Event

from bookings.choices import Phase
from bookings.models import Allocation, Lease, Profile

# Offers and refused or lapsed holds were never bookings; cancelled ones stay, marked so.
NOT_BOOKED = (Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED)
# A feed that grew with all history would slow every client's poll.
HISTORY = timedelta(days=90)


def user_for_ical_token(*, token: str):
    profile = Profile.objects.select_related("user").filter(ical_token=token).first()
    return profile.user if profile and profile.user.is_active else None


def lease_uid(lease_id) -> str:
    return f"{lease_id}@{urlsplit(settings.SITE_URL).hostname or 'localhost'}"


# Phases in which a lease's calendar event is off: cancelled, or failed (its booking is gone).
OFF_PHASES = (Phase.CANCELLED, Phase.FAILED)


def _event(lease: Lease, *, phase: str, sequence: int, start, end, allocations) -> Event:
    event = Event()
    event.add("uid", lease_uid(lease.id))
    event.add("dtstamp", lease.updated)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", sequence)
    event.add("summary", f"{lease.name or 'Lease'} ({lease.site.slug})")
    event.add("location", lease.site.name)
    event.add("status", "CANCELLED" if phase in OFF_PHASES else "CONFIRMED")
    lines = [f"Phase: {phase}"]
    lines += [
        f"{a.component or 'allocation'}[{a.replica}] on {a.pool.slug}: "
        + ", ".join(f"{d} {v}" for d, v in a.amounts(nonzero=True).items())
        for a in allocations
    ]
    event.add("description", "\n".join(lines))
    return event


def itip_method(phase: str) -> str:
    return "CANCEL" if phase in OFF_PHASES else "REQUEST"


def lease_itip(lease: Lease, *, phase: str, sequence: int, start, end, attendee: str) -> bytes:
    """The lease as one iTIP message at `sequence` with the phase and times a notice carries:
    a CANCEL in OFF_PHASES, else a REQUEST; the same UID as the feed, organised by
    DEFAULT_FROM_EMAIL."""
    calendar = Calendar()
    calendar.add("prodid", "-//WhenCanIDoThis?//notices//EN")
    calendar.add("version", "2.0")
    calendar.add("method", itip_method(phase))
    allocations = lease.allocations.select_related("pool")
    event = _event(
        lease, phase=phase, sequence=sequence, start=start, end=end, allocations=allocations
    )
    event.add("organizer", f"mailto:{_address(settings.DEFAULT_FROM_EMAIL)}")
    if attendee:
        event.add("attendee", f"mailto:{attendee}", parameters={"ROLE": "REQ-PARTICIPANT"})
    calendar.add_component(event)
    return calendar.to_ical()


def _address(value: str) -> str:
    return value.rsplit("<", 1)[-1].rstrip(">").strip()


def leases_ical(*, user) -> bytes:
    since = timezone.now() - HISTORY
    leases = (
        Lease.objects.filter(owner=user, end__gte=since)
        .exclude(phase__in=NOT_BOOKED)
        .select_related("site")
        .prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.select_related("pool"))
        )
        .order_by("start", "id")
    )
    calendar = Calendar()
    calendar.add("prodid", "-//WhenCanIDoThis?//leases//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"WhenCanIDoThis? leases of {user.get_username()}")
    for lease in leases:
        event = _event(
            lease,
            phase=lease.phase,
            sequence=lease.version,
            start=lease.start,
            end=lease.end,
            allocations=lease.allocations.all(),
        )
        calendar.add_component(event)
    return calendar.to_ical()
