import pytest

from adapters import ADAPTER_NAMES, Adapter, AdapterError, get_adapter
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
