"""The life cycle on real back-ends: a Spark standalone cluster and a Slurm reservation."""

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.slurm import cluster_name, show_reservation
from bookings.choices import Phase
from bookings.domain.leases import lease_accept, lease_cancel, lease_extend
from bookings.models import Lease
from tests.adapters.spark_processes import marked_processes
from tests.bookings.lifecycle.lifecycle_support import (
    make_offer,
    make_pool,
    phase_of,
    phases,
    settled,
    soon,
)
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB = """
import json, sys
from pyspark import SparkConf, SparkContext

conf = (
    SparkConf().setMaster(sys.argv[1]).setAppName("wcidt-lifecycle-test")
    .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
    .set("spark.pyspark.python", sys.executable).set("spark.ui.enabled", "false")
)
sc = SparkContext(conf=conf)
total = sc.parallelize(range(1000), 8).map(lambda x: x * x).sum()
cores = sc.parallelize(range(64), 64).map(lambda _: 1).count()
print(json.dumps({"cores": sc.defaultParallelism, "sum": total, "tasks": cores}))
sc.stop()
"""


def lease_processes(lease_id) -> list[int]:
    return [pid for pid, _ in marked_processes(lease_id)]


@pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="the spark adapter needs Java 17: no java on PATH and no JAVA_HOME",
)
def test_a_spark_lease_runs_a_job_on_exactly_its_cores_and_leaves_no_process(
    cluster, site, user, tmp_path
):
    pool = make_pool(site, "spark", "spark", {"stop_grace_seconds": 5})
    lease = make_offer(user, pool, start=soon(2), seconds=600, cores=2, memory_gib=1)
    try:
        lease_accept(lease_id=lease.id, user=user)
        wait_until(lambda: phase_of(lease) == Phase.AVAILABLE, 120, "AVAILABLE", cluster.logs)
        connectors = Lease.objects.get(id=lease.id).connectors
        url = next(c["url"] for c in connectors if c["kind"] == "spark")
        assert url.startswith("spark://127.0.0.1:")
        assert lease_processes(lease.id) != []

        job = subprocess.run(
            [sys.executable, "-c", JOB, url],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )

        assert job.returncode == 0, job.stderr[-3000:]
        assert json.loads(job.stdout.splitlines()[-1]) == {
            "cores": 2,
            "sum": 332833500,
            "tasks": 64,
        }
        # The owner ends it soon; the tick releases it at the new end.
        lease_extend(lease_id=lease.id, user=user, end=timezone.now() + timedelta(seconds=2))
        done = wait_until(lambda: settled(lease), 60, "COMPLETED", cluster.logs)
    finally:
        spark_dir = cluster.state_dir / "spark" / str(lease.id)
        for pid in lease_processes(lease.id):  # only if the test failed half-way
            os.kill(pid, signal.SIGKILL)

    assert done.phase == Phase.COMPLETED
    assert phases(lease)[-2:] == [("AVAILABLE", "RELEASING"), ("RELEASING", "COMPLETED")]
    assert lease_processes(lease.id) == []
    assert not spark_dir.exists()


def slurm_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "is UP" in ping.stdout


needs_slurm = pytest.mark.skipif(
    not slurm_up(),
    reason="no Slurm: scontrol missing or no controller answers `scontrol ping`"
    " (run .ci/slurm-setup.sh as root)",
)


def whole_second(moment):
    return moment.replace(microsecond=0)


@needs_slurm
def test_slurm_reserves_on_accept_and_cancel_deletes_the_reservation(cluster, site, user):
    pool = make_pool(site, "hpc", "slurm", {"partition": "debug"})
    lease = make_offer(user, pool, start=whole_second(soon(3600)), seconds=7200, cores=2)
    name = f"wcidt-{lease.id}"
    try:
        lease_accept(lease_id=lease.id, user=user)
        wait_until(lambda: phase_of(lease) == Phase.WAITING, 20, "the reservation", cluster.logs)

        reservation = show_reservation(name)
        assert (reservation.cores, reservation.users) == (2, "root")
        assert (reservation.start, reservation.end) == (lease.start, lease.end)

        lease_cancel(lease_id=lease.id, user=user)
        done = wait_until(lambda: settled(lease), 20, "the release", cluster.logs)
    finally:
        subprocess.run(["scontrol", "delete", f"reservation={name}"], capture_output=True)

    assert (done.phase, done.released_at is not None) == (Phase.CANCELLED, True)
    assert show_reservation(name) is None


@needs_slurm
def test_slurm_reservation_is_gone_when_the_lease_ends(cluster, site, user):
    pool = make_pool(site, "hpc", "slurm", {"partition": "debug"})
    lease = make_offer(user, pool, start=whole_second(soon(9)), seconds=4, cores=1)
    name = f"wcidt-{lease.id}"
    try:
        lease_accept(lease_id=lease.id, user=user)
        wait_until(lambda: phase_of(lease) == Phase.WAITING, 8, "the reservation", cluster.logs)
        reservation = show_reservation(name)
        wait_until(lambda: phase_of(lease) == Phase.AVAILABLE, 15, "AVAILABLE", cluster.logs)
        available = Lease.objects.get(id=lease.id)
        done = wait_until(lambda: settled(lease), 20, "COMPLETED", cluster.logs)
    finally:
        subprocess.run(["scontrol", "delete", f"reservation={name}"], capture_output=True)

    assert (reservation.cores, reservation.start, reservation.end) == (1, lease.start, lease.end)
    assert available.connectors == [
        {
            "kind": "slurm-reservation",
            "name": name,
            "url": f"slurm://{cluster_name()}/reservation/{name}",
            "label": f"Slurm reservation {name} (sbatch --reservation={name})",
        }
    ]
    assert done.phase == Phase.COMPLETED
    assert show_reservation(name) is None
