"""Provisioning adapters (DESIGN §6): one module per back-end behind one interface.

`get_adapter(name, settings)` builds an adapter by the name a pool carries. No Django here:
the Celery tasks convert models into `LeaseSpec` / `AllocationSpec` before calling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.base import (
    FAILED,
    GONE,
    PREPARING,
    READY,
    STATUSES,
    Adapter,
    AdapterError,
    AllocationSpec,
    LeaseSpec,
)
from adapters.simulated import SimulatedAdapter
from adapters.slurm import SlurmAdapter
from adapters.spark import SparkAdapter

_ADAPTERS: dict[str, Callable[[Mapping[str, Any] | None], Adapter]] = {
    SimulatedAdapter.name: SimulatedAdapter,
    SparkAdapter.name: SparkAdapter,
    SlurmAdapter.name: SlurmAdapter,
}
ADAPTER_NAMES: tuple[str, ...] = tuple(_ADAPTERS)


class UnknownAdapterError(AdapterError):
    """No adapter of that name is registered: no retry can help, and nothing was ever
    provisioned through it."""

    def __init__(self, name: str) -> None:
        known = ", ".join(ADAPTER_NAMES)
        super().__init__(f"unknown adapter {name!r}; known: {known}", retryable=False)
        self.adapter = name


def get_adapter(name: str, settings: Mapping[str, Any] | None = None) -> Adapter:
    """The adapter called `name`, configured with `settings` (a pool's adapter settings)."""
    try:
        factory = _ADAPTERS[name]
    except KeyError:
        raise UnknownAdapterError(name) from None
    return factory(settings)


__all__ = [
    "ADAPTER_NAMES",
    "FAILED",
    "GONE",
    "PREPARING",
    "READY",
    "STATUSES",
    "Adapter",
    "AdapterError",
    "AllocationSpec",
    "LeaseSpec",
    "UnknownAdapterError",
    "get_adapter",
]
