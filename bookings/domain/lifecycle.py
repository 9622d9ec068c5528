"""The lease life cycle (DESIGN §5): the tick claims due leases, thin tasks call the adapters.

State lives in PostgreSQL only. A lease's next step follows from its phase (`_step_of`) and is
due at `next_action_at`. The tick (Celery beat, every LEASE_TICK_SECONDS) claims the leases
due within the next tick period with ``SELECT … FOR UPDATE SKIP LOCKED``, makes the phase moves
that are due now and hands back `Step`s for the tasks to enqueue; a step due later in that
period is enqueued with its exact due time as ETA (never more than one tick ahead, so a lost
message costs one claim period, and no far-future ETA exists). A finished step claims and
hands back the next one when it is due within a tick, so a lease moves on without waiting for
the next tick.

Claims. `claimed_until` says the lease's current step is taken: queued by the tick, or run
by the worker named in `claimed_by`. A worker running a step holds a PostgreSQL session
advisory lock keyed by the lease on its own connection; PostgreSQL drops it the moment that
process dies (its socket closes), so the next tick sees a claim whose worker is gone and
takes it over (with an event), instead of waiting for the claim to lapse (DESIGN §10: within
2 ticks). The claim is also extended by a heartbeat while the adapter call runs, and a claim
that stops beating lapses after LEASE_CLAIM_SECONDS: a queued step whose message was lost, or
a worker that hangs or whose host vanished without closing its connection. Adapters are
idempotent and keyed by the lease uuid, so a step run again finishes the work without
provisioning twice; a second message for a step another live worker runs is dropped. A step
that finds the lease moved on (cancelled meanwhile, say) does the step the lease needs now
instead, and an adapter call that returns after the lease ended is followed by another
release.

Phases: ACCEPTED → (reserve) → WAITING until the preparation time (the lease's preparation
start or start - the adapters' setup time, whichever is earlier) → PREPARING → (prepare; at the
start, not before) AVAILABLE → at the end RELEASING → (release) COMPLETED. CANCELLED and FAILED
are final, but their release still runs: `released_at` records it. Failed adapter calls retry
with exponential backoff; after LEASE_MAX_ATTEMPTS the lease is FAILED and released. A release
never gives up: it keeps retrying at most every LEASE_RETRY_MAX_SECONDS.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from adapters import AllocationSpec, LeaseSpec, UnknownAdapterError, get_adapter
from bookings.choices import ActorKind, Phase
from bookings.domain import policy
from bookings.domain.isotime import iso, parse_instant
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.leases import (
    lease_accepted_fields,
    lease_transition,
    offers_expire,
)
from bookings.domain.sql.locks import RUN_LOCK, RUN_PROBE, RUN_UNLOCK
from bookings.models import Lease
from resources.models import Pool

logger = logging.getLogger(__name__)

RESERVE, PREPARE, RELEASE = "reserve", "prepare", "release"
# How many due leases one tick claims; the rest wait for the next tick.
TICK_BATCH = 500
# A task that arrives this early (clock jitter of the ETA) still counts as on time.
EARLY_TOLERANCE = timedelta(milliseconds=50)
NOT_READY_PHASES = frozenset({Phase.ACCEPTED, Phase.WAITING, Phase.PREPARING})
ENDED_PHASES = frozenset({Phase.CANCELLED, Phase.FAILED, Phase.COMPLETED})


@dataclass(frozen=True)
class Step:
    """A task to enqueue: `kind` (reserve | prepare | release) for a lease, at `eta` or now."""

    kind: str
    lease_id: UUID
    eta: datetime | None = None


@dataclass(frozen=True)
class TickResult:
    expired: int
    steps: list[Step]


def leases_tick(*, now: datetime | None = None) -> TickResult:
    """Expire lapsed holds, claim the leases due within a tick period, move those due now."""
    now = now or timezone.now()
    expired = offers_expire(now=now)
    horizon = now + timedelta(seconds=settings.LEASE_TICK_SECONDS)
    steps = []
    with transaction.atomic():
        due = (
            Lease.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("owner")
            .filter(next_action_at__lte=horizon)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now) | ~Q(claimed_by=""))
            .order_by("next_action_at")[:TICK_BATCH]
        )
        for lease in due:
            if lease.claimed_until is not None and lease.claimed_until > now:
                if not _worker_gone(lease.id):
                    continue  # its worker is still at it
                message = f"{_step_of(lease)}: its worker {lease.claimed_by} is gone; taken over"
                _note(lease, message, ActorKind.SYSTEM)
            elif lease.claimed_until is not None:
                message = f"{_step_of(lease)}: its worker stopped reporting; enqueued again"
                _note(lease, message, ActorKind.SYSTEM)
            if lease.next_action_at <= now:
                _begin(lease, now, ActorKind.SYSTEM)
            step = _hand_on(lease, now)
            _save(lease)
            if step:
                steps.append(step)
    return TickResult(expired=expired, steps=steps)


def lease_reserve_run(*, lease_id) -> Step | None:
    """Book the back-ends ahead (slurm reserves the slot); then wait or prepare."""
    return _run(lease_id=lease_id, kind=RESERVE)


def lease_prepare_run(*, lease_id) -> Step | None:
    """Make the resources exist; AVAILABLE at the start (or at once if the start passed)."""
    return _run(lease_id=lease_id, kind=PREPARE)


def lease_release_run(*, lease_id) -> Step | None:
    """Make the resources gone; RELEASING → COMPLETED, or record the release of an ended lease."""
    return _run(lease_id=lease_id, kind=RELEASE)


def lease_loaded_fields(
    *, phase: str, preparation_start: datetime, end: datetime, now: datetime
) -> dict:
    """The life-cycle fields of a lease written in `phase` from outside the life cycle (a
    capacity file): due when a lease that reached that phase here would be, so the tick moves
    it on. ACCEPTED is scheduled exactly as `lease_accept` does; a loaded lease has no claim
    and no failed attempts."""
    fields = {"claimed_until": None, "attempts": 0, "next_action_at": None}
    if phase == Phase.ACCEPTED:
        fields.update(lease_accepted_fields(now=now))
    elif phase == Phase.WAITING:
        fields["next_action_at"] = preparation_start
    elif phase in (Phase.PREPARING, Phase.RELEASING):
        fields["next_action_at"] = now
    elif phase in (Phase.AVAILABLE, Phase.RUNNING):
        fields["next_action_at"] = end
    return fields


def lease_specs(lease: Lease) -> list[tuple[str, LeaseSpec]]:
    """(adapter name, LeaseSpec with only that adapter's allocations) for each adapter used."""
    groups: dict[str, list[AllocationSpec]] = {}
    allocations = lease.allocations.select_related("pool").order_by("pool__slug", "component")
    for a in allocations:
        groups.setdefault(a.pool.adapter, []).append(
            AllocationSpec(
                pool=a.pool.slug,
                amounts=a.amounts(nonzero=True),
                start=a.start,
                end=a.end,
                settings=a.pool.adapter_settings,
            )
        )
    if not groups and lease.displaced_allocations:
        # A displaced lease gave its allocations back; what it may have reserved ahead (slurm)
        # is released from the record kept of them.
        pools = {
            p.slug: p
            for p in Pool.objects.filter(slug__in=[a["pool"] for a in lease.displaced_allocations])
        }
        for a in lease.displaced_allocations:
            pool = pools.get(a["pool"])
            if pool is not None:
                groups.setdefault(pool.adapter, []).append(
                    AllocationSpec(
                        pool=pool.slug,
                        amounts=a["amounts"],
                        start=parse_instant(a["start"]),
                        end=parse_instant(a["end"]),
                        settings=pool.adapter_settings,
                    )
                )
    return [
        (
            name,
            LeaseSpec(
                uuid=lease.id,
                owner=lease.owner.get_username(),
                start=lease.start,
                end=lease.end,
                allocations=tuple(specs),
                executable=lease.executable,
            ),
        )
        for name, specs in sorted(groups.items())
    ]


def _step_of(lease: Lease) -> str | None:
    """The step the lease needs next, whenever it is due."""
    if lease.phase == Phase.ACCEPTED:
        return RESERVE
    if lease.phase in (Phase.WAITING, Phase.PREPARING):
        return PREPARE
    if lease.phase in (Phase.AVAILABLE, Phase.RUNNING, Phase.RELEASING):
        return RELEASE
    if lease.phase in ENDED_PHASES and lease.released_at is None:
        return RELEASE
    return None


def _begin(lease: Lease, now: datetime, actor_kind: str) -> None:
    """The phase moves that happen at a due time, by the tick or by the task that is due."""
    if lease.displaced and lease.phase in NOT_READY_PHASES and now >= lease.displaced_deadline:
        lease_transition(
            lease=lease,
            to=Phase.CANCELLED,
            actor_kind=actor_kind,
            message="cancelled: it was displaced and no fresh offer was accepted by its deadline",
            next_action_at=now,
        )
    elif lease.phase in NOT_READY_PHASES and now >= lease.end:
        _fail(lease, now, actor_kind, "its end passed before its resources were ready")
    elif lease.phase == Phase.WAITING:
        lease_transition(
            lease=lease, to=Phase.PREPARING, actor_kind=actor_kind, message="preparation begins"
        )
    elif lease.phase == Phase.PREPARING and lease.prepared_at and now >= lease.start:
        lease_transition(
            lease=lease,
            to=Phase.AVAILABLE,
            actor_kind=actor_kind,
            message="the lease starts; its resources are ready",
            next_action_at=lease.end,
        )
    elif lease.phase in (Phase.AVAILABLE, Phase.RUNNING) and now >= lease.end:
        lease_transition(
            lease=lease, to=Phase.RELEASING, actor_kind=actor_kind, message="the lease ended"
        )


def _hand_on(lease: Lease, now: datetime) -> Step | None:
    """Claim the lease's next step if it is due within a tick period; otherwise leave it to the
    tick. The caller saves the lease."""
    kind = _step_of(lease)
    lease.claimed_by = ""
    if kind is None:
        lease.next_action_at = None
    if lease.next_action_at is None or lease.next_action_at - now > _tick():
        lease.claimed_until = None
        return None
    due = max(now, lease.next_action_at)
    lease.claimed_until = due + _claim()
    return Step(kind, lease.id, eta=due if due > now else None)


def _run(*, lease_id, kind: str) -> Step | None:
    """Do step `kind` of a lease if it is the one due, with retries kept in the database."""
    locked = False
    try:
        with transaction.atomic():
            lease = _locked(lease_id)
            if lease is None or lease.next_action_at is None:
                return None  # gone, or nothing left to do: a stale message
            now = timezone.now()
            if lease.next_action_at - now > EARLY_TOLERANCE:
                step = _hand_on(lease, now)
                _save(lease)
                return step
            _begin(lease, now, ActorKind.WORKER)
            current = _step_of(lease)
            if current != kind or (kind == PREPARE and lease.prepared_at):
                # The lease moved on since this step was enqueued: do what it needs now.
                step = _hand_on(lease, now)
                _save(lease)
                return step
            # Taken before the claim commits, so no tick ever sees this claim unlocked.
            locked = _run_lock(lease_id)
            if not locked:
                return None  # another live worker runs this step: this message is a duplicate
            lease.claimed_until = now + _claim()
            lease.claimed_by = _worker_name()
            _save(lease)
            specs = lease_specs(lease)
        try:
            with _heartbeat(lease_id):
                result = WORK[kind](specs)
        except Exception as error:  # any failure of an adapter call is retried, not lost
            logger.warning("lease %s: %s failed: %s", lease_id, kind, error, exc_info=True)
            return _failed(lease_id=lease_id, kind=kind, error=error)
        return _done(lease_id=lease_id, kind=kind, result=result)
    finally:
        if locked:
            _run_unlock(lease_id)


def _done(*, lease_id, kind: str, result) -> Step | None:
    with transaction.atomic():
        lease = _locked(lease_id)
        if lease is None:
            return None
        now = timezone.now()
        lease.attempts = 0
        if kind != RELEASE and lease.phase in ENDED_PHASES:
            # It ended while this call ran: whatever the call made must go again.
            lease.released_at = None
            lease.next_action_at = now
            _note(lease, f"{kind} finished after the lease ended; releasing again")
        elif kind == RESERVE:
            _reserved(lease, now, setup_seconds=result)
        elif kind == PREPARE:
            _prepared(lease, now, connectors=result)
        else:
            _released(lease, now)
        step = _hand_on(lease, now)
        _save(lease)
        return step


def _reserved(lease: Lease, now: datetime, *, setup_seconds: int) -> None:
    prepare_at = min(lease.preparation_start, lease.start - timedelta(seconds=setup_seconds))
    if lease.phase != Phase.ACCEPTED:
        return
    if prepare_at > now:
        lease_transition(
            lease=lease,
            to=Phase.WAITING,
            actor_kind=ActorKind.WORKER,
            message=f"reserved; preparation begins at {iso(prepare_at)}",
            next_action_at=prepare_at,
        )
    else:
        lease_transition(
            lease=lease,
            to=Phase.PREPARING,
            actor_kind=ActorKind.WORKER,
            message="reserved; preparation begins at once",
            next_action_at=now,
        )


def _prepared(lease: Lease, now: datetime, *, connectors: list[dict]) -> None:
    if lease.phase != Phase.PREPARING:
        return
    lease.connectors = connectors
    lease.prepared_at = now
    if now >= lease.start:
        lease.next_action_at = now
        _begin(lease, now, ActorKind.WORKER)
    else:
        lease.next_action_at = lease.start
        _note(lease, f"prepared; AVAILABLE at the start, {iso(lease.start)}")


def _released(lease: Lease, now: datetime) -> None:
    lease.released_at = now
    lease.connectors = []
    lease.next_action_at = None
    if lease.phase == Phase.RELEASING:
        lease_transition(
            lease=lease,
            to=Phase.COMPLETED,
            actor_kind=ActorKind.WORKER,
            message="released; its resources are gone",
        )
    else:
        _note(lease, "released; its resources are gone")


def _failed(*, lease_id, kind: str, error: Exception) -> Step | None:
    with transaction.atomic():
        lease = _locked(lease_id)
        if lease is None:
            return None
        now = timezone.now()
        lease.attempts += 1
        lease.last_error = str(error)[:2000]
        retryable = getattr(error, "retryable", True)
        last = lease.attempts >= settings.LEASE_MAX_ATTEMPTS or not retryable
        delay = policy.retry_delay(
            lease.attempts,
            base=settings.LEASE_RETRY_BASE_SECONDS,
            most=settings.LEASE_RETRY_MAX_SECONDS,
        )
        what = f"{kind} failed (attempt {lease.attempts}): {error}"
        if kind == RELEASE and isinstance(error, UnknownAdapterError):
            # Nothing was ever provisioned through an adapter that does not exist, and no
            # retry can release through it: the lease ends here, saying so.
            lease.next_action_at = None
            what = f"release failed: {error}; not retried (fix the pool's adapter)"
            if lease.phase in ENDED_PHASES:
                _note(lease, what)
            else:
                lease_transition(
                    lease=lease, to=Phase.FAILED, actor_kind=ActorKind.WORKER, message=what
                )
        elif kind == RELEASE:
            # Never give up on a release: nothing may outlive its lease.
            lease.next_action_at = now + timedelta(seconds=delay)
            if last and lease.phase == Phase.RELEASING:
                _fail(lease, now, ActorKind.WORKER, f"{what}; release retried every {delay} s")
                lease.next_action_at = now + timedelta(seconds=delay)
            else:
                _note(lease, f"{what}; retry in {delay} s")
        elif lease.phase in ENDED_PHASES:
            # It ended while this call ran: no retry, its release is what it needs now.
            lease.attempts = 0
            lease.next_action_at = now
            _note(lease, f"{what}; the lease ended meanwhile, releasing")
        elif last:
            _fail(lease, now, ActorKind.WORKER, f"{what}; giving up, releasing")
        else:
            lease.next_action_at = now + timedelta(seconds=delay)
            _note(lease, f"{what}; retry in {delay} s")
        step = _hand_on(lease, now)
        _save(lease)
        return step


def _fail(lease: Lease, now: datetime, actor_kind: str, message: str) -> None:
    """FAILED; the release runs next, as a step of its own with fresh attempts."""
    lease_transition(
        lease=lease,
        to=Phase.FAILED,
        actor_kind=actor_kind,
        message=message,
        attempts=0,
        next_action_at=now,
    )


def _reserve(specs: list[tuple[str, LeaseSpec]]) -> int:
    """Reserve on every adapter; returns the longest setup time (seconds) among them."""
    setup = 0
    for name, spec in specs:
        adapter = get_adapter(name)
        adapter.reserve(spec)
        setup = max(setup, adapter.setup_seconds(spec))
    return setup


def _prepare(specs: list[tuple[str, LeaseSpec]]) -> list[dict]:
    connectors = []
    for name, spec in specs:
        connectors.extend(get_adapter(name).prepare(spec))
    return connectors


def _release(specs: list[tuple[str, LeaseSpec]]) -> None:
    """Release on every adapter, even when one fails; then raise the first failure that a
    retry can mend, else the first (an unknown adapter: nothing to retry)."""
    errors = []
    for name, spec in specs:
        try:
            get_adapter(name).release(spec)
        except Exception as error:  # the other adapters' resources must still go
            errors.append(error)
    if errors:
        raise next((e for e in errors if not isinstance(e, UnknownAdapterError)), errors[0])


WORK: dict[str, Callable] = {RESERVE: _reserve, PREPARE: _prepare, RELEASE: _release}


@contextmanager
def _heartbeat(lease_id) -> Iterator[None]:
    """Extend the claim while an adapter call runs, from a thread with its own connection."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(_claim().total_seconds() / 3):
                until = timezone.now() + _claim()
                Lease.objects.filter(id=lease_id).update(claimed_until=until)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{lease_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _lock_key(lease_id) -> int:
    """The advisory lock of a lease's running step: 64 bits of its uuid."""
    return int.from_bytes(UUID(str(lease_id)).bytes[:8], "big", signed=True)


def _run_lock(lease_id) -> bool:
    """Take the lease's run lock for this process's session (it outlives the transaction and
    dies with the process); False if another session holds it."""
    with connection.cursor() as cursor:
        cursor.execute(RUN_LOCK, [_lock_key(lease_id)])
        return cursor.fetchone()[0]


def _run_unlock(lease_id) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(RUN_UNLOCK, [_lock_key(lease_id)])
    except DatabaseError:  # the session is gone, and its locks with it
        logger.warning("lease %s: run lock not released: no database session", lease_id)


def _worker_gone(lease_id) -> bool:
    """True if no session holds the lease's run lock: the worker that claimed it died. The
    probe lock is held until the tick commits, while the tick also holds the lease row."""
    with connection.cursor() as cursor:
        cursor.execute(RUN_PROBE, [_lock_key(lease_id)])
        return cursor.fetchone()[0]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _locked(lease_id) -> Lease | None:
    return (
        Lease.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(id=lease_id)
        .first()
    )


def _note(lease: Lease, message: str, actor_kind: str = ActorKind.WORKER) -> None:
    """An event without a phase change (with what the step changed so far)."""
    leases_write([LeaseChange(lease, message=message)], actor_kind=actor_kind)


def _save(lease: Lease) -> None:
    """Write the bookkeeping the step changed (claims, attempts, due time): no event."""
    leases_write([LeaseChange(lease)], actor_kind=ActorKind.WORKER)


def _tick() -> timedelta:
    return timedelta(seconds=settings.LEASE_TICK_SECONDS)


def _claim() -> timedelta:
    return timedelta(seconds=settings.LEASE_CLAIM_SECONDS)
