"""Leases written by `load_capacity` and `seed_demo` are driven by the real tick like accepted
ones (#5): before, they stayed ACCEPTED with no next_action_at and never started."""

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from bookings.choices import Phase
from bookings.models import Lease
from tests.bookings.lifecycle.lifecycle_support import phases, settled, soon
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_a_lease_loaded_by_load_capacity_starts_and_completes(cluster, transactional_db, tmp_path):
    start, end = soon(3), soon(8)
    path = tmp_path / "capacity.json"
    path.write_text(
        json.dumps(
            {
                "sites": [{"slug": "loaded", "name": "Loaded"}],
                "pools": [
                    {
                        "slug": "loaded-sim",
                        "site": "loaded",
                        "kind": "compute",
                        "capacity": {"cores": 8, "memory_gib": 16},
                        "adapter": "simulated",
                        "adapter_settings": {"prepare_seconds": 0.5},
                    }
                ],
                "leases": [
                    {
                        "owner": "astro",
                        "phase": "ACCEPTED",
                        "start": _z(start),
                        "end": _z(end),
                        "allocations": [{"pool": "loaded-sim", "amounts": {"cores": 2}}],
                    }
                ],
            }
        )
    )
    call_command("load_capacity", str(path))
    lease = Lease.objects.get()

    available = wait_until(lambda: lease.events.filter(to_phase=Phase.AVAILABLE).first(), 20, "up")
    done = wait_until(lambda: settled(lease), 30, "COMPLETED", cluster.logs)

    assert done.phase == Phase.COMPLETED
    assert phases(done) == [
        ("", "ACCEPTED"),
        ("ACCEPTED", "WAITING"),
        ("WAITING", "PREPARING"),
        ("PREPARING", "AVAILABLE"),
        ("AVAILABLE", "RELEASING"),
        ("RELEASING", "COMPLETED"),
    ]
    assert (available.time - start).total_seconds() < 3  # prepare 0.5 s from the start, a tick


def _expected(lease: Lease, now: datetime) -> str:
    """Where the life cycle takes a seeded lease (the simulated adapter, no setup time)."""
    if lease.end <= now:
        return Phase.FAILED  # its end passed before it could be prepared
    if lease.start <= now:
        return Phase.AVAILABLE
    return Phase.WAITING


def test_the_leases_seed_demo_writes_are_moved_on_by_the_tick(cluster, transactional_db):
    call_command("seed_demo")
    now = datetime.now(UTC)
    seeded = list(Lease.objects.all())
    assert len(seeded) == 3

    for lease in seeded:
        want = _expected(lease, now)
        wait_until(
            lambda lease=lease, want=want: Lease.objects.get(id=lease.id).phase == want,
            20,
            f"{lease.name} {want}",
            cluster.logs,
        )
