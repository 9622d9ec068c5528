import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters import AdapterError, AllocationSpec, LeaseSpec, get_adapter
from adapters.spark import connectors, lease_pids, worker_sizes

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def make_lease(*amounts):
    end = START + timedelta(hours=9)
    allocations = tuple(AllocationSpec(f"w{i}", a, START, end, {}) for i, a in enumerate(amounts))
    return LeaseSpec(uuid.uuid4(), "astro", START, end, allocations)


def test_one_worker_per_allocation_with_its_cores_and_memory():
    lease = make_lease({"cores": 26, "memory_gib": 43}, {"cores": 13, "memory_gib": 43})

    assert worker_sizes(lease) == [
        {"cores": 26, "memory_gib": 43},
        {"cores": 13, "memory_gib": 43},
    ]


@pytest.mark.parametrize(
    "amounts", [{"cores": 2}, {"memory_gib": 2}, {"cores": 0, "memory_gib": 1}]
)
def test_allocations_without_cores_or_memory_fail_permanently_at_reserve(amounts, tmp_path):
    with pytest.raises(AdapterError) as info:
        get_adapter("spark", {"state_dir": str(tmp_path)}).reserve(make_lease(amounts))

    assert info.value.retryable is False


def test_a_lease_without_allocations_fails_permanently():
    with pytest.raises(AdapterError) as info:
        worker_sizes(make_lease())

    assert info.value.retryable is False


def test_setup_seconds_default_and_setting():
    lease = make_lease({"cores": 1, "memory_gib": 1})

    assert get_adapter("spark").setup_seconds(lease) == 30
    assert get_adapter("spark", {"setup_seconds": 45}).setup_seconds(lease) == 45


def test_a_lease_never_prepared_is_gone_and_releasing_it_leaves_nothing(tmp_path):
    adapter = get_adapter("spark", {"state_dir": str(tmp_path)})
    lease = make_lease({"cores": 1, "memory_gib": 1})

    adapter.release(lease)

    assert adapter.status(lease) == "gone"
    assert lease_pids(lease) == []
    assert list((tmp_path / "spark").iterdir()) == []


def test_connectors_name_the_master_and_its_web_ui():
    state = {"host": "127.0.0.1", "master": {"port": 7077, "webui_port": 8080}}

    assert connectors(state) == [
        {"kind": "spark", "url": "spark://127.0.0.1:7077", "label": "Spark master"},
        {"kind": "spark-ui", "url": "http://127.0.0.1:8080", "label": "Spark master web UI"},
    ]


def test_a_missing_spark_home_fails_permanently(tmp_path):
    adapter = get_adapter("spark", {"state_dir": str(tmp_path), "spark_home": str(tmp_path)})

    with pytest.raises(AdapterError) as info:
        adapter.prepare(make_lease({"cores": 1, "memory_gib": 1}))

    assert info.value.retryable is False
    assert str(info.value) == f"no bin/spark-class under {tmp_path}"
