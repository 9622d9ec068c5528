"""Against a real Slurm: the one-node cluster that .ci/slurm-setup.sh starts."""

import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters import AdapterError, AllocationSpec, LeaseSpec, get_adapter
from adapters.slurm import show_reservation
from tests.support import wait_until

pytestmark = pytest.mark.integration


def cluster_up() -> bool:
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "is UP" in ping.stdout


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    if shutil.which("scontrol") is None:
        pytest.skip("Slurm is not installed (scontrol missing): run .ci/slurm-setup.sh as root")
    if not cluster_up():
        pytest.skip("no Slurm controller answers `scontrol ping`: run .ci/slurm-setup.sh")


@pytest.fixture
def adapter():
    return get_adapter("slurm", {"partition": "debug"})


@pytest.fixture
def leases(adapter):
    """Leases a test made; whatever it leaves is released."""
    made = []
    yield made
    for lease in made:
        adapter.release(lease)


def whole_seconds(moment):
    return moment.replace(microsecond=0)


def make_lease(leases, *, start, hours=2, cores=1, owner="astro", lease_id=None):
    start, end = whole_seconds(start), whole_seconds(start + timedelta(hours=hours))
    allocation = AllocationSpec("hpc", {"cores": cores, "memory_gib": 1}, start, end, {})
    lease = LeaseSpec(lease_id or uuid.uuid4(), owner, start, end, (allocation,))
    leases.append(lease)
    return lease


def test_reserve_creates_the_reservation_with_cores_start_and_end(adapter, leases):
    lease = make_lease(leases, start=datetime.now(UTC) + timedelta(hours=1), cores=2)

    adapter.reserve(lease)

    reservation = show_reservation(f"wcidt-{lease.uuid}")
    assert reservation.cores == 2
    assert reservation.start == lease.start
    assert reservation.end == lease.end
    assert reservation.end - reservation.start == timedelta(hours=2)
    assert reservation.users == "root"
    assert reservation.partition == "debug"
    assert adapter.status(lease) == "ready"


def test_reserve_and_prepare_again_change_nothing(adapter, leases):
    lease = make_lease(leases, start=datetime.now(UTC) + timedelta(hours=1))
    adapter.reserve(lease)
    before = show_reservation(f"wcidt-{lease.uuid}")

    adapter.reserve(lease)
    connectors = adapter.prepare(lease)

    assert show_reservation(f"wcidt-{lease.uuid}") == before
    name = f"wcidt-{lease.uuid}"
    assert connectors == [
        {
            "kind": "slurm-reservation",
            "name": name,
            "url": f"slurm://wcidt/reservation/{name}",
            "label": f"Slurm reservation {name} (sbatch --reservation={name})",
        }
    ]


def test_reserve_updates_a_changed_end_and_recreates_changed_cores(adapter, leases):
    start = whole_seconds(datetime.now(UTC) + timedelta(hours=1))
    lease = make_lease(leases, start=start, hours=2, cores=1)
    adapter.reserve(lease)

    longer = make_lease(leases, start=start, hours=3, cores=1, lease_id=lease.uuid)
    adapter.reserve(longer)
    assert show_reservation(f"wcidt-{lease.uuid}").end == longer.end

    bigger = make_lease(leases, start=start, hours=3, cores=2, lease_id=lease.uuid)
    adapter.reserve(bigger)
    reservation = show_reservation(f"wcidt-{lease.uuid}")
    assert (reservation.cores, reservation.start, reservation.end) == (2, start, longer.end)


def test_a_lease_already_started_is_reserved_from_now(adapter, leases):
    lease = make_lease(leases, start=datetime.now(UTC) - timedelta(minutes=10))

    adapter.prepare(lease)
    adapter.prepare(lease)

    reservation = show_reservation(f"wcidt-{lease.uuid}")
    assert lease.start < reservation.start <= datetime.now(UTC)
    assert reservation.end == lease.end


def test_extending_a_running_lease_moves_only_the_end(adapter, leases):
    start = datetime.now(UTC) - timedelta(minutes=10)
    lease = make_lease(leases, start=start, hours=1)
    adapter.prepare(lease)
    before = show_reservation(f"wcidt-{lease.uuid}")

    extended = make_lease(leases, start=start, hours=2, lease_id=lease.uuid)
    adapter.reserve(extended)

    after = show_reservation(f"wcidt-{lease.uuid}")
    assert (after.start, after.end, after.cores) == (before.start, extended.end, 1)


def test_release_deletes_it_and_release_twice_is_fine(adapter, leases):
    lease = make_lease(leases, start=datetime.now(UTC) + timedelta(hours=1))
    adapter.reserve(lease)

    adapter.release(lease)
    adapter.release(lease)

    assert show_reservation(f"wcidt-{lease.uuid}") is None
    assert adapter.status(lease) == "gone"


def job_state(job_id):
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=False
    )
    for field in result.stdout.split():
        if field.startswith("JobState="):
            return field.removeprefix("JobState=")
    return None


def test_release_cancels_the_jobs_in_the_reservation(adapter, leases):
    lease = make_lease(leases, start=datetime.now(UTC))
    name = adapter.prepare(lease)[0]["name"]
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--reservation={name}",
            "-n1",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 600",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = submitted.stdout.strip().split(";")[0]
    wait_until(
        lambda: job_state(job_id) == "RUNNING",
        30,
        f"job {job_id} to run",
        lambda: job_state(job_id),
        interval=0.5,
    )

    adapter.release(lease)

    assert job_state(job_id) == "CANCELLED"
    assert show_reservation(name) is None


def test_an_unknown_unix_user_fails_permanently(leases):
    adapter = get_adapter("slurm", {"user_map": {"astro": "no-such-user-wcidt"}})
    lease = make_lease(leases, start=datetime.now(UTC) + timedelta(hours=1))

    with pytest.raises(AdapterError) as info:
        adapter.reserve(lease)

    assert info.value.retryable is False
    assert "Invalid user id" in str(info.value)
    assert show_reservation(f"wcidt-{lease.uuid}") is None
