"""Random sequences of accept, extend, shorten, cancel, release early and fail (hypothesis, on
real PostgreSQL): the entries of each lease sum to what it owes by an oracle written here,
charges and refunds sum to the ledger, and no allocation is ever overdrawn."""

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bookings.choices import Phase
from bookings.domain.errors import DomainError
from bookings.domain.leases import (
    lease_accept,
    lease_cancel,
    lease_extend,
    lease_mark_failed,
    lease_release_early,
)
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease
from projects.models import LedgerEntry, SUAllocation
from tests.projects.support import core_hours, job, shifted, su

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db]

OPS = st.sampled_from(["accept", "extend", "shorten", "cancel", "start", "release", "fail"])
MINIMUM_HOURS = 1


def owed(lease, started: bool, length: Decimal) -> Decimal:
    """The oracle: what the lease owes in its phase (1 SU per core-hour). A started lease
    (30 minutes in) that is released or cancelled owes the minimum hour, or all of its
    `length` (hours, before the release) if shorter."""
    if lease.phase in (Phase.OFFERED, Phase.FAILED) or (
        lease.phase == Phase.CANCELLED and not started
    ):
        return su(0)
    if lease.phase in (Phase.RELEASING, Phase.CANCELLED):
        cores = lease.allocations.get().cores
        return su(cores * min(Decimal(MINIMUM_HOURS), length))
    return core_hours(lease)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(steps=[("accept", 0, 1), ("start", 0, 1), ("cancel", 0, 1)])
# a third of an SU each: the price is rounded once over the grants, never step by step
@example(steps=[("accept", 0, 1), ("shorten", 0, 1), ("shorten", 0, 1), ("extend", 0, 1)])
@example(steps=[("accept", 1, 1), ("start", 1, 1), ("shorten", 1, 2), ("release", 1, 1)])
@example(steps=[("accept", 0, 1), ("extend", 0, 2), ("shorten", 0, 3), ("cancel", 0, 1)])
@example(steps=[("accept", 1, 1), ("start", 1, 1), ("fail", 1, 1), ("accept", 0, 1)])
@given(steps=st.lists(st.tuples(OPS, st.integers(0, 1), st.integers(1, 3)), max_size=16))
def test_the_ledger_adds_up(project, user, staff, steps):
    with transaction.atomic():  # each example from the same state: rolled back after it
        _run(project, user, staff, steps)
        transaction.set_rollback(True)


def _run(project, user, staff, steps):
    SUAllocation.objects.filter(project=project).update(su=Decimal(10_000))
    leases = []
    for cores in (1, 3):
        made = offer_set_create(
            owner=user,
            data={
                **job(cores=cores, hours=4, start_in=timedelta(0), window=timedelta(minutes=2)),
                "name": f"job {cores}",
            },
        )
        leases.append(made.leases.get().id)
    started: set = set()
    lengths = {lease_id: Decimal(4) for lease_id in leases}
    ops = {
        "accept": lambda lease, hours: lease_accept(lease_id=lease.id, user=user),
        "extend": lambda lease, hours: lease_extend(
            lease_id=lease.id, user=user, end=lease.end + timedelta(hours=hours)
        ),
        "shorten": lambda lease, hours: lease_extend(
            lease_id=lease.id, user=user, end=lease.end - timedelta(minutes=20 * hours)
        ),
        "cancel": lambda lease, hours: lease_cancel(lease_id=lease.id, user=user),
        "release": lambda lease, hours: lease_release_early(lease_id=lease.id, user=user),
        "fail": lambda lease, hours: lease_mark_failed(lease_id=lease.id, user=staff, reason="x"),
    }
    for op, which, hours in steps:
        lease = Lease.objects.get(id=leases[which])
        if lease.phase not in (Phase.RELEASING, Phase.CANCELLED):
            a = lease.allocations.get()
            lengths[lease.id] = Decimal((a.end - a.start).total_seconds()) / 3600
        if op == "start":
            if lease.phase == Phase.ACCEPTED and lease.id not in started:
                _start(lease)
                started.add(lease.id)
        else:
            # not allowed in its phase (or would not fit): nothing changed
            with contextlib.suppress(DomainError):
                ops[op](lease, hours)
        _check(project, leases, started, lengths)


def _start(lease):
    """As the tick would have it: AVAILABLE, prepared, started 30 minutes ago."""
    delta = (timezone.now() - timedelta(minutes=30)) - lease.preparation_start
    shifted(lease, delta, phase=Phase.AVAILABLE, prepared_at=timezone.now())


def _check(project, leases, started, lengths):
    total = Decimal(0)
    for lease_id in leases:
        lease = Lease.objects.get(id=lease_id)
        entries = LedgerEntry.objects.filter(lease=lease).aggregate(s=Sum("su"))["s"] or 0
        assert entries == lease.charged_su, lease.phase
        expected = owed(lease, lease_id in started, lengths[lease_id])
        assert lease.charged_su == expected, lease.phase
        total += lease.charged_su
    assert LedgerEntry.objects.filter(project=project).aggregate(s=Sum("su"))["s"] or total == 0
    for allocation in SUAllocation.objects.filter(project=project):
        drawn = allocation.entries.aggregate(s=Sum("su"))["s"] or 0
        assert 0 <= drawn <= allocation.su
        assert allocation.spent_su == drawn  # kept beside the entries, in their statement
