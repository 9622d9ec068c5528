"""The adapter interface (DESIGN §6), the base class and the helpers shared by the adapters.

An adapter turns a lease into real resources on one kind of back-end and back again. The task
layer converts Django models into the plain dataclasses below, groups a lease's allocations by
their pool's adapter and calls each adapter with a `LeaseSpec` holding only its allocations.

Every call is keyed by `lease.uuid` and idempotent: `reserve` and `prepare` mean "make it
exist", `release` means "make it gone". A worker may be SIGKILLed between (or inside) calls and
another process may make the next call, so adapters keep their state outside the Python
process: files under the state directory, process ids, the back-end itself.

Settings. An adapter is built with the adapter settings given to `get_adapter`; each allocation
carries its pool's adapter settings too. `lease_settings` overlays them (pool settings win),
so a key may be set once per adapter or per pool. Common key:

- ``state_dir``: where adapters keep their files; else env ``WCIDT_ADAPTER_STATE_DIR``, else
  ``<repo>/.data/adapters``.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

REPO_DIR = Path(__file__).resolve().parent.parent
STATE_DIR_ENV = "WCIDT_ADAPTER_STATE_DIR"

READY = "ready"
PREPARING = "preparing"
FAILED = "failed"
GONE = "gone"
STATUSES = (READY, PREPARING, FAILED, GONE)


@dataclass(frozen=True)
class AllocationSpec:
    """One allocation of a lease: amounts per dimension on one pool over `[start, end)`."""

    pool: str
    amounts: Mapping[str, int]
    start: datetime
    end: datetime
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class LeaseSpec:
    """What an adapter needs to know about a lease. Datetimes are timezone-aware UTC."""

    uuid: UUID
    owner: str
    start: datetime
    end: datetime
    allocations: tuple[AllocationSpec, ...]
    executable: Mapping[str, Any] | None = None


class AdapterError(Exception):
    """An adapter call failed. `retryable` is False when retrying cannot help."""

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Adapter(Protocol):
    name: str

    def setup_seconds(self, lease: LeaseSpec) -> int:
        """How many seconds before `lease.start` `prepare` must begin."""
        ...

    def reserve(self, lease: LeaseSpec) -> None:
        """Called when the lease is accepted; books the back-end ahead if it can. Idempotent."""
        ...

    def prepare(self, lease: LeaseSpec) -> list[dict]:
        """Make the lease's resources exist; returns connectors. Idempotent."""
        ...

    def status(self, lease: LeaseSpec) -> str:
        """One of "ready", "preparing", "failed", "gone"."""
        ...

    def release(self, lease: LeaseSpec) -> None:
        """Make the lease's resources gone, whoever created them. Idempotent."""
        ...


class BaseAdapter:
    """What every adapter shares: its settings, overlaid per lease with its pools' settings
    (`_settings`), `setup_seconds` read from them, and its directory under the state dir."""

    name: str
    # What `setup_seconds` answers when neither the adapter's nor a pool's settings say.
    default_setup_seconds = 0

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    def setup_seconds(self, lease: LeaseSpec) -> int:
        return int(self._settings(lease).get("setup_seconds", self.default_setup_seconds))

    def _settings(self, lease: LeaseSpec) -> dict[str, Any]:
        return lease_settings(self.settings, lease)

    def _state_dir(self, lease: LeaseSpec) -> Path:
        return state_dir(self._settings(lease), self.name)


def lease_settings(settings: Mapping[str, Any], lease: LeaseSpec) -> dict[str, Any]:
    """The adapter settings overlaid with the settings of the lease's pools, in order."""
    merged = dict(settings)
    for allocation in lease.allocations:
        merged.update(allocation.settings)
    return merged


def state_dir(settings: Mapping[str, Any], adapter: str) -> Path:
    """The adapter's own directory under the state directory, created if missing."""
    root = settings.get("state_dir") or os.environ.get(STATE_DIR_ENV) or REPO_DIR / ".data/adapters"
    path = Path(root) / adapter
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def lease_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock across processes; `remove_lock` may unlink it while held.

    The lock is a file locked with flock. A waiter that wakes up on a file unlinked meanwhile
    retries on the new one, so unlinking at release leaves nothing behind and stays safe.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                return
        finally:
            os.close(fd)


def remove_lock(path: Path) -> None:
    """Unlink a lock file held by this process through `lease_lock`."""
    path.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
