"""Crashes: a worker SIGKILLed mid-prepare and mid-release, and a Redis restarted mid-run.

The simulated adapter records every call per lease, so "provisioned once" and "gone at the
end" are read from its records, independently of what the database says.
"""

import time

import pytest

from bookings.choices import Phase
from bookings.domain.leases import lease_accept
from bookings.models import Lease
from tests.lifecycle.lifecycle_support import (
    make_offer,
    make_pool,
    phases,
    settled,
    sim_records,
    soon,
    wait_for,
)

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

    victim = wait_for(lambda: in_progress(cluster, leases, "prepare"), 15, "a prepare")
    cluster.kill_worker(cluster.workers[-1])
    killed_prepare = sim_records(cluster, victim)
    cluster.start_worker()
    victim2 = wait_for(lambda: in_progress(cluster, leases, "release"), 40, "a release")
    time.sleep(1)
    cluster.kill_worker(cluster.workers[-1])
    cluster.start_worker()
    done = [wait_for(lambda x=x: settled(x), 40, "COMPLETED", cluster.logs) for x in leases]

    assert killed_prepare[-1] == ("prepare", "started")
    assert [lease.phase for lease in done] == [Phase.COMPLETED] * 3
    for lease in done:
        assert phases(lease) in LIVES
        assert_provisioned_once_and_gone(cluster, lease)
        assert lease.released_at >= lease.end
    stopped = {
        lease.id: [m for m in lease.events.values_list("message", flat=True) if "stopped" in m]
        for lease in done
    }
    assert "prepare: its worker stopped reporting; enqueued again" in stopped[victim.id]
    assert "release: its worker stopped reporting; enqueued again" in stopped[victim2.id]


def test_no_lease_is_lost_when_redis_restarts_mid_run(cluster, site, user):
    pool = make_pool(site, "sim", "simulated", {"prepare_seconds": 0.5, "setup_seconds": 1})
    # Long enough to outlive the outage and the worker's restart (about 8 s in all).
    leases = [make_offer(user, pool, start=soon(3 + 2 * i), seconds=12) for i in range(4)]
    for lease in leases:
        lease_accept(lease_id=lease.id, user=user)

    wait_for(lambda: Lease.objects.get(id=leases[0].id).phase == Phase.AVAILABLE, 10, "a start")
    cluster.stop_redis()
    time.sleep(3)
    cluster.start_redis()
    # On a lost connection with unacknowledged messages, kombu's restore fails and the worker
    # exits ("Unrecoverable error", kombu 5.7); its supervisor starts it again.
    time.sleep(1)
    cluster.supervise()
    done = [wait_for(lambda x=x: settled(x), 40, "COMPLETED", cluster.logs) for x in leases]

    assert [lease.phase for lease in done] == [Phase.COMPLETED] * 4
    for lease in done:
        assert phases(lease) in LIVES
        assert_provisioned_once_and_gone(cluster, lease)
