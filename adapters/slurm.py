"""The `slurm` adapter: one Slurm advance reservation per lease.

`reserve` (called when the lease is accepted) makes the reservation ``wcidt-<uuid>`` exist with
the lease's cores over the lease's allocation interval; `prepare` makes sure it still does and
returns the connector ``{"kind": "slurm-reservation", "name": …, "url":
"slurm://<cluster>/reservation/<name>"}``; `release` cancels every job in it (``scancel
--reservation``) and deletes it. Slurm itself is the state: nothing is kept on disk.

- Idempotent: an existing reservation that matches is left alone; one whose times or user
  differ is updated in place; one whose cores, partition or nodes differ is deleted and created
  again (Slurm cannot update a core-based reservation's size).
- The reservation holds the sum of the allocations' ``cores`` from the earliest allocation start
  to the latest allocation end (``StartTime``/``EndTime`` rather than a whole-minute
  ``Duration``, so it matches the lease to the second). A start already past becomes "now".
  Slurm reservations hold cores only; ``memory_gib`` is not enforced.
- ``status``: "ready" while the reservation exists, "gone" otherwise.
- All allocations of a lease must name the same partition and nodes, since they share one
  reservation; otherwise the call fails permanently.
- `scontrol` runs with ``TZ=UTC``: it reads and prints times in its own zone.

Settings (all optional; a pool's settings override the adapter's):

- ``partition``: ``PartitionName=`` of the reservation (Slurm's default partition otherwise).
- ``nodes``: ``Nodes=`` of the reservation, a Slurm host list.
- ``user_map``: ``{owner: unix_user}``; an owner not in it is used as is when it is a Unix user
  on this host, else ``default_user`` (default "root"). Slurm refuses users it does not know.
- ``cluster``: the name in connector URLs; by default Slurm's ``ClusterName``.
- ``setup_seconds`` (default 0): the reservation exists from accept on, so nothing to wait for.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import GONE, READY, AdapterError, BaseAdapter, LeaseSpec

# Messages of scontrol that no retry can fix.
PERMANENT_ERRORS = (
    "Invalid user id",
    "Invalid partition name",
    "Invalid node name",
    "Invalid account",
    "Invalid core count",
)
NOT_FOUND = ("not found", "Requested reservation is invalid")
# A start this close to now is created as "now": Slurm refuses start times in the past.
START_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Reservation:
    """What the adapter wants, or what `scontrol show reservation` says."""

    name: str
    start: datetime
    end: datetime
    cores: int
    users: str
    partition: str | None = None
    nodes: str | None = None


class SlurmAdapter(BaseAdapter):
    name = "slurm"

    def reserve(self, lease: LeaseSpec) -> None:
        want = self.wanted(lease)
        now = datetime.now(UTC)
        if want.end <= now:
            raise AdapterError(f"lease {lease.uuid} ended at {want.end}", retryable=False)
        have = show_reservation(want.name)
        if have is None:
            _create(want, now)
        elif _same_size(have, want):
            changes = _changes(have, want, now)
            if changes:
                scontrol("update", f"ReservationName={want.name}", *changes)
        else:
            _delete(want.name)
            _create(want, now)

    def prepare(self, lease: LeaseSpec) -> list[dict]:
        self.reserve(lease)
        name = reservation_name(lease)
        cluster = self._settings(lease).get("cluster") or cluster_name()
        return [
            {
                "kind": "slurm-reservation",
                "name": name,
                "url": f"slurm://{cluster}/reservation/{name}",
                "label": f"Slurm reservation {name} (sbatch --reservation={name})",
            }
        ]

    def status(self, lease: LeaseSpec) -> str:
        return READY if show_reservation(reservation_name(lease)) else GONE

    def release(self, lease: LeaseSpec) -> None:
        name = reservation_name(lease)
        if show_reservation(name) is None:
            return
        _delete(name)

    def wanted(self, lease: LeaseSpec) -> Reservation:
        """The reservation that the lease's allocations call for."""
        settings = self._settings(lease)
        targets = {
            (
                allocation.settings.get("partition", self.settings.get("partition")),
                allocation.settings.get("nodes", self.settings.get("nodes")),
            )
            for allocation in lease.allocations
        }
        if len(targets) > 1:
            raise AdapterError(
                f"lease {lease.uuid}: slurm allocations name different partitions or nodes "
                f"{sorted(targets, key=str)}; one reservation cannot span them",
                retryable=False,
            )
        cores = sum(int(a.amounts.get("cores", 0)) for a in lease.allocations)
        if cores < 1:
            raise AdapterError(f"lease {lease.uuid} has no slurm cores", retryable=False)
        partition, nodes = targets.pop()
        return Reservation(
            name=reservation_name(lease),
            start=_floor(min(a.start for a in lease.allocations)),
            end=_ceil(max(a.end for a in lease.allocations)),
            cores=cores,
            users=unix_user(lease.owner, settings),
            partition=partition,
            nodes=nodes,
        )


def reservation_name(lease: LeaseSpec) -> str:
    return f"wcidt-{lease.uuid}"


