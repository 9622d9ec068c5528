"""Notice rows for the outbox, built by the writers of the changes that cause them.

`leases_write` (bookings.domain.lease_writes) asks `lease_change_notices` for the notices of
the changes it writes and inserts them in its one statement; the offer-set insert adds an
`offer_set.held` notice when its owner asked for those (`offer_held_notice`). Nothing here
sends: the sweep (notices.domain.deliveries) does, after the commit.
"""

from django.utils import timezone

from bookings.choices import Phase
from bookings.domain.isotime import iso
from notices.choices import PHASE_KINDS, Kind
from notices.models import Notice


def lease_snapshot(lease) -> dict:
    """What every lease notice carries: the lease's times, phase and version as they are."""
    return {
        "phase": lease.phase,
        "start": iso(lease.start),
        "end": iso(lease.end),
        "version": lease.version,
    }


def lease_notice(lease, *, kind: str, data: dict | None = None, key: str = "") -> Notice:
    """An unsaved notice about `lease` to its owner (with the lease's snapshot)."""
    return Notice(
        user_id=lease.owner_id,
        kind=kind,
        lease=lease,
        data={**lease_snapshot(lease), **(data or {})},
        key=key,
        created=timezone.now(),
    )


def lease_change_notices(change, *, from_phase: str) -> list[Notice]:
    """The notices of one written change (called after the lease took its new phase and
    version): the phase move's own, and the one the change asks for (`notice_kind`)."""
    notices = []
    lease = change.lease
    if change.to is not None and change.to in PHASE_KINDS:
        data = {"from": from_phase, "message": change.message}
        if change.to == Phase.AVAILABLE:
            data["connectors"] = lease.connectors
        notices.append(lease_notice(lease, kind=PHASE_KINDS[change.to], data=data))
    if change.notice_kind:
        data = {"message": change.message, **change.notice_data}
        notices.append(lease_notice(lease, kind=change.notice_kind, data=data))
    return notices


def offer_held_notice(offer_set, leases) -> Notice:
    """The `offer_set.held` notice of a new set with its offers `leases` (inserted only if
    its owner opted in)."""
    return Notice(
        user_id=offer_set.owner_id,
        kind=Kind.OFFER_SET_HELD,
        offer_set=offer_set,
        data={
            "expires": iso(offer_set.expires),
            "offers": [
                {"id": str(lease.id), "start": iso(lease.start), "end": iso(lease.end)}
                for lease in leases
            ],
        },
        created=timezone.now(),
    )
