"""The `simulated` adapter: provisions nothing. For demos and tests only.

It sleeps where a real adapter would work, fails at random when asked to, and records every
call so that tests can check what the task layer did ("prepared exactly once, then released").

Records: one JSON-lines file per lease, ``<state_dir>/simulated/<uuid>.jsonl``, append-only,
one line per call: ``{"op", "result", "time", "pid"}`` with op ``reserve`` | ``prepare`` |
``release`` and result ``started`` (prepare, before its sleep) | ``done`` | ``noop`` (nothing to
do: already prepared, or nothing to release) | ``failed`` (an injected failure). The file stays
after release: it is the record, not a resource.

Settings (all optional):

- ``setup_seconds`` (default 0): what `setup_seconds` answers.
- ``prepare_seconds``, ``release_seconds`` (default 0): how long prepare and release sleep.
- ``failure_rate`` (0..1, default 0): the chance that a prepare or release raises a retryable
  `AdapterError` (recorded as ``failed``, nothing changes).
- ``seed``: makes failures reproducible across processes: the draw for the n-th attempt of an
  operation on a lease depends only on (seed, uuid, op, n).
- ``state_dir``: see `adapters.base`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base import (
    GONE,
    PREPARING,
    READY,
    AdapterError,
    BaseAdapter,
    LeaseSpec,
    lease_lock,
)


class SimulatedAdapter(BaseAdapter):
    """Pretends to provision; for demos and tests only."""

    name = "simulated"

    def reserve(self, lease: LeaseSpec) -> None:
        with self._locked(lease) as path:
            done = any(r["op"] == "reserve" and r["result"] == "done" for r in read_records(path))
            self._record(path, "reserve", "noop" if done else "done")

    def prepare(self, lease: LeaseSpec) -> list[dict]:
        settings = self._settings(lease)
        with self._locked(lease) as path:
            if _state(read_records(path)) == READY:
                self._record(path, "prepare", "noop")
                return connectors(lease)
            self._maybe_fail(path, "prepare", settings)
            self._record(path, "prepare", "started")
            time.sleep(float(settings.get("prepare_seconds", 0)))
            self._record(path, "prepare", "done")
        return connectors(lease)

    def status(self, lease: LeaseSpec) -> str:
        return _state(read_records(self._path(lease)))

    def release(self, lease: LeaseSpec) -> None:
        settings = self._settings(lease)
        with self._locked(lease) as path:
            if _state(read_records(path)) == GONE:
                self._record(path, "release", "noop")
                return
            self._maybe_fail(path, "release", settings)
            time.sleep(float(settings.get("release_seconds", 0)))
            self._record(path, "release", "done")

    def _path(self, lease: LeaseSpec) -> Path:
        return self._state_dir(lease) / f"{lease.uuid}.jsonl"

    @contextmanager
    def _locked(self, lease: LeaseSpec) -> Iterator[Path]:
        path = self._path(lease)
        # The records file is its own lock file: it is never removed, so that is safe.
        with lease_lock(path):
            yield path

    def _maybe_fail(self, path: Path, op: str, settings: Mapping[str, Any]) -> None:
        rate = float(settings.get("failure_rate", 0))
        if rate <= 0:
            return
        seed = settings.get("seed")
        if seed is None:
            draw = random.random()
        else:
            attempt = sum(1 for r in read_records(path) if r["op"] == op)
            draw = random.Random(f"{seed}:{path.stem}:{op}:{attempt}").random()
        if draw < rate:
            self._record(path, op, "failed")
            raise AdapterError(f"simulated {op} failure (failure_rate={rate})", retryable=True)

    @staticmethod
    def _record(path: Path, op: str, result: str) -> None:
        line = {
            "op": op,
            "result": result,
            "time": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
        }
        with path.open("a") as f:
            f.write(json.dumps(line) + "\n")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The recorded calls of one lease, oldest first."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]


def records_for(lease: LeaseSpec, settings: Mapping[str, Any] | None = None) -> list[dict]:
    """The recorded calls of `lease` (for tests and demos)."""
    return read_records(SimulatedAdapter(settings)._path(lease))


def connectors(lease: LeaseSpec) -> list[dict]:
    return [{"kind": "simulated", "url": f"simulated://{lease.uuid}", "label": "Simulated"}]


def _state(records: list[dict[str, Any]]) -> str:
    """What the records say exists now: the last prepare or release that did something."""
    for record in reversed(records):
        if record["result"] in ("done", "started"):
            if record["op"] == "release":
                return GONE
            if record["op"] == "prepare":
                return READY if record["result"] == "done" else PREPARING
    return GONE
