"""The one write of leases (DESIGN §4, §5): every lease service, the life cycle and the admin
actions change a lease through `leases_write`.

It checks each phase move against the transition table (`IllegalTransition`, 409, before any
write), bumps `version` (the ETag) and writes a `LeaseEvent` for each move or note, and writes
only the fields that differ from what was read (`Lease.changed_fields`), for all the leases it
is given, in one statement, with the notices the changes cause (notices.domain.outbox) and
the ledger entries of what they make the leases owe (projects.domain.ledger): the outbox row
and the entries commit or roll back with the change, and a charge the project cannot pay
refuses the whole write (409) before anything is written.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from bookings.choices import can_transition
from bookings.domain.errors import IllegalTransition
from bookings.domain.sql.leases import leases_update
from bookings.models import Lease, LeaseEvent
from notices.choices import Kind
from notices.domain.outbox import lease_change_notices, lease_notice
from projects.domain.ledger import Debit, lease_target, ledger_entries


@dataclass(frozen=True)
class LeaseChange:
    """One change of a (locked) lease: a move to phase `to` (None: the phase stays), the
    event's `message` ("" with no move: no event and no new version, bookkeeping only), other
    fields to set, and a notice to its owner beyond the phase move's own (`notice_kind`, a
    notices.choices.Kind, with `notice_data`: a move by re-planning, a budget warning)."""

    lease: Lease
    to: str | None = None
    message: str = ""
    fields: Mapping[str, object] = field(default_factory=dict)
    notice_kind: str = ""
    notice_data: Mapping[str, object] = field(default_factory=dict)


def leases_write(changes: Sequence[LeaseChange], *, actor_kind: str, actor=None) -> None:
    """The one write of leases: every phase move checked first (nothing is written if one is
    illegal), then fields set, versions bumped, and the changed fields of all the leases and
    their events written in one statement."""
    for change in changes:
        if change.to is not None and not can_transition(change.lease.phase, change.to):
            raise IllegalTransition(
                f"A lease in phase {change.lease.phase} cannot become {change.to}.",
                phase=change.lease.phase,
            )
    now = timezone.now()
    events, notices, written, names, debits = [], [], [], set(), []
    for change in changes:
        lease = change.lease
        from_phase = lease.phase
        owed = lease.charged_su
        for name, value in change.fields.items():
            setattr(lease, name, value)
        if change.to is not None or change.message or change.notice_kind:
            events.append(
                LeaseEvent(
                    lease=lease,
                    from_phase=lease.phase if change.to else "",
                    to_phase=change.to or "",
                    actor_kind=actor_kind,
                    actor=actor,
                    message=change.message,
                )
            )
            lease.phase = change.to or lease.phase
            lease.version += 1
            notices += lease_change_notices(change, from_phase=from_phase)
        target = lease_target(change, from_phase=from_phase, now=now)
        if target is not None:
            lease.charged_su = target
        if lease.charged_su != owed:
            debits.append(Debit(lease, lease.charged_su - owed, change.message or change.to))
        changed = lease.changed_fields()
        if changed:
            lease.updated = now
            names.update(changed, ["updated"])
            written.append(lease)
    entries, warnings = ledger_entries(debits, now=now)
    notices += [
        lease_notice(lease, kind=Kind.BUDGET_WARNING, data={"message": message})
        for lease, message in warnings
    ]
    leases_update(written, sorted(names), events=events, notices=notices, entries=entries)
    for lease in written:
        lease.mark_written(names)
