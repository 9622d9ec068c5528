import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters import ADAPTER_NAMES, Adapter, AdapterError, AllocationSpec, LeaseSpec, get_adapter
from adapters.base import BaseAdapter
from adapters.simulated import SimulatedAdapter
from adapters.slurm import SlurmAdapter
from adapters.spark import SparkAdapter

pytestmark = pytest.mark.unit


def test_adapter_names_list_every_adapter():
    assert ADAPTER_NAMES == ("simulated", "spark", "slurm")


@pytest.mark.parametrize(
    ("name", "cls"),
    [("simulated", SimulatedAdapter), ("spark", SparkAdapter), ("slurm", SlurmAdapter)],
)
def test_get_adapter_builds_the_named_adapter_with_its_settings(name, cls):
    adapter = get_adapter(name, {"setup_seconds": 7})

    assert type(adapter) is cls
    assert adapter.name == name
    assert isinstance(adapter, Adapter)
    assert adapter.settings == {"setup_seconds": 7}


def test_get_adapter_without_settings_uses_empty_settings():
    assert get_adapter("simulated").settings == {}


def test_unknown_adapter_is_a_permanent_error_naming_the_known_ones():
    with pytest.raises(AdapterError) as info:
        get_adapter("kubernetes")

    assert info.value.retryable is False
    assert str(info.value) == "unknown adapter 'kubernetes'; known: simulated, spark, slurm"


def test_adapter_error_is_retryable_unless_told_otherwise():
    assert AdapterError("x").retryable is True
    assert AdapterError("x", retryable=False).retryable is False


def _lease(*pool_settings: dict) -> LeaseSpec:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=1)
    allocations = tuple(
        AllocationSpec(f"p{i}", {"cores": 1, "memory_gib": 1}, start, end, settings)
        for i, settings in enumerate(pool_settings)
    )
    return LeaseSpec(uuid.UUID(int=1), "astro", start, end, allocations)


@pytest.mark.parametrize(
    ("name", "default"), [("simulated", 0), ("spark", 30), ("slurm", 0)], ids=str
)
def test_every_adapter_reads_setup_seconds_from_its_settings_and_the_last_pools(name, default):
    assert isinstance(get_adapter(name), BaseAdapter)
    assert get_adapter(name).setup_seconds(_lease({})) == default
    adapter = get_adapter(name, {"setup_seconds": 5})
    assert adapter.setup_seconds(_lease({})) == 5
    assert adapter.setup_seconds(_lease({"setup_seconds": 9}, {})) == 9
    assert adapter.setup_seconds(_lease({"setup_seconds": 9}, {"setup_seconds": "12"})) == 12
