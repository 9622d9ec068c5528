"""Epoch seconds: the step grid the engine plans on, and how its messages render times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

Instants = TypeVar("Instants", int, np.ndarray)


def ceil_step(value: Instants, step: int) -> Instants:
    """``value`` (an int or an array of them) rounded up to a multiple of ``step``."""
    return -(-value // step) * step


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hours(seconds: int) -> str:
    return f"{seconds / 3600:g} h"
