"""Real Spark standalone clusters from the pyspark wheel on Java 17."""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import AllocationSpec, LeaseSpec, get_adapter
from tests.adapters.spark_processes import marked_processes
from tests.support import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="the spark adapter needs Java 17: no java on PATH and no JAVA_HOME",
    ),
]

REPO = Path(__file__).resolve().parents[2]


def daemons(lease_id, main_class):
    """The JVMs running `main_class` for the lease (not the scripts that launch them)."""
    return [
        pid
        for pid, argv in marked_processes(lease_id)
        if main_class in argv and argv[0].endswith("java")
    ]


MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


def make_lease(*sizes, lease_id=None):
    start = datetime.now(UTC)
    end = start + timedelta(hours=1)
    allocations = tuple(
        AllocationSpec(f"workers-{i}", {"cores": c, "memory_gib": m}, start, end, {})
        for i, (c, m) in enumerate(sizes)
    )
    return LeaseSpec(lease_id or uuid.uuid4(), "astro", start, end, allocations)


@pytest.fixture
def settings(tmp_path):
    return {"state_dir": str(tmp_path), "stop_grace_seconds": 5}


@pytest.fixture
def cleanup(settings):
    """Leases a test made; whatever it leaves running is released."""
    leases = []
    yield leases
    for lease in leases:
        get_adapter("spark", settings).release(lease)


def master_json(connectors):
    ui = next(c["url"] for c in connectors if c["kind"] == "spark-ui")
    with urllib.request.urlopen(f"{ui}/json/", timeout=5) as response:
        return json.load(response)


JOB = """
import json, sys, time
from pyspark import SparkConf, SparkContext

url, executors = sys.argv[1], int(sys.argv[2])
conf = (
    SparkConf().setMaster(url).setAppName("wcidt-adapter-test")
    .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
    .set("spark.pyspark.python", sys.executable).set("spark.ui.enabled", "false")
)
sc = SparkContext(conf=conf)
deadline = time.monotonic() + 60
while sc._jsc.sc().getExecutorMemoryStatus().size() - 1 < executors:
    assert time.monotonic() < deadline, "executors did not register"
    time.sleep(0.2)
total = sc.parallelize(range(1000), 8).map(lambda x: x * x).sum()
print(json.dumps({"parallelism": sc.defaultParallelism, "sum": total}))
sc.stop()
"""


@pytest.mark.parametrize("sizes", [[(2, 2)], [(1, 1), (1, 1)]], ids=["one-worker", "two-workers"])
def test_a_job_gets_exactly_the_granted_cores_and_release_leaves_no_process(
    sizes, settings, cleanup, tmp_path
):
    adapter = get_adapter("spark", settings)
    lease = make_lease(*sizes)
    cleanup.append(lease)

    connectors = adapter.prepare(lease)

    assert adapter.status(lease) == "ready"
    url = next(c["url"] for c in connectors if c["kind"] == "spark")
    assert url.startswith("spark://127.0.0.1:")
    info = master_json(connectors)
    assert (info["aliveworkers"], info["cores"], info["memory"]) == (len(sizes), 2, 2048)
    job = subprocess.run(
        [sys.executable, "-c", JOB, url, str(len(sizes))],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert job.returncode == 0, job.stderr[-3000:]
    assert json.loads(job.stdout.splitlines()[-1]) == {"parallelism": 2, "sum": 332833500}

    adapter.release(lease)

    assert marked_processes(lease.uuid) == []
    assert adapter.status(lease) == "gone"
    assert list((tmp_path / "spark").iterdir()) == []


def test_prepare_twice_starts_one_master_and_release_twice_is_fine(settings, cleanup):
    adapter = get_adapter("spark", settings)
    lease = make_lease((1, 1))
    cleanup.append(lease)

    first = adapter.prepare(lease)
    masters = daemons(lease.uuid, MASTER)
    second = get_adapter("spark", settings).prepare(lease)

    assert second == first
    assert len(masters) == 1
    assert daemons(lease.uuid, MASTER) == masters
    assert len(daemons(lease.uuid, WORKER)) == 1
    adapter.release(lease)
    adapter.release(lease)
    assert marked_processes(lease.uuid) == []


PREPARE_AND_DIE = """
import json, os, signal, sys, uuid
from datetime import datetime
from adapters import AllocationSpec, LeaseSpec, get_adapter

settings, lease_id, start, end, sizes = json.loads(sys.argv[1])
start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
allocations = tuple(
    AllocationSpec(f"workers-{i}", {"cores": c, "memory_gib": m}, start, end, {})
    for i, (c, m) in enumerate(sizes)
)
lease = LeaseSpec(uuid.UUID(lease_id), "astro", start, end, allocations)
get_adapter("spark", settings).prepare(lease)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_fresh_adapter_releases_what_a_killed_worker_process_prepared(settings, tmp_path):
    lease = make_lease((1, 1), (1, 1))
    argument = [settings, str(lease.uuid), lease.start.isoformat(), lease.end.isoformat()]
    argument.append([[1, 1], [1, 1]])

    died = subprocess.run(
        [sys.executable, "-c", PREPARE_AND_DIE, json.dumps(argument)], cwd=REPO, timeout=180
    )

    assert died.returncode == -signal.SIGKILL
    assert (tmp_path / "spark" / str(lease.uuid) / "state.json").exists()
    assert len(daemons(lease.uuid, MASTER)) == 1
    assert len(daemons(lease.uuid, WORKER)) == 2
    fresh = get_adapter("spark", settings)
    assert fresh.status(lease) == "ready"

    fresh.release(lease)

    assert marked_processes(lease.uuid) == []
    assert fresh.status(lease) == "gone"
    assert list((tmp_path / "spark").iterdir()) == []


def test_prepare_after_a_crash_before_a_worker_was_recorded_leaves_one_worker(
    settings, cleanup, tmp_path
):
    adapter = get_adapter("spark", settings)
    lease = make_lease((1, 1))
    cleanup.append(lease)
    adapter.prepare(lease)
    (stray,) = daemons(lease.uuid, WORKER)
    # What a worker killed between starting the Spark worker and writing its pid leaves behind.
    state_file = tmp_path / "spark" / str(lease.uuid) / "state.json"
    state = json.loads(state_file.read_text())
    state["workers"][0]["process"] = None
    state_file.write_text(json.dumps(state))
    assert adapter.status(lease) == "preparing"

    connectors = adapter.prepare(lease)

    workers = daemons(lease.uuid, WORKER)
    assert len(workers) == 1
    assert workers != [stray]
    assert master_json(connectors)["aliveworkers"] == 1
    assert adapter.status(lease) == "ready"


def test_a_dead_master_is_reported_failed_and_prepare_starts_the_cluster_again(settings, cleanup):
    adapter = get_adapter("spark", settings)
    lease = make_lease((1, 1))
    cleanup.append(lease)
    first = adapter.prepare(lease)
    (master,) = daemons(lease.uuid, MASTER)
    os.killpg(os.getpgid(master), signal.SIGKILL)
    wait_until(lambda: adapter.status(lease) == "failed", 10, "the dead master reported failed")

    second = adapter.prepare(lease)

    assert second != first
    assert len(daemons(lease.uuid, MASTER)) == 1
    assert len(daemons(lease.uuid, WORKER)) == 1
    assert adapter.status(lease) == "ready"
