"""leases_write is the one write of leases: the transition table, versions, events, and only
the fields that changed; lease_actions says what the services then accept."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from bookings.choices import TRANSITIONS, ActorKind, Phase, can_transition
from bookings.domain.errors import DomainError, IllegalTransition
from bookings.domain.leases import (
    LeaseChange,
    lease_actions,
    lease_cancel,
    lease_extend,
    lease_release_early,
    leases_write,
)
from bookings.models import Lease, LeaseEvent
from tests.bookings.leasedata import lease_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def stored(lease: Lease) -> dict:
    fresh = Lease.objects.get(id=lease.id)
    return {f.attname: getattr(fresh, f.attname) for f in Lease._meta.concrete_fields}


def test_every_phase_move_is_written_exactly_when_the_table_allows_it(user, pool):
    for source, target in itertools.product(Phase, Phase):
        lease = lease_in(source, user, pool)
        before = stored(lease)
        change = LeaseChange(lease, target, "moved", {"last_error": "x"})
        if can_transition(source, target):
            leases_write([change], actor_kind=ActorKind.SYSTEM)
            after = stored(lease)
            assert (after["phase"], after["version"], after["last_error"]) == (
                target,
                before["version"] + 1,
                "x",
            ), (source, target)
            event = LeaseEvent.objects.get(lease=lease)
            assert (event.from_phase, event.to_phase, event.message) == (source, target, "moved")
        else:
            with pytest.raises(IllegalTransition) as raised:
                leases_write([change], actor_kind=ActorKind.SYSTEM)
            assert (raised.value.status, raised.value.code) == (409, "illegal-transition")
            assert raised.value.extra == {"phase": source}
            assert stored(lease) == before, (source, target)
            assert not LeaseEvent.objects.filter(lease=lease).exists()


def test_one_illegal_move_in_a_batch_writes_nothing(user, pool):
    offered = lease_in(Phase.OFFERED, user, pool)
    completed = lease_in(Phase.COMPLETED, user, pool)
    before = [stored(offered), stored(completed)]
    with pytest.raises(IllegalTransition):
        leases_write(
            [LeaseChange(offered, Phase.ACCEPTED), LeaseChange(completed, Phase.RELEASING)],
            actor_kind=ActorKind.USER,
        )
    assert [stored(offered), stored(completed)] == before
    assert LeaseEvent.objects.count() == 0


def test_a_batch_writes_each_lease_its_own_fields_and_events(user, pool):
    first, second = lease_in(Phase.OFFERED, user, pool), lease_in(Phase.OFFERED, user, pool)
    leases_write(
        [
            LeaseChange(first, Phase.ACCEPTED, "accepted", {"expires": None}),
            LeaseChange(second, Phase.REJECTED, "sibling accepted"),
        ],
        actor_kind=ActorKind.USER,
        actor=user,
    )
    a, b = stored(first), stored(second)
    assert (a["phase"], a["expires"], a["version"]) == (Phase.ACCEPTED, None, 2)
    assert (b["phase"], b["version"]) == (Phase.REJECTED, 2)
    assert b["expires"] == second.expires  # not written with the other lease's value
    assert sorted(LeaseEvent.objects.values_list("to_phase", "message", "actor")) == [
        (Phase.ACCEPTED, "accepted", user.pk),
        (Phase.REJECTED, "sibling accepted", user.pk),
    ]


def test_a_note_is_an_event_and_a_version_bookkeeping_is_neither(user, pool):
    lease = lease_in(Phase.WAITING, user, pool)
    leases_write([LeaseChange(lease, message="reserved")], actor_kind=ActorKind.WORKER)
    assert stored(lease)["version"] == 2
    event = LeaseEvent.objects.get(lease=lease)
    assert (event.from_phase, event.to_phase, event.actor_kind) == ("", "", ActorKind.WORKER)

    lease.attempts = 3
    leases_write([LeaseChange(lease)], actor_kind=ActorKind.WORKER)
    assert (stored(lease)["attempts"], stored(lease)["version"]) == (3, 2)
    assert LeaseEvent.objects.filter(lease=lease).count() == 1


def test_only_changed_fields_are_written_so_a_concurrent_change_survives(user, pool):
    lease = lease_in(Phase.WAITING, user, pool)
    # Another transaction changes a field after this copy was read …
    Lease.objects.filter(id=lease.id).update(last_error="from elsewhere", claimed_by="w:1")
    # … and this copy changes others, one of them in place (a JSON list).
    lease.connectors.append({"kind": "ssh"})
    lease.claimed_until = datetime(2030, 1, 1, tzinfo=UTC)
    leases_write([LeaseChange(lease)], actor_kind=ActorKind.WORKER)
    after = stored(lease)
    assert (after["last_error"], after["claimed_by"]) == ("from elsewhere", "w:1")
    assert after["connectors"] == [{"kind": "ssh"}]
    assert after["claimed_until"] == datetime(2030, 1, 1, tzinfo=UTC)
    # Written once: writing again with nothing changed sends nothing and bumps nothing.
    updated = after["updated"]
    leases_write([LeaseChange(lease)], actor_kind=ActorKind.WORKER)
    assert stored(lease)["updated"] == updated


def test_the_transition_table_has_no_move_out_of_a_final_phase():
    finals = {Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.REJECTED, Phase.EXPIRED}
    assert finals.isdisjoint(TRANSITIONS)


def _accepts(service, lease, user) -> bool:
    try:
        service(lease, user)
    except DomainError as error:
        assert (error.status, error.code) == (409, "illegal-transition"), error
        return False
    return True


SERVICES = {
    "cancel": lambda lease, user: lease_cancel(lease_id=lease.id, user=user),
    "release": lambda lease, user: lease_release_early(lease_id=lease.id, user=user),
    "extend": lambda lease, user: lease_extend(
        lease_id=lease.id, user=user, end=lease.end - timedelta(minutes=1)
    ),
}


def test_lease_actions_say_exactly_what_the_services_accept(user, pool):
    for action, phase, started in itertools.product(sorted(SERVICES), Phase, (False, True)):
        lease = lease_in(phase, user, pool, started=started)
        allowed = action in lease_actions(lease, now=timezone.now())
        with transaction.atomic():  # a refusal rolls back to here only
            assert _accepts(SERVICES[action], lease, user) == allowed, (action, phase, started)
