"""The life cycle by the clock on the `simulated` adapter, with a real Celery worker and beat."""

import random
import uuid
from datetime import timedelta

import pytest
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange

from bookings.choices import Phase
from bookings.domain.leases import lease_accept, lease_cancel, lease_release_early
from bookings.models import Lease
from tests.bookings.lifecycle.lifecycle_support import (
    make_offer,
    make_pool,
    phase_of,
    phases,
    settled,
    sim_records,
    soon,
)
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_lease_goes_from_offered_to_completed_by_the_clock(cluster, site, user):
    pool = make_pool(site, "sim", "simulated", {"setup_seconds": 2, "prepare_seconds": 0.5})
    lease = make_offer(user, pool, start=soon(6), seconds=3)

    lease_accept(lease_id=lease.id, user=user)
    wait_until(lambda: phase_of(lease) == Phase.AVAILABLE, 15, "AVAILABLE", cluster.logs)
    available = Lease.objects.get(id=lease.id)
    done = wait_until(lambda: settled(lease), 15, "COMPLETED", cluster.logs)

    assert available.connectors == [
        {"kind": "simulated", "url": f"simulated://{lease.id}", "label": "Simulated"}
    ]
    assert done.phase == Phase.COMPLETED
    assert done.connectors == []
    assert done.released_at >= done.end
    events = list(done.events.all())
    assert [(e.from_phase, e.to_phase, e.message) for e in events] == [
        ("OFFERED", "ACCEPTED", "accepted"),
        ("ACCEPTED", "WAITING", f"reserved; preparation begins at {iso(lease.start, -2)}"),
        ("WAITING", "PREPARING", "preparation begins"),
        ("", "", f"prepared; AVAILABLE at the start, {iso(lease.start)}"),
        ("PREPARING", "AVAILABLE", "the lease starts; its resources are ready"),
        ("AVAILABLE", "RELEASING", "the lease ended"),
        ("RELEASING", "COMPLETED", "released; its resources are gone"),
    ]
    assert [e.actor_kind for e in events][:2] == ["user", "worker"]
    assert {e.actor_kind for e in events[2:]} <= {"worker", "system"}
    by_phase = {e.to_phase: e.time for e in events if e.to_phase}
    # AVAILABLE at the start, not before; the release begins at the end, not before.
    assert by_phase["AVAILABLE"] >= lease.start
    assert by_phase["RELEASING"] >= lease.end
    assert sim_records(cluster, lease) == [
        ("reserve", "done"),
        ("prepare", "started"),
        ("prepare", "done"),
        ("release", "done"),
    ]


def test_cancel_while_waiting_releases_and_an_early_release_ends_the_lease_now(cluster, site, user):
    pool = make_pool(site, "sim", "simulated", {})
    waiting = make_offer(user, pool, start=soon(60), seconds=60)
    running = make_offer(user, pool, start=soon(1), seconds=600)
    lease_accept(lease_id=waiting.id, user=user)
    lease_accept(lease_id=running.id, user=user)
    wait_until(lambda: phase_of(waiting) == Phase.WAITING, 10, "WAITING", cluster.logs)
    wait_until(lambda: phase_of(running) == Phase.AVAILABLE, 10, "AVAILABLE", cluster.logs)

    lease_cancel(lease_id=waiting.id, user=user)
    released = lease_release_early(lease_id=running.id, user=user)

    cancelled = wait_until(lambda: settled(waiting), 10, "the cancelled lease released")
    completed = wait_until(lambda: settled(running), 10, "the early release done")
    assert cancelled.phase == Phase.CANCELLED
    assert cancelled.released_at is not None
    assert [e.message for e in cancelled.events.all()][-2:] == [
        "cancelled by the owner",
        "released; its resources are gone",
    ]
    assert sim_records(cluster, waiting) == [("reserve", "done"), ("release", "noop")]
    assert completed.phase == Phase.COMPLETED
    assert completed.end == released.end
    assert completed.end < running.end
    (allocation,) = completed.allocations.all()
    assert allocation.period == DateTimeTZRange(running.start, released.end, "[)")
    assert phases(running)[-2:] == [("AVAILABLE", "RELEASING"), ("RELEASING", "COMPLETED")]
    assert sim_records(cluster, running)[-1] == ("release", "done")


def failing_prepares_then_a_good_release(rate: float, prepares: int):
    """(uuid, seed) for which the simulated adapter fails the first `prepares` prepares and
    not the first release (its draws depend only on seed, uuid, op and attempt)."""
    rng = random.Random(1)
    while True:
        lease_id, seed = uuid.UUID(int=rng.getrandbits(128), version=4), rng.randrange(10**6)

        def draw(op, attempt, lease_id=lease_id, seed=seed):
            return random.Random(f"{seed}:{lease_id}:{op}:{attempt}").random()

        if all(draw("prepare", n) < rate for n in range(prepares)) and draw("release", 0) >= rate:
            return lease_id, seed


def test_a_prepare_that_keeps_failing_retries_with_backoff_then_fails_and_is_released(
    cluster, site, user
):
    lease_id, seed = failing_prepares_then_a_good_release(0.5, prepares=3)
    pool = make_pool(site, "flaky", "simulated", {"failure_rate": 0.5, "seed": seed})
    lease = make_offer(user, pool, start=soon(1), seconds=60, lease_id=lease_id)

    lease_accept(lease_id=lease.id, user=user)
    done = wait_until(lambda: settled(lease), 20, "FAILED and released", cluster.logs)

    assert done.phase == Phase.FAILED
    assert done.released_at is not None
    failure = "simulated prepare failure (failure_rate=0.5)"
    messages = list(done.events.values_list("message", flat=True))
    assert messages[messages.index(f"prepare failed (attempt 1): {failure}; retry in 1 s") :] == [
        f"prepare failed (attempt 1): {failure}; retry in 1 s",
        f"prepare failed (attempt 2): {failure}; retry in 2 s",
        f"prepare failed (attempt 3): {failure}; giving up, releasing",
        "released; its resources are gone",
    ]
    assert done.last_error == failure
    assert sim_records(cluster, lease) == [
        ("reserve", "done"),
        ("prepare", "failed"),
        ("prepare", "failed"),
        ("prepare", "failed"),
        ("release", "noop"),
    ]
    times = list(done.events.values_list("time", flat=True))[-4:]
    assert (times[1] - times[0]).total_seconds() >= 1
    assert (times[2] - times[1]).total_seconds() >= 2


def iso(moment, shift: float = 0) -> str:
    return (moment + timedelta(seconds=shift)).isoformat().replace("+00:00", "Z")
