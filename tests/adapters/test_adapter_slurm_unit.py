import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters import AdapterError, AllocationSpec, LeaseSpec
from adapters.slurm import Reservation, SlurmAdapter, _error, parse_reservations, unix_user

pytestmark = pytest.mark.unit

# Captured from `TZ=UTC scontrol show reservation -o` on Slurm 22.05 (Debian 12).
SHOW_OUTPUT = (
    "ReservationName=wcidt-99aa2af8-d187-47c2-9ba7-4ed2c4edeccb StartTime=2026-11-23T20:10:28 "
    "EndTime=2026-11-23T21:10:59 Duration=01:00:31 Nodes=vm NodeCnt=1 CoreCnt=1 "
    "Features=(null) PartitionName=debug Flags=   NodeName=vm CoreIDs=0 TRES=cpu=1 Users=root "
    "Groups=(null) Accounts=(null) Licenses=(null) State=INACTIVE BurstBuffer=(null) Watts=n/a "
    "MaxStartDelay=(null)\n"
    "ReservationName=t4 StartTime=2026-11-23T19:06:58 EndTime=2026-11-23T20:06:58 "
    "Duration=01:00:00 Nodes=node[1-2] NodeCnt=2 CoreCnt=3 Features=(null) PartitionName=(null) "
    "Flags=MAINT,SPEC_NODES TRES=cpu=3 Users=alice,bob Groups=(null) Accounts=(null) "
    "Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n"
)
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_parse_show_reservation_one_line_per_reservation():
    assert parse_reservations(SHOW_OUTPUT) == [
        Reservation(
            name="wcidt-99aa2af8-d187-47c2-9ba7-4ed2c4edeccb",
            start=datetime(2026, 11, 23, 20, 10, 28, tzinfo=UTC),
            end=datetime(2026, 11, 23, 21, 10, 59, tzinfo=UTC),
            cores=1,
            users="root",
            partition="debug",
            nodes="vm",
        ),
        Reservation(
            name="t4",
            start=datetime(2026, 11, 23, 19, 6, 58, tzinfo=UTC),
            end=datetime(2026, 11, 23, 20, 6, 58, tzinfo=UTC),
            cores=3,
            users="alice,bob",
            partition=None,
            nodes="node[1-2]",
        ),
    ]


def test_parse_no_reservations():
    assert parse_reservations("No reservations in the system\n") == []


def make_lease(*allocations, owner="astro"):
    return LeaseSpec(uuid.UUID(int=5), owner, START, START + timedelta(hours=2), allocations)


def allocation(cores, start=START, end=START + timedelta(hours=2), **settings):
    return AllocationSpec("hpc", {"cores": cores, "memory_gib": 8}, start, end, settings)


def test_wanted_sums_cores_and_spans_the_allocations():
    lease = make_lease(
        allocation(4, START - timedelta(minutes=5), START + timedelta(hours=1), partition="p"),
        allocation(2, START, START + timedelta(hours=2, microseconds=1), partition="p"),
    )

    assert SlurmAdapter().wanted(lease) == Reservation(
        name="wcidt-00000000-0000-0000-0000-000000000005",
        start=START - timedelta(minutes=5),
        end=START + timedelta(hours=2, seconds=1),
        cores=6,
        users="root",
        partition="p",
        nodes=None,
    )


def test_wanted_takes_partition_and_nodes_from_adapter_settings_unless_the_pool_says():
    adapter = SlurmAdapter({"partition": "batch", "nodes": "n[1-4]"})

    assert adapter.wanted(make_lease(allocation(1))).partition == "batch"
    assert adapter.wanted(make_lease(allocation(1, partition="gpu"))).partition == "gpu"
    assert adapter.wanted(make_lease(allocation(1))).nodes == "n[1-4]"


def test_allocations_in_different_partitions_fail_permanently():
    lease = make_lease(allocation(1, partition="a"), allocation(1, partition="b"))

    with pytest.raises(AdapterError) as info:
        SlurmAdapter().wanted(lease)

    assert info.value.retryable is False


def test_lease_without_cores_fails_permanently():
    with pytest.raises(AdapterError) as info:
        SlurmAdapter().wanted(make_lease(allocation(0)))

    assert info.value.retryable is False


def test_unix_user_mapping_then_local_user_then_default():
    settings = {"user_map": {"astro": "gaia"}, "default_user": "nobody"}

    assert unix_user("astro", settings) == "gaia"
    assert unix_user("root", settings) == "root"
    assert unix_user("no-such-user-wcidt", settings) == "nobody"
    assert unix_user("no-such-user-wcidt", {}) == "root"


def test_user_map_from_pool_settings():
    lease = make_lease(allocation(1, user_map={"astro": "daemon"}))

    assert SlurmAdapter().wanted(lease).users == "daemon"


@pytest.mark.parametrize(
    ("stderr", "retryable"),
    [
        ("Error creating the reservation: Invalid user id", False),
        ("Error creating the reservation: Invalid partition name specified", False),
        ("Error creating the reservation: Requested nodes are busy", True),
        ("slurm_load_reservations error: Unable to contact slurm controller", True),
    ],
)
def test_scontrol_errors_are_permanent_only_when_a_retry_cannot_help(stderr, retryable):
    result = subprocess.CompletedProcess(["scontrol"], 1, stdout="", stderr=stderr)

    error = _error("scontrol create reservation", result)

    assert error.retryable is retryable
    assert str(error) == f"scontrol create reservation failed: {stderr}"


def test_setup_seconds_default_zero():
    assert SlurmAdapter().setup_seconds(make_lease(allocation(1))) == 0
    assert SlurmAdapter({"setup_seconds": 60}).setup_seconds(make_lease(allocation(1))) == 60