def unix_user(owner: str, settings: Mapping[str, Any]) -> str:
    """The Unix user a reservation is for: mapped, else the owner if known here, else default."""
    mapped = settings.get("user_map", {}).get(owner)
    if mapped:
        return mapped
    try:
        pwd.getpwnam(owner)
    except KeyError:
        return settings.get("default_user", "root")
    return owner


def parse_reservations(text: str) -> list[Reservation]:
    """Parse `scontrol show reservation -o` (times printed in UTC, as we run it with TZ=UTC)."""
    reservations = []
    for line in text.splitlines():
        fields = dict(re.findall(r"(?:^|\s)(\w+)=(\S*)", line))
        if "ReservationName" not in fields:
            continue
        reservations.append(
            Reservation(
                name=fields["ReservationName"],
                start=_parse_time(fields["StartTime"]),
                end=_parse_time(fields["EndTime"]),
                cores=int(fields.get("CoreCnt") or 0),
                users=fields.get("Users", ""),
                partition=_value(fields.get("PartitionName")),
                nodes=_value(fields.get("Nodes")),
            )
        )
    return reservations


def show_reservation(name: str) -> Reservation | None:
    result = scontrol("show", "reservation", name, "-o", check=False)
    if result.returncode != 0:
        if _is_not_found(result):
            return None
        raise _error(f"scontrol show reservation {name}", result)
    found = [r for r in parse_reservations(result.stdout) if r.name == name]
    return found[0] if found else None


def cluster_name() -> str:
    for line in scontrol("show", "config").stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName":
            return value.strip()
    return "slurm"


def scontrol(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["scontrol", *args], check=check)


def run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a Slurm command in UTC; a missing command is permanent, a hung one retryable."""
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TZ": "UTC"},
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise AdapterError(f"{command[0]} not found: is Slurm installed?", retryable=False) from e
    except subprocess.TimeoutExpired as e:
        raise AdapterError(f"{' '.join(command)} timed out") from e
    if check and result.returncode != 0:
        raise _error(" ".join(command), result)
    return result


def _create(want: Reservation, now: datetime) -> None:
    args = ["create", "reservation", f"ReservationName={want.name}"]
    args += [*_time_args(want, now), f"CoreCnt={want.cores}", f"Users={want.users}"]
    if want.partition:
        args.append(f"PartitionName={want.partition}")
    if want.nodes:
        args.append(f"Nodes={want.nodes}")
    scontrol(*args)


def _delete(name: str) -> None:
    """Cancel the reservation's jobs, wait until they have left, then delete it."""
    run(["scancel", f"--reservation={name}"], check=False)
    deadline = time.monotonic() + 60
    while jobs := run(["squeue", "-h", f"--reservation={name}", "-o", "%i %T"]).stdout.split():
        if time.monotonic() > deadline:
            raise AdapterError(f"jobs still in reservation {name} after scancel: {jobs}")
        time.sleep(0.5)
    result = scontrol("delete", "reservation", name, check=False)
    if result.returncode != 0 and show_reservation(name) is not None:
        raise _error(f"scontrol delete reservation {name}", result)


def _time_args(want: Reservation, now: datetime) -> list[str]:
    start = "now" if want.start <= now + START_SLACK else _format_time(want.start)
    return [f"StartTime={start}", f"EndTime={_format_time(want.end)}"]


def _same_size(have: Reservation, want: Reservation) -> bool:
    if have.cores != want.cores:
        return False
    if want.partition and have.partition != want.partition:
        return False
    return not want.nodes or _hostnames(have.nodes or "") == _hostnames(want.nodes)


def _changes(have: Reservation, want: Reservation, now: datetime) -> list[str]:
    """The update arguments that make `have` into `want` (same size), none when they match."""
    changes = []
    # A reservation that has begun keeps its start when the lease's start is past too.
    started = have.start <= now and want.start <= now + START_SLACK
    if have.start != want.start and not started:
        changes.append(_time_args(want, now)[0])
    if have.end != want.end:
        changes.append(f"EndTime={_format_time(want.end)}")
    if have.users != want.users:
        changes.append(f"Users={want.users}")
    return changes


def _hostnames(hostlist: str) -> list[str]:
    return sorted(scontrol("show", "hostnames", hostlist).stdout.split())


def _error(what: str, result: subprocess.CompletedProcess[str]) -> AdapterError:
    message = (result.stderr or result.stdout).strip()
    permanent = any(p.lower() in message.lower() for p in PERMANENT_ERRORS)
    return AdapterError(f"{what} failed: {message}", retryable=not permanent)


def _is_not_found(result: subprocess.CompletedProcess[str]) -> bool:
    message = result.stderr + result.stdout
    return any(n in message for n in NOT_FOUND)


def _value(text: str | None) -> str | None:
    return None if text in (None, "", "(null)") else text


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _ceil(moment: datetime) -> datetime:
    floor = _floor(moment)
    return floor if floor == moment else floor + timedelta(seconds=1)
