"""The owner's leases as an iCalendar feed (RFC 5545), built with the `icalendar` package.

UIDs are ``<lease uuid>@<host>`` so calendar clients update an event in place when a lease is
extended or cancelled; SEQUENCE is the lease version.
"""

from datetime import timedelta

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


def leases_ical(*, user, host: str) -> bytes:
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
        event = Event()
        event.add("uid", f"{lease.id}@{host}")
        event.add("dtstamp", lease.updated)
        event.add("dtstart", lease.start)
        event.add("dtend", lease.end)
        event.add("sequence", lease.version)
        event.add("summary", f"{lease.name or 'Lease'} ({lease.site.slug})")
        event.add("location", lease.site.name)
        event.add("status", "CANCELLED" if lease.phase == Phase.CANCELLED else "CONFIRMED")
        lines = [f"Phase: {lease.phase}"]
        lines += [
            f"{a.component or 'allocation'}[{a.replica}] on {a.pool.slug}: "
            + ", ".join(f"{d} {v}" for d, v in a.amounts(nonzero=True).items())
            for a in lease.allocations.all()
        ]
        event.add("description", "\n".join(lines))
        calendar.add_component(event)
    return calendar.to_ical()
