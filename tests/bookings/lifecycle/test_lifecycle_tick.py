"""The tick's claims, in-process and without a worker: what it hands back and what it moves."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from bookings.choices import Phase
from bookings.domain.lifecycle import (
    PREPARE,
    RELEASE,
    RESERVE,
    Step,
    _lock_key,
    lease_prepare_run,
    lease_release_run,
    lease_reserve_run,
    lease_specs,
    leases_tick,
)
from bookings.models import Lease
from resources.models import Pool
from tests.bookings.lifecycle.lifecycle_support import make_offer, make_pool

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def lifecycle_settings(settings):
    settings.LEASE_TICK_SECONDS = 2
    settings.LEASE_CLAIM_SECONDS = 30


def lease_in(pool, owner, phase, *, due, start=None, seconds=600):
    lease = make_offer(owner, pool, start=start or NOW + timedelta(hours=1), seconds=seconds)
    Lease.objects.filter(id=lease.id).update(phase=phase, next_action_at=due, expires=None)
    return Lease.objects.get(id=lease.id)


def seconds(n):
    return timedelta(seconds=n)


def test_a_due_lease_is_claimed_once_until_its_claim_lapses(pool, user):
    lease = lease_in(pool, user, Phase.ACCEPTED, due=NOW)

    first = leases_tick(now=NOW)
    again = leases_tick(now=NOW + seconds(29))
    lapsed = leases_tick(now=NOW + seconds(31))

    assert first.steps == [Step(RESERVE, lease.id, None)]
    assert again.steps == []
    assert lapsed.steps == [Step(RESERVE, lease.id, None)]
    fresh = Lease.objects.get(id=lease.id)
    assert fresh.claimed_until == NOW + seconds(61)
    assert [e.message for e in fresh.events.all()] == [
        "reserve: its worker stopped reporting; enqueued again"
    ]
    assert fresh.events.get().actor_kind == "system"


def test_a_step_due_within_a_tick_gets_its_due_time_as_eta_and_later_ones_wait(pool, user):
    soon = lease_in(pool, user, Phase.WAITING, due=NOW + seconds(1.5))
    later = lease_in(pool, user, Phase.WAITING, due=NOW + seconds(2.5))

    result = leases_tick(now=NOW)

    assert result.steps == [Step(PREPARE, soon.id, NOW + seconds(1.5))]
    assert Lease.objects.get(id=soon.id).phase == Phase.WAITING
    assert Lease.objects.get(id=soon.id).claimed_until == NOW + seconds(31.5)
    assert Lease.objects.get(id=later.id).claimed_until is None


def test_due_phase_moves_happen_in_the_tick(pool, user):
    start = NOW - seconds(60)
    ended = lease_in(pool, user, Phase.AVAILABLE, due=NOW, start=start, seconds=60)
    waiting = lease_in(pool, user, Phase.WAITING, due=NOW)
    late = lease_in(pool, user, Phase.WAITING, due=NOW, start=start, seconds=30)

    steps = leases_tick(now=NOW).steps

    assert sorted(steps, key=lambda s: str(s.lease_id)) == sorted(
        [
            Step(RELEASE, ended.id, None),
            Step(PREPARE, waiting.id, None),
            Step(RELEASE, late.id, None),
        ],
        key=lambda s: str(s.lease_id),
    )
    moves = {
        lease.id: list(Lease.objects.get(id=lease.id).events.values_list("to_phase", "message"))
        for lease in (ended, waiting, late)
    }
    assert moves == {
        ended.id: [("RELEASING", "the lease ended")],
        waiting.id: [("PREPARING", "preparation begins")],
        late.id: [("FAILED", "its end passed before its resources were ready")],
    }


def test_a_lease_with_nothing_left_to_do_is_dropped_from_the_schedule(pool, user):
    lease = lease_in(pool, user, Phase.REJECTED, due=NOW)

    assert leases_tick(now=NOW).steps == []
    assert Lease.objects.get(id=lease.id).next_action_at is None


def test_an_unknown_lease_id_in_a_stale_message_is_ignored(db):
    assert lease_prepare_run(lease_id=uuid.uuid4()) is None


def test_each_adapter_gets_a_spec_of_only_its_allocations_with_their_pools_settings(pool, user):
    hpc = make_pool(pool.site, "hpc", "slurm", {"partition": "debug"})
    other = make_pool(pool.site, "sim-b", "simulated", {"prepare_seconds": 1})
    lease = lease_in(pool, user, Phase.ACCEPTED, due=NOW)
    period = lease.allocations.get().period
    lease.allocations.create(pool=hpc, cores=4, period=period)
    lease.allocations.create(pool=other, cores=2, memory_gib=3, period=period)

    specs = lease_specs(Lease.objects.get(id=lease.id))

    assert [(name, spec.uuid, spec.owner) for name, spec in specs] == [
        ("simulated", lease.id, "astro"),
        ("slurm", lease.id, "astro"),
    ]
    assert [
        (a.pool, dict(a.amounts), a.settings, a.start, a.end)
        for _name, spec in specs
        for a in spec.allocations
    ] == [
        ("sim", {"cores": 1, "memory_gib": 1}, {}, lease.start, lease.end),
        ("sim-b", {"cores": 2, "memory_gib": 3}, {"prepare_seconds": 1}, lease.start, lease.end),
        ("hpc", {"cores": 4}, {"partition": "debug"}, lease.start, lease.end),
    ]


def _drive(step, limit=10):
    """Run the lease's steps in this process, as the worker would, until none is handed back."""
    runs = {RESERVE: lease_reserve_run, PREPARE: lease_prepare_run, RELEASE: lease_release_run}
    for _ in range(limit):
        if step is None:
            return
        step = runs[step.kind](lease_id=step.lease_id)
    raise AssertionError(f"still stepping after {limit} steps: {step}")


