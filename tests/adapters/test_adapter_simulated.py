import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import AdapterError, AllocationSpec, LeaseSpec, get_adapter
from adapters.simulated import records_for
from tests.support import wait_until

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def make_lease(lease_id=None, pool_settings=None):
    end = START + timedelta(hours=2)
    allocation = AllocationSpec("edi-workers-1", {"cores": 4}, START, end, pool_settings or {})
    return LeaseSpec(lease_id or uuid.uuid4(), "astro", START, end, (allocation,))


def ops(lease, settings):
    return [(r["op"], r["result"]) for r in records_for(lease, settings)]


@pytest.fixture
def settings(tmp_path):
    return {"state_dir": str(tmp_path)}


def test_prepare_once_then_release(settings):
    adapter = get_adapter("simulated", settings)
    lease = make_lease()
    assert adapter.status(lease) == "gone"

    connectors = adapter.prepare(lease)

    assert connectors == [
        {"kind": "simulated", "url": f"simulated://{lease.uuid}", "label": "Simulated"}
    ]
    assert adapter.status(lease) == "ready"
    adapter.release(lease)
    assert adapter.status(lease) == "gone"
    assert ops(lease, settings) == [
        ("prepare", "started"),
        ("prepare", "done"),
        ("release", "done"),
    ]


def test_second_prepare_and_second_release_are_recorded_noops(settings):
    adapter = get_adapter("simulated", settings)
    lease = make_lease()

    first = adapter.prepare(lease)
    second = get_adapter("simulated", settings).prepare(lease)
    adapter.release(lease)
    adapter.release(lease)

    assert second == first
    assert ops(lease, settings) == [
        ("prepare", "started"),
        ("prepare", "done"),
        ("prepare", "noop"),
        ("release", "done"),
        ("release", "noop"),
    ]


def test_release_of_a_lease_never_prepared_is_a_noop(settings):
    lease = make_lease()

    get_adapter("simulated", settings).release(lease)

    assert ops(lease, settings) == [("release", "noop")]


def test_reserve_is_recorded_once(settings):
    adapter = get_adapter("simulated", settings)
    lease = make_lease()

    adapter.reserve(lease)
    adapter.reserve(lease)

    assert ops(lease, settings) == [("reserve", "done"), ("reserve", "noop")]


def test_records_carry_time_and_pid(settings):
    lease = make_lease()
    before = datetime.now(UTC)

    get_adapter("simulated", settings).reserve(lease)

    (record,) = records_for(lease, settings)
    assert record["pid"] == os.getpid()
    assert before <= datetime.fromisoformat(record["time"]) <= datetime.now(UTC)


def test_setup_seconds_default_zero_and_pool_settings_override(settings):
    assert get_adapter("simulated", settings).setup_seconds(make_lease()) == 0
    adapter = get_adapter("simulated", {**settings, "setup_seconds": 30})
    assert adapter.setup_seconds(make_lease()) == 30
    assert adapter.setup_seconds(make_lease(pool_settings={"setup_seconds": 90})) == 90


def test_state_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WCIDT_ADAPTER_STATE_DIR", str(tmp_path))
    lease = make_lease()

    get_adapter("simulated").reserve(lease)

    assert (tmp_path / "simulated" / f"{lease.uuid}.jsonl").exists()


def test_failure_rate_one_always_fails_retryably_and_changes_nothing(settings):
    adapter = get_adapter("simulated", {**settings, "failure_rate": 1})
    lease = make_lease()

    with pytest.raises(AdapterError) as info:
        adapter.prepare(lease)

    assert info.value.retryable is True
    assert adapter.status(lease) == "gone"
    assert ops(lease, settings) == [("prepare", "failed")]


def outcomes(settings, lease_ids):
    adapter = get_adapter("simulated", settings)
    result = []
    for lease_id in lease_ids:
        try:
            adapter.prepare(make_lease(lease_id))
        except AdapterError:
            result.append("failed")
        else:
            result.append("ready")
    return result


def test_seeded_failures_are_reproducible_and_near_the_rate(tmp_path):
    lease_ids = [uuid.UUID(int=i) for i in range(400)]
    settings = {"failure_rate": 0.25, "seed": 42}

    first = outcomes({**settings, "state_dir": str(tmp_path / "a")}, lease_ids)
    second = outcomes({**settings, "state_dir": str(tmp_path / "b")}, lease_ids)
    other_seed = outcomes({**settings, "seed": 7, "state_dir": str(tmp_path / "c")}, lease_ids)

    assert first == second
    assert first != other_seed
    assert 70 <= first.count("failed") <= 130


def test_retry_after_a_failure_prepares_exactly_once(settings):
    adapter = get_adapter("simulated", {**settings, "failure_rate": 0.5, "seed": 3})
    lease = make_lease(uuid.UUID(int=1))

    attempts = 0
    while True:
        attempts += 1
        try:
            adapter.prepare(lease)
            break
        except AdapterError:
            assert attempts < 50

    recorded = ops(lease, settings)
    assert recorded.count(("prepare", "done")) == 1
    assert recorded.count(("prepare", "failed")) == attempts - 1
    assert adapter.status(lease) == "ready"


PREPARE_SCRIPT = """
import json, sys, uuid
from datetime import datetime
from adapters import AllocationSpec, LeaseSpec, get_adapter
settings, lease_id, start, end = json.loads(sys.argv[1])
start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
allocation = AllocationSpec("edi-workers-1", {"cores": 4}, start, end, {})
lease = LeaseSpec(uuid.UUID(lease_id), "astro", start, end, (allocation,))
print(json.dumps(get_adapter("simulated", settings).prepare(lease)))
"""


def test_concurrent_prepares_in_separate_processes_prepare_once(settings):
    settings = {**settings, "prepare_seconds": 0.5}
    lease = make_lease()
    argument = json.dumps([settings, str(lease.uuid), START.isoformat(), lease.end.isoformat()])
    repo = Path(__file__).resolve().parents[2]

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PREPARE_SCRIPT, argument], cwd=repo, stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in processes]

    assert all(p.returncode == 0 for p in processes)
    assert all(output == outputs[0] for output in outputs)
    recorded = ops(lease, settings)
    assert sorted(recorded) == sorted(
        [("prepare", "started"), ("prepare", "done")] + [("prepare", "noop")] * 3
    )
    assert recorded[:2] == [("prepare", "started"), ("prepare", "done")]
    assert len({r["pid"] for r in records_for(lease, settings)}) == 4


def test_a_prepare_killed_midway_is_preparing_until_prepared_again(settings):
    slow = {**settings, "prepare_seconds": 30}
    lease = make_lease()
    argument = json.dumps([slow, str(lease.uuid), START.isoformat(), lease.end.isoformat()])
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-c", PREPARE_SCRIPT, argument], cwd=repo)
    try:
        wait_until(
            lambda: ops(lease, settings) == [("prepare", "started")],
            30,
            "the prepare to start",
            lambda: ops(lease, settings),
            interval=0.05,
        )
    finally:
        process.kill()
        process.wait()
    adapter = get_adapter("simulated", settings)
    assert adapter.status(lease) == "preparing"

    adapter.prepare(lease)

    assert adapter.status(lease) == "ready"
    assert ops(lease, settings) == [
        ("prepare", "started"),
        ("prepare", "started"),
        ("prepare", "done"),
    ]
