"""Crashes: a worker SIGKILLed mid-prepare and mid-release, and a Redis restarted mid-run.

The simulated adapter records every call per lease, so "provisioned once" and "gone at the
end" are read from its records, independently of what the database says.
"""

import re
import time

import pytest

from bookings.choices import Phase
from bookings.domain.leases import lease_accept
from bookings.models import Lease
from tests.bookings.lifecycle.lifecycle_support import (
    LIFECYCLE_ENV,
    make_offer,
    make_pool,
    phases,
    settled,
    sim_records,
    soon,
)
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIFE = [
    ("OFFERED", "ACCEPTED"),
    ("ACCEPTED", "WAITING"),
    ("WAITING", "PREPARING"),
    ("PREPARING", "AVAILABLE"),
    ("AVAILABLE", "RELEASING"),
    ("RELEASING", "COMPLETED"),
]
# When the reserve finishes after the preparation time, a lease skips WAITING.
LIVES = (LIFE, [LIFE[0], ("ACCEPTED", "PREPARING"), *LIFE[3:]])


def in_progress(cluster, leases, op):
    """A lease whose `op` has begun and not finished, by the adapter's own records."""
    for lease in leases:
        records = sim_records(cluster, lease)
        if op == "prepare" and records[-1:] == [("prepare", "started")]:
            return lease
        phase = Lease.objects.get(id=lease.id).phase
        if op == "release" and phase == Phase.RELEASING and ("release", "done") not in records:
            return lease
    return None


def assert_provisioned_once_and_gone(cluster, lease):
    records = sim_records(cluster, lease)
    assert records.count(("prepare", "done")) == 1, records
    first_release = records.index(("release", "done"))
    assert ("prepare", "done") in records[:first_release], records
    assert [r for r in records[first_release:] if r[0] != "release"] == [], records
    assert records[-1] in (("release", "done"), ("release", "noop")), records


def test_a_worker_killed_mid_prepare_and_mid_release_leaves_nothing_behind(cluster, site, user):
    delays = {"setup_seconds": 3, "prepare_seconds": 3, "release_seconds": 3}
    pool = make_pool(site, "slow", "simulated", delays)
    leases = [make_offer(user, pool, start=soon(5 + i), seconds=14) for i in range(3)]
    for lease in leases:
        lease_accept(lease_id=lease.id, user=user)

    victim = wait_until(lambda: in_progress(cluster, leases, "prepare"), 15, "a prepare")
    cluster.kill_worker(cluster.workers[-1])
    killed_prepare = sim_records(cluster, victim)
    cluster.start_worker()
    victim2 = wait_until(lambda: in_progress(cluster, leases, "release"), 40, "a release")
    # The crash under test lands one second into the three-second release, not at its edge.
    time.sleep(1)
    cluster.kill_worker(cluster.workers[-1])
    cluster.start_worker()
    done = [wait_until(lambda x=x: settled(x), 40, "COMPLETED", cluster.logs) for x in leases]

    assert killed_prepare[-1] == ("prepare", "started")
    assert [lease.phase for lease in done] == [Phase.COMPLETED] * 3
    for lease in done:
        assert phases(lease) in LIVES
        assert_provisioned_once_and_gone(cluster, lease)
        assert lease.released_at >= lease.end
    stopped = {
        lease.id: [m for m in lease.events.values_list("message", flat=True) if "worker" in m]
        for lease in done
    }
    # Claims last 3 s here (lifecycle_support): a loaded machine's tick may find one lapsed
    # before it probes the dead worker, and then it is enqueued again instead of taken over.
    # (With 30 s claims, the next test shows the takeover itself.)
    for lease, step in ((victim, "prepare"), (victim2, "release")):
        lapsed = f"{step}: its worker stopped reporting; enqueued again"
        assert step in taken_over(stopped[lease.id]) or lapsed in stopped[lease.id]


def taken_over(messages):
    """The steps whose dead worker's claim the tick took over, from the lease's events."""
    pattern = re.compile(r"^(\w+): its worker \S+:\d+ is gone; taken over$")
    return [m.group(1) for m in map(pattern.match, messages) if m]


def test_a_dead_workers_prepare_is_taken_over_within_ticks_not_after_the_claim_lapse(
    cluster, site, user
):
    """With the default 30 s claim: the lease is AVAILABLE within its prepare time plus about
    two ticks after the worker running its prepare is SIGKILLed, another worker being up."""
    tick, prepare = float(LIFECYCLE_ENV["LEASE_TICK_SECONDS"]), 3
    claim = {"LEASE_CLAIM_SECONDS": "30"}
    cluster.stop_workers()
    try:
        cluster.start_worker(env=claim)
        cluster.start_worker(env=claim)
        pool = make_pool(
            site, "slow", "simulated", {"setup_seconds": 3, "prepare_seconds": prepare}
        )
        lease = make_offer(user, pool, start=soon(6), seconds=12)
        lease_accept(lease_id=lease.id, user=user)
        wait_until(lambda: in_progress(cluster, [lease], "prepare"), 15, "the prepare")
        running = Lease.objects.get(id=lease.id).claimed_by
        cluster.kill_worker(cluster.worker_of(int(running.rsplit(":", 1)[1])))
        done = wait_until(lambda: settled(lease), 40, "COMPLETED", cluster.logs)
    finally:
        cluster.stop_workers()
        cluster.start_worker()

    available = done.events.get(to_phase=Phase.AVAILABLE).time
    late = (available - done.start).total_seconds()
    assert done.phase == Phase.COMPLETED
    assert taken_over(done.events.values_list("message", flat=True)) == ["prepare"]
    assert_provisioned_once_and_gone(cluster, done)
    assert late <= prepare + 3 * tick, f"AVAILABLE {late:.1f} s after the start"


def test_no_lease_is_lost_when_redis_restarts_mid_run(cluster, site, user):
    pool = make_pool(site, "sim", "simulated", {"prepare_seconds": 0.5, "setup_seconds": 1})
    # Long enough to outlive the outage and the worker's restart (about 8 s in all).
    leases = [make_offer(user, pool, start=soon(3 + 2 * i), seconds=12) for i in range(4)]
    for lease in leases:
        lease_accept(lease_id=lease.id, user=user)

    wait_until(lambda: Lease.objects.get(id=leases[0].id).phase == Phase.AVAILABLE, 10, "a start")
    cluster.stop_redis()
    # The outage under test: three seconds without a broker while leases are due.
    time.sleep(3)
    cluster.start_redis()
    # On a lost connection with unacknowledged messages, kombu's restore fails and the worker
    # exits ("Unrecoverable error", kombu 5.7); its supervisor starts it again, whenever that is.
    done = [
        wait_until(lambda x=x: cluster.supervise() or settled(x), 40, "COMPLETED", cluster.logs)
        for x in leases
    ]

    assert [lease.phase for lease in done] == [Phase.COMPLETED] * 4
    for lease in done:
        assert phases(lease) in LIVES
        assert_provisioned_once_and_gone(cluster, lease)