@pytest.mark.parametrize(
    "phase", [Phase.ACCEPTED, Phase.PREPARING, Phase.AVAILABLE, Phase.RELEASING, Phase.CANCELLED]
)
def test_a_lease_on_a_pool_with_an_unknown_adapter_ends_failed_instead_of_retrying(
    pool, user, phase
):
    Pool.objects.filter(id=pool.id).update(adapter="simulatd")  # a row from before the check
    now = datetime.now(UTC)
    lease = lease_in(pool, user, phase, due=now, start=now - seconds(60))

    (step,) = leases_tick(now=now).steps
    _drive(step)

    fresh = Lease.objects.get(id=lease.id)
    assert fresh.phase == (Phase.CANCELLED if phase == Phase.CANCELLED else Phase.FAILED)
    assert (fresh.next_action_at, fresh.claimed_until) == (None, None)
    assert fresh.events.last().message == (
        "release failed: unknown adapter 'simulatd'; known: simulated, spark, slurm;"
        " not retried (fix the pool's adapter)"
    )
    assert leases_tick(now=now + timedelta(days=1)).steps == []


def test_a_running_claim_is_taken_over_at_the_next_tick_once_its_worker_is_gone(pool, user):
    lease = lease_in(pool, user, Phase.PREPARING, due=NOW)
    # A worker mid-prepare: its claim is far from lapsing and its own session holds the run lock.
    Lease.objects.filter(id=lease.id).update(
        claimed_until=NOW + seconds(30), claimed_by="host-a:4242"
    )
    s = connection.settings_dict
    worker = psycopg.connect(
        host=s["HOST"], port=s["PORT"], user=s["USER"], password=s["PASSWORD"], dbname=s["NAME"]
    )
    worker.execute("SELECT pg_advisory_lock(%s)", [_lock_key(lease.id)])

    alive = leases_tick(now=NOW + seconds(1))
    worker.close()  # the process died: PostgreSQL drops its session and its locks
    gone = leases_tick(now=NOW + seconds(2))

    assert alive.steps == []
    assert gone.steps == [Step(PREPARE, lease.id, None)]
    fresh = Lease.objects.get(id=lease.id)
    assert fresh.claimed_by == ""
    assert fresh.events.last().message == "prepare: its worker host-a:4242 is gone; taken over"
