"""Capacity writes (DESIGN §8a): every change of a pool's capacity timeline goes through
here, under the booking guard, with its impact shown first.

The writes are one `CapacityEdit` each: add, change or remove a capacity change, or change a
pool's base capacity or whether it is enabled. `capacity_impact` says what an edit would do
to the bookings, without writing: which leases it displaces (owner, times, what is missing)
and the proposed re-plan (scheduler.engine.replan: greedy, then CP-SAT). `capacity_apply`
writes the edit and applies a proposal in one transaction under the guard: it locks every
pool of the site in id order, reads the calendar again, re-validates the proposal
(`replan.check`) and, when the calendar moved on since the preview, plans again (greedy,
under the lock) and says so: nothing is ever forced.

What happens to a lease:
  - **kept**: it still fits where it is;
  - **moved**: a new start within its consent (`Lease.flex`) and/or an equivalent pool of its
    site (same kind and adapter, enabled; `flex.pools` narrows them): event, notice
    `lease.moved` with the old and new times, version (iCal SEQUENCE) up;
  - **displaced**: no room within its consent: flagged, its allocations given back (kept in
    `displaced_allocations`), due at its deadline (the earlier of
    `REPLAN_DISPLACED_HOURS` from now and its preparation start), when the life cycle cancels
    it unless the owner accepted one of the fresh offers (made after the commit,
    `lease_displaced_offer`, held until the deadline, and sent with notice
    `lease.displaced`);
  - **degraded**: it had started (or is past its preparation start) and the drop takes
    capacity it is using: flagged, told (`lease.degraded`) and kept;
  - **withdrawn**: a live hold (an offer) that no longer fits is rejected with the reason.

The rules of who may move are in `_classify`; CP-SAT never runs under the lock (callers run
`capacity_impact` first, on a worker, and hand its plan to `capacity_apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.errors import DomainError, FieldErrors
from bookings.domain.inventory import epoch
from bookings.domain.isotime import iso, parse_instant
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.offer_sets import leases_decline, offer_set_create
from bookings.domain.planning.guard import lock_pools
from bookings.domain.planning.load import counts_as_load
from bookings.models import Allocation, Lease, LeaseEvent
from notices.choices import Kind
from resources.choices import DIMENSIONS, DIMENSIONS_BY_KIND
from resources.models import CapacityChange, Pool
from scheduler import engine
from scheduler.engine import replan
from scheduler.engine.profile import FreeProfile, build_profile, pool_dims

ADD, CHANGE, REMOVE, POOL = "add", "change", "remove", "pool"
ACTIONS = (ADD, CHANGE, REMOVE, POOL)
# Leases this close to their preparation start are not moved any more: they are fixed.
FIXED_MARGIN = timedelta(minutes=2)
FAR = datetime(9999, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
MOVABLE_PHASES = frozenset({Phase.ACCEPTED, Phase.WAITING})
MAX_REASON = 200


@dataclass(frozen=True)
class CapacityEdit:
    """One operator change of capacity, checked (`capacity_edit`)."""

    action: str
    pool_id: int
    change_id: int | None = None
    # add/change: start, end (None: open-ended), reason, and {dim: int or None};
    # pool: {dim: int} of its kind and enabled
    values: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in self.values.items()}
        return {
            "action": self.action,
            "pool": self.pool_id,
            "change": self.change_id,
            "values": values,
        }

    @classmethod
    def from_json(cls, data: dict) -> CapacityEdit:
        values = dict(data.get("values") or {})
        for key in ("start", "end"):
            if values.get(key):
                values[key] = parse_instant(values[key])
        return cls(data["action"], int(data["pool"]), data.get("change"), values)


@dataclass
class LeaseImpact:
    """What an edit does to one lease (one row of the preview)."""

    lease: Lease
    verdict: str  # moved | displaced | degraded | withdrawn
    start: datetime
    end: datetime
    pools: list[tuple[str, str]] = field(default_factory=list)  # (from, to) that change
    missing: str = ""

    @property
    def moved_by(self) -> timedelta:
        return self.start - self.lease.start


@dataclass
class Impact:
    edit: CapacityEdit
    summary: str
    rows: list[LeaseImpact]
    plan: replan.Plan
    kept: int = 0
    replanned: bool = False
    applied: bool = False
    messages: list[str] = field(default_factory=list)
    change_id: int | None = None  # the capacity change written (add, change)

    def count(self, verdict: str) -> int:
        return sum(row.verdict == verdict for row in self.rows)

    def proposal(self) -> list[dict]:
        """The plan as JSON, for a confirmation form or a task to hand back."""
        return [
            {"id": p.id, "shift": p.shift, "pools": list(p.pools)} for p in self.plan.placements
        ]

    def as_json(self) -> dict:
        return {
            "edit": self.edit.as_json(),
            "summary": self.summary,
            "applied": self.applied,
            "change": self.change_id,
            "replanned": self.replanned,
            "messages": self.messages,
            "kept": self.kept,
            "counts": {v: self.count(v) for v in ("moved", "displaced", "degraded", "withdrawn")},
            "leases": [
                {
                    "id": str(row.lease.id),
                    "name": row.lease.name,
                    "owner": row.lease.owner.get_username(),
                    "phase": row.lease.phase,
                    "verdict": row.verdict,
                    "start": iso(row.lease.start),
                    "end": iso(row.lease.end),
                    "new_start": iso(row.start),
                    "new_end": iso(row.end),
                    "pools": [{"from": a, "to": b} for a, b in row.pools],
                    "missing": row.missing,
                }
                for row in self.rows
            ],
            "plan": {
                "method": self.plan.method,
                "score": {
                    "placed": self.plan.score[0],
                    "unchanged": self.plan.score[1],
                    "shift_steps": -self.plan.score[2],
                    "pool_changes": -self.plan.score[3],
                },
                "greedy_seconds": round(self.plan.greedy_seconds, 4),
                "stages": [
                    {
                        "name": s.name,
                        "status": s.status,
                        "seconds": round(s.seconds, 4),
                        "value": s.value,
                    }
                    for s in self.plan.stages
                ],
                "proposal": self.proposal(),
            },
        }


# -- checking an edit ---------------------------------------------------------------------


def capacity_edit(*, action: str, pool: Pool, data: dict, change=None) -> CapacityEdit:
    """A checked edit of `pool` (and of `change`, one of its capacity changes, for change and
    remove), or DomainError naming every bad field; nothing is written."""
    errors = FieldErrors()
    if action not in ACTIONS:
        errors.add("action", f"must be one of {', '.join(ACTIONS)}")
        errors.raise_if_any("The capacity edit is not valid.")
    if action in (CHANGE, REMOVE) and (change is None or change.pool_id != pool.id):
        raise DomainError("No such capacity change of this pool.", status=404, code="not-found")
    if action == REMOVE:
        return CapacityEdit(REMOVE, pool.id, change.id)
    if action == POOL:
        return CapacityEdit(POOL, pool.id, None, _pool_values(pool, data, errors))
    values = _change_values(pool, data, errors, change)
    errors.raise_if_any("The capacity change is not valid.")
    return CapacityEdit(action, pool.id, change.id if change else None, values)


_CHANGE_KEYS = {"start", "end", "reason", "capacity"}


def _change_values(pool: Pool, data: dict, errors: FieldErrors, change=None) -> dict:
    """start, end, reason and every dimension (None: the base capacity stays) of a change,
    from `data` ({start, end, reason, capacity: {dim: n}}), over `change` if given."""
    if not isinstance(data, dict):
        errors.add("", "must be an object")
        errors.raise_if_any("The capacity change is not valid.")
    for key in sorted(map(str, set(data) - _CHANGE_KEYS)):
        errors.add(key, "is not a known field (start, end, reason, capacity)")
    current = {
        "start": change.start if change else None,
        "end": change.end if change else None,
        "reason": change.reason if change else "",
        **{d: getattr(change, d) if change else None for d in DIMENSIONS},
    }
    start = _instant(data["start"], "start", errors) if "start" in data else current["start"]
    if start is None and "start" not in data:
        errors.add("start", "is required")
    end = _instant(data["end"], "end", errors) if data.get("end") else current["end"]
    if "end" in data and not data["end"]:
        end = None
    if start and end and end <= start:
        errors.add("end", "must be after the start")
    reason = data.get("reason", current["reason"])
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        errors.add("reason", f"must be a string of at most {MAX_REASON} characters")
        reason = ""
    amounts = {d: current[d] for d in DIMENSIONS}
    if "capacity" in data:
        amounts = {d: None for d in DIMENSIONS}
        amounts.update(_amounts(pool, data["capacity"], "capacity", errors, nullable=True))
    if not any(v is not None for v in amounts.values()) and not errors.items:
        errors.add("capacity", "must set at least one dimension (0 everywhere: maintenance)")
    return {"start": start, "end": end, "reason": reason, **amounts}


def _pool_values(pool: Pool, data: dict, errors: FieldErrors) -> dict:
    if not isinstance(data, dict):
        errors.add("", "must be an object")
        errors.raise_if_any("The pool edit is not valid.")
    for key in sorted(map(str, set(data) - {"capacity", "enabled"})):
        errors.add(key, "is not a known field (capacity, enabled)")
    values = {d: getattr(pool, d) for d in DIMENSIONS_BY_KIND[pool.kind]}
    if "capacity" in data:
        values.update(_amounts(pool, data["capacity"], "capacity", errors, nullable=False))
    enabled = data.get("enabled", pool.enabled)
    if not isinstance(enabled, bool):
        errors.add("enabled", "must be true or false")
    values["enabled"] = bool(enabled)
    errors.raise_if_any("The pool edit is not valid.")
    return values


def _amounts(pool: Pool, value: Any, path: str, errors: FieldErrors, *, nullable: bool) -> dict:
    if not isinstance(value, dict) or not value:
        errors.add(path, "must be an object of dimension: amount")
        return {}
    dims = DIMENSIONS_BY_KIND[pool.kind]
    amounts = {}
    for dim, amount in value.items():
        if dim not in dims:
            errors.add(
                f"{path}.{dim}",
                f"a {pool.kind} pool has no dimension {dim!r} (it has {', '.join(dims)})",
            )
        elif amount is None and nullable:
            amounts[dim] = None
        elif not isinstance(amount, int) or isinstance(amount, bool):
            errors.add(f"{path}.{dim}", "must be a whole number")
        elif amount < 0:
            errors.add(f"{path}.{dim}", "must not be negative")
        elif amount > 2**31 - 1:
            errors.add(f"{path}.{dim}", f"must be at most {2**31 - 1}")
        else:
            amounts[dim] = amount
    return amounts


def _instant(value: Any, path: str, errors: FieldErrors) -> datetime | None:
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            errors.add(path, "needs a time zone")
            return None
        return value
    parsed = parse_instant(value)
    if parsed is None:
        errors.add(path, "must be an ISO 8601 date-time with a time zone")
    elif not EARLIEST <= parsed <= FAR:
        errors.add(path, f"must be from {EARLIEST.date()} to {FAR.date()}")
        return None
    return parsed


# -- the calendar an edit meets -----------------------------------------------------------


@dataclass
class _Calendar:
    """What an edit meets on its site: the pools as they will be, the leases by role, and
    the engine's inputs."""

    now: datetime
    pool: Pool
    pools: dict[str, Pool]  # every pool of the site, by slug
    epools: list[engine.Pool]  # the same as they will be after the edit
    span: tuple[datetime, datetime] | None  # where capacity goes down
    leases: dict[str, Lease]
    movable: list[replan.Movable]
    fixed: list[engine.Load]
    fixed_leases: dict[str, list[engine.Load]]
    holds: list[tuple[Lease, engine.Offer]]
    allocations: dict[str, list[Allocation]]


def _edited_pool(pool: Pool, edit: CapacityEdit | None) -> engine.Pool:
    """`pool` as the engine will see it after `edit` (None: as it is)."""
    dims = DIMENSIONS_BY_KIND[pool.kind]
    change_id = edit.change_id if edit else None
    changes = [c for c in pool.capacity_changes.all() if c.id != change_id]
    if edit and edit.action in (ADD, CHANGE):
        values = edit.values
        changes.append(
            CapacityChange(
                id=edit.change_id or 0,
                pool=pool,
                start=values["start"],
                end=values["end"],
                **{d: values.get(d) for d in DIMENSIONS},
            )
        )
    base = pool.capacity()
    enabled = pool.enabled
    if edit and edit.action == POOL:
        base = {d: edit.values[d] for d in dims}
        enabled = edit.values["enabled"]
    if not enabled:  # a disabled pool takes no bookings: nothing may stay on it
        base, changes = {d: 0 for d in dims}, []
    return engine.Pool(
        slug=pool.slug,
        site=pool.site.slug,
        kind=pool.kind,
        base=base,
        changes=tuple(
            engine.CapacityChange(
                epoch(c.start),
                epoch(c.end) if c.end else None,
                {d: v for d, v in c.capacity().items() if d in dims},
            )
            for c in sorted(changes, key=lambda c: (c.start, c.id or 2**62))
        ),
    )


def _span(pool: Pool, edit: CapacityEdit, now: datetime) -> tuple[datetime, datetime] | None:
    """Where the edit may lower the capacity (from now on); None: nowhere."""
    if edit.action == REMOVE:
        return None
    if edit.action == POOL:
        lower = not edit.values["enabled"] or any(
            edit.values[d] < getattr(pool, d) for d in DIMENSIONS_BY_KIND[pool.kind]
        )
        return (now, FAR) if lower else None
    start, end = edit.values["start"], edit.values["end"] or FAR
    if edit.action == CHANGE:
        old = next(c for c in pool.capacity_changes.all() if c.id == edit.change_id)
        start, end = min(start, old.start), max(end, old.end or FAR)
    start = max(start, now)
    return (start, end) if start < end else None


def _site_pools(pool: Pool) -> dict[str, Pool]:
    pools = Pool.objects.filter(site_id=pool.site_id).select_related("site")
    return {p.slug: p for p in pools.prefetch_related("capacity_changes").order_by("id")}


def _calendar(edit: CapacityEdit, *, now: datetime) -> _Calendar:
    """Read what the edit meets (no locks taken here: `capacity_apply` locks first)."""
    try:
        pool = Pool.objects.select_related("site").get(id=edit.pool_id)
    except Pool.DoesNotExist:
        raise DomainError("No such pool.", status=404, code="not-found") from None
    pools = _site_pools(pool)
    pool = pools[pool.slug]
    if edit.change_id is not None and not any(
        c.id == edit.change_id for c in pool.capacity_changes.all()
    ):
        raise DomainError("No such capacity change of this pool.", status=404, code="not-found")
    epools = [_edited_pool(p, edit if p.id == pool.id else None) for p in pools.values()]
    calendar = _Calendar(now, pool, pools, epools, _span(pool, edit, now), {}, [], [], {}, [], {})
    allocations = (
        Allocation.objects.filter(
            counts_as_load(now),
            pool__site_id=pool.site_id,
            period__overlap=DateTimeTZRange(now, FAR, "[)"),
        )
        .select_related("lease__owner", "pool")
        .order_by("lease__created", "lease_id", "component", "replica")
    )
    for a in allocations:
        key = str(a.lease_id)
        calendar.leases.setdefault(key, a.lease)
        calendar.allocations.setdefault(key, []).append(a)
    _classify(calendar)
    return calendar


def _classify(calendar: _Calendar) -> None:
    """Holds, movables (in booking order) and fixed load. A lease may move when it is
    accepted or waiting, not yet near its preparation, and either uses the edited pool in
    the span or consented to move across it."""
    now, span, edited = calendar.now, calendar.span, calendar.pool.slug
    for key, lease in calendar.leases.items():
        allocations = calendar.allocations[key]
        if lease.phase == Phase.OFFERED:
            calendar.holds.append((lease, _offer(lease, allocations)))
            continue
        flex = lease.flex or {}
        before = timedelta(seconds=flex.get("before", 0))
        after = timedelta(seconds=flex.get("after", 0))
        touches = span is not None and any(
            a.pool.slug == edited and a.start < span[1] and a.end > span[0] for a in allocations
        )
        consents = (
            span is not None
            and (before or after)
            and lease.preparation_start - before < span[1]
            and lease.end + after > span[0]
        )
        eligible = (
            lease.phase in MOVABLE_PHASES
            and not lease.displaced
            and lease.preparation_start > now + FIXED_MARGIN
        )
        if eligible and (touches or consents):
            calendar.movable.append(_movable(calendar, lease, allocations))
        else:
            loads = [_load(a) for a in allocations]
            calendar.fixed += loads
            if touches:
                calendar.fixed_leases[key] = loads


def _load(a: Allocation) -> engine.Load:
    return engine.Load(a.pool.slug, epoch(a.start), epoch(a.end), a.amounts(nonzero=True))


def _offer(lease: Lease, allocations: list[Allocation]) -> engine.Offer:
    return engine.Offer(
        site="",
        start=epoch(lease.start),
        end=epoch(lease.end),
        preparation_start=epoch(lease.preparation_start),
        grants=tuple(
            engine.Grant(
                a.component,
                a.replica,
                a.pool.slug,
                a.amounts(nonzero=True),
                epoch(a.start),
                epoch(a.end),
            )
            for a in allocations
        ),
    )


def equivalent_pools(pool: Pool, pools, *, allowed=None) -> tuple[str, ...]:
    """The pools a lease's allocation on `pool` may move to: same site, kind and adapter,
    enabled, and among `allowed` (the lease's `flex.pools`) when it names some."""
    return tuple(
        p.slug
        for p in pools
        if p.id != pool.id
        and p.site_id == pool.site_id
        and p.kind == pool.kind
        and p.adapter == pool.adapter
        and p.enabled
        and (allowed is None or p.slug in allowed)
    )


def _movable(calendar: _Calendar, lease: Lease, allocations: list[Allocation]) -> replan.Movable:
    flex = lease.flex or {}
    allowed = flex.get("pools")
    pools = list(calendar.pools.values())
    return replan.Movable(
        id=str(lease.id),
        parts=tuple(
            replan.Part(
                a.pool.slug,
                epoch(a.start),
                epoch(a.end),
                a.amounts(nonzero=True),
                equivalent_pools(a.pool, pools, allowed=allowed),
            )
            for a in allocations
        ),
        preparation_start=epoch(lease.preparation_start),
        before=int(flex.get("before", 0)),
        after=int(flex.get("after", 0)),
    )


# -- the impact ---------------------------------------------------------------------------


def _plan(calendar: _Calendar, *, cp_sat: bool) -> replan.Plan:
    return replan.replan(
        pools=calendar.epools,
        fixed=calendar.fixed,
        movable=calendar.movable,
        step=settings.ENGINE_STEP_SECONDS,
        not_before=epoch(calendar.now + FIXED_MARGIN),
        stage_seconds=settings.REPLAN_STAGE_SECONDS,
        workers=settings.REPLAN_WORKERS,
        use_cp_sat=cp_sat,
    )


def _valid(calendar: _Calendar, placements: list[replan.Placement]) -> bool:
    ids = {m.id for m in calendar.movable}
    if not {p.id for p in placements} <= ids:
        return False
    return not replan.check(
        pools=calendar.epools,
        fixed=calendar.fixed,
        movable=calendar.movable,
        placements=placements,
        step=settings.ENGINE_STEP_SECONDS,
        not_before=epoch(calendar.now + FIXED_MARGIN),
    )


def _impact(calendar: _Calendar, edit: CapacityEdit, plan: replan.Plan) -> Impact:
    rows = []
    by_id = {p.id: p for p in plan.placements}
    kept = 0
    base = _free_after_fixed(calendar)
    for m in calendar.movable:
        lease = calendar.leases[m.id]
        placement = by_id.get(m.id)
        if placement is None:
            rows.append(
                LeaseImpact(
                    lease, "displaced", lease.start, lease.end, missing=_missing(calendar, m, base)
                )
            )
            continue
        own = [p.pool for p in m.parts]
        changed = sorted({(a, b) for a, b in zip(own, placement.pools, strict=True) if a != b})
        if placement.shift == 0 and not changed:
            kept += 1
            continue
        shift = timedelta(seconds=placement.shift)
        rows.append(LeaseImpact(lease, "moved", lease.start + shift, lease.end + shift, changed))
    for key in calendar.fixed_leases:  # fixed, on the edited pool, in the span
        lease = calendar.leases[key]
        over = _missing_fixed(calendar, key, base)  # the fixed load alone is over there
        if over and not lease.degraded:
            rows.append(LeaseImpact(lease, "degraded", lease.start, lease.end, missing=over))
    for lease, _offer in _withdrawn(calendar, plan):
        rows.append(LeaseImpact(lease, "withdrawn", lease.start, lease.end))
    rows.sort(key=lambda r: (r.lease.start, str(r.lease.id)))
    return Impact(edit, _summary(calendar, edit), rows, plan, kept=kept)


def _free_after_fixed(calendar: _Calendar) -> dict[str, FreeProfile]:
    """The edited pool's free capacity after the change, fixed load only (unclamped)."""
    epool = next(p for p in calendar.epools if p.slug == calendar.pool.slug)
    lo = epoch(calendar.now)
    his = [
        lo + 1,
        *(x.end for x in calendar.fixed),
        *(p.end for m in calendar.movable for p in m.parts),
    ]
    return {
        epool.slug: build_profile(
            pool=epool,
            loads=[x for x in calendar.fixed if x.pool == epool.slug],
            lo=lo,
            hi=max(his) + 1,
            dims=pool_dims(epool),
            clamp=False,
        )
    }


def _shortfall(profile, start: int, end: int, amounts: dict) -> str:
    """The largest shortfall of `amounts` over [start, end) on `profile`: "6 cores"."""
    start = max(start, profile.lo)
    if start >= end:
        return ""
    lowest = dict(
        zip(profile.dims, profile.window_min_one(start, min(end, profile.hi)), strict=True)
    )
    short = [
        f"{amount - max(lowest.get(dim, 0), 0)} {dim}"
        for dim, amount in amounts.items()
        if amount > max(lowest.get(dim, 0), 0)
    ]
    return ", ".join(short)


def _missing(calendar: _Calendar, m: replan.Movable, base) -> str:
    profile = base[calendar.pool.slug]
    needs = [p for p in m.parts if p.pool == calendar.pool.slug]
    if not needs:
        return "no room within its consent on the other pools it uses"
    total: dict[str, int] = {}
    for p in needs:
        for d, v in p.amounts.items():
            total[d] = total.get(d, 0) + v
    start, end = min(p.start for p in needs), max(p.end for p in needs)
    return _shortfall(profile, start, end, total) or "the room left is taken by earlier bookings"


def _missing_fixed(calendar: _Calendar, key: str, base) -> str:
    """How far the edited pool is over during fixed lease `key` ("over by 2 cores"), with the
    fixed load alone after the edit; "" when it is not."""
    profile = base[calendar.pool.slug]
    loads = [x for x in calendar.fixed_leases[key] if x.pool == calendar.pool.slug]
    start, end = min(x.start for x in loads), max(x.end for x in loads)
    first = max(start, profile.lo)
    if first >= end:
        return ""
    lowest = dict(
        zip(profile.dims, profile.window_min_one(first, min(end, profile.hi)), strict=True)
    )
    short = [f"{-v} {d}" for d, v in lowest.items() if v < 0]
    return "over by " + ", ".join(short) if short else ""


def _withdrawn(calendar: _Calendar, plan: replan.Plan) -> list[tuple[Lease, engine.Offer]]:
    """Live holds that no longer fit beside the commitments as planned (earlier holds first)."""
    if not calendar.holds or calendar.span is None:
        return []
    by_id = {m.id: m for m in calendar.movable}
    load = list(calendar.fixed)
    for p in plan.placements:
        for part, slug in zip(by_id[p.id].parts, p.pools, strict=True):
            load.append(engine.Load(slug, part.start + p.shift, part.end + p.shift, part.amounts))
    out = []
    for lease, offer in calendar.holds:
        if engine.fits(pools=calendar.epools, load=load, offer=offer):
            load += [engine.Load(g.pool, g.start, g.end, g.amounts) for g in offer.grants]
        else:
            out.append((lease, offer))
    return out


def _summary(calendar: _Calendar, edit: CapacityEdit) -> str:
    pool = calendar.pool
    if edit.action == REMOVE:
        return f"Remove a capacity change of {pool.slug}"
    if edit.action == POOL:
        capacity = ", ".join(f"{edit.values[d]} {d}" for d in DIMENSIONS_BY_KIND[pool.kind])
        state = "enabled" if edit.values["enabled"] else "disabled"
        return f"{pool.slug}: base capacity {capacity}, {state}"
    values = edit.values
    capacity = ", ".join(f"{values[d]} {d}" for d in DIMENSIONS if values.get(d) is not None)
    until = iso(values["end"]) if values["end"] else "further notice"
    verb = "Add" if edit.action == ADD else "Change to"
    reason = f" ({values['reason']})" if values.get("reason") else ""
    return f"{verb} {capacity} on {pool.slug} from {iso(values['start'])} to {until}{reason}"


def capacity_impact(edit: CapacityEdit, *, cp_sat: bool = True) -> Impact:
    """What `edit` would do, without writing anything: the leases it displaces, moves,
    degrades or withdraws, and the proposed re-plan (CP-SAT too unless `cp_sat` is False;
    run it on a worker, never on the request path)."""
    calendar = _calendar(edit, now=timezone.now())
    return _impact(calendar, edit, _plan(calendar, cp_sat=cp_sat))


def capacity_run(edit: CapacityEdit, *, apply: bool, actor, proposal=None, after_commit=None):
    """In this process: the preview (greedy and CP-SAT), or the apply of `proposal` (or of
    a fresh preview's plan when there is none). Returns the impact as JSON."""
    if apply:
        if proposal is None:
            proposal = capacity_impact(edit).proposal()
        impact = capacity_apply(edit, actor=actor, proposal=proposal, after_commit=after_commit)
    else:
        impact = capacity_impact(edit)
    return impact.as_json()


# -- applying -----------------------------------------------------------------------------


def capacity_apply(
    edit: CapacityEdit,
    *,
    actor=None,
    proposal: list[dict] | None = None,
    after_commit: Callable[[list[str]], None] | None = None,
) -> Impact:
    """Write `edit` and apply `proposal` (an Impact's `proposal()`, from a preview) in one
    transaction under the guard. The proposal is checked against the calendar as it is now;
    if it no longer fits, the edit is planned again (greedy, under the lock) and the impact
    says so. The displaced leases' ids go to `after_commit` (default: make their fresh
    offers at once, `lease_displaced_offer`)."""
    with transaction.atomic():
        pool = Pool.objects.select_related("site").filter(id=edit.pool_id).first()
        if pool is None:
            raise DomainError("No such pool.", status=404, code="not-found")
        lock_pools(Pool.objects.filter(site_id=pool.site_id).values_list("slug", flat=True))
        calendar = _calendar(edit, now=timezone.now())
        placements = None
        if proposal is not None:
            placements = _placements(proposal)
        replanned = placements is not None and not _valid(calendar, placements)
        if placements is None or replanned:
            plan = _plan(calendar, cp_sat=False)
        else:
            placed = {p.id for p in placements}
            unplaced = tuple(m.id for m in calendar.movable if m.id not in placed)
            value = replan.score(calendar.movable, placements, settings.ENGINE_STEP_SECONDS)
            plan = replan.Plan(tuple(placements), unplaced, "proposal", value)
        impact = _impact(calendar, edit, plan)
        impact.replanned = replanned
        if replanned:
            impact.messages.append(
                "The calendar changed since the preview: the edit was planned again."
            )
        impact.change_id = _write_edit(calendar, edit)
        displaced = _write_leases(calendar, impact, actor=actor)
        impact.applied = True
        transaction.on_commit(lambda: (after_commit or _offers_now)(displaced))
    return impact


def _placements(proposal: list[dict]) -> list[replan.Placement] | None:
    try:
        return [
            replan.Placement(str(p["id"]), int(p["shift"]), tuple(str(s) for s in p["pools"]))
            for p in proposal
        ]
    except (KeyError, TypeError, ValueError):
        return None


def _write_edit(calendar: _Calendar, edit: CapacityEdit) -> int | None:
    pool = calendar.pool
    values = edit.values
    if edit.action == REMOVE:
        CapacityChange.objects.filter(id=edit.change_id, pool=pool).delete()
    elif edit.action == POOL:
        for d in DIMENSIONS_BY_KIND[pool.kind]:
            setattr(pool, d, values[d])
        pool.enabled = values["enabled"]
        pool.save(update_fields=[*DIMENSIONS_BY_KIND[pool.kind], "enabled"])
    else:
        fields = {
            "start": values["start"],
            "end": values["end"],
            "reason": values.get("reason", ""),
            **{d: values.get(d) for d in DIMENSIONS},
        }
        if edit.action == ADD:
            return CapacityChange.objects.create(pool=pool, **fields).id
        CapacityChange.objects.filter(id=edit.change_id, pool=pool).update(**fields)
        return edit.change_id
    return None


def _why(calendar: _Calendar, edit: CapacityEdit) -> str:
    reason = edit.values.get("reason") if edit.action in (ADD, CHANGE) else ""
    what = "maintenance" if reason == "" and edit.action == ADD else reason
    return f"{what or 'a capacity change'} on {calendar.pool.slug}"


def _write_leases(calendar: _Calendar, impact: Impact, *, actor) -> list[str]:
    """The leases' side of an applied edit: moves, displacements, degradations, withdrawn
    holds, with their events and notices (one `leases_write`)."""
    now, why = calendar.now, _why(calendar, impact.edit)
    pools = calendar.pools
    hours = timedelta(hours=settings.REPLAN_DISPLACED_HOURS)
    changes, displaced = [], []
    by_id = {p.id: p for p in impact.plan.placements}
    for row in impact.rows:
        lease = row.lease
        key = str(lease.id)
        if row.verdict == "moved":
            shift = timedelta(seconds=by_id[key].shift)
            _move_allocations(calendar.allocations[key], shift, by_id[key].pools, pools)
            fields = {
                "start": lease.start + shift,
                "end": lease.end + shift,
                "preparation_start": lease.preparation_start + shift,
            }
            if lease.phase == Phase.WAITING and lease.next_action_at:
                fields["next_action_at"] = lease.next_action_at + shift
            moves = [f"start {iso(lease.start)} → {iso(lease.start + shift)}"] if shift else []
            moves += [f"pool {a} → {b}" for a, b in row.pools]
            changes.append(
                LeaseChange(
                    lease,
                    message=f"moved ({why}): {'; '.join(moves)}",
                    fields=fields,
                    notice_kind=Kind.LEASE_MOVED,
                    notice_data={
                        "old_start": iso(lease.start),
                        "old_end": iso(lease.end),
                        "start": iso(lease.start + shift),
                        "end": iso(lease.end + shift),
                        "why": why,
                        "pools": [{"from": a, "to": b} for a, b in row.pools],
                    },
                )
            )
        elif row.verdict == "displaced":
            deadline = min(now + hours, lease.preparation_start)
            allocations = calendar.allocations[key]
            kept = [_allocation_json(a) for a in allocations]
            Allocation.objects.filter(id__in=[a.id for a in allocations]).delete()
            changes.append(
                LeaseChange(
                    lease,
                    message=f"displaced ({why}): {row.missing or 'no room'} short within its"
                    f" consent; cancelled at {iso(deadline)} unless a fresh offer is accepted",
                    fields={
                        "displaced": True,
                        "displaced_deadline": deadline,
                        "displaced_allocations": kept,
                        "next_action_at": deadline,
                    },
                )
            )
            displaced.append(key)
        elif row.verdict == "degraded":
            changes.append(
                LeaseChange(
                    lease,
                    message=f"degraded ({why}): {row.missing}; it keeps running",
                    fields={"degraded": True},
                    notice_kind=Kind.LEASE_DEGRADED,
                    notice_data={"why": f"{why}: {row.missing}"},
                )
            )
        elif row.verdict == "withdrawn":
            changes.append(LeaseChange(lease, Phase.REJECTED, f"withdrawn: {why}"))
    if changes:
        leases_write(
            changes, actor_kind=ActorKind.OPERATOR if actor else ActorKind.SYSTEM, actor=actor
        )
    return displaced


def _move_allocations(allocations, shift: timedelta, to_pools, pools: dict[str, Pool]) -> None:
    for a, slug in zip(allocations, to_pools, strict=True):
        a.period = DateTimeTZRange(a.start + shift, a.end + shift, "[)")
        a.pool = pools[slug]
    Allocation.objects.bulk_update(allocations, ["period", "pool"])


def _allocation_json(a: Allocation) -> dict:
    return {
        "pool": a.pool.slug,
        "component": a.component,
        "replica": a.replica,
        "amounts": a.amounts(nonzero=True),
        "start": iso(a.start),
        "end": iso(a.end),
    }


def _displacement(lease: Lease) -> str:
    """Why `lease` was displaced, from the event that did it ("displaced (WHY): WHAT short
    within its consent; cancelled at …"): "WHY: WHAT short within its consent"."""
    events = LeaseEvent.objects.filter(lease=lease, message__startswith="displaced (")
    message = events.order_by("-id").values_list("message", flat=True).first() or ""
    return message.split("; cancelled at")[0].removeprefix("displaced (").replace("): ", ": ", 1)


def _offers_now(lease_ids: list[str]) -> None:
    for lease_id in lease_ids:
        lease_displaced_offer(lease_id=lease_id)


def lease_displaced_offer(*, lease_id) -> None:
    """Fresh offers for a displaced lease, held until its deadline, and the notice that tells
    its owner (after the displacement committed: the planner reads committed load)."""
    lease = Lease.objects.select_related("offer_set", "owner").filter(id=lease_id).first()
    if lease is None or not lease.displaced or lease.displaced_offer_set_id:
        return
    offers, fresh = [], None
    if lease.offer_set is not None:
        request = {k: v for k, v in lease.offer_set.request.items() if k != "start"}
        start = max(
            timezone.now(), lease.start - timedelta(seconds=(lease.flex or {}).get("before", 0))
        )
        request["start"] = (
            f"{iso(start)}/{iso(max(start, lease.displaced_deadline) + timedelta(days=7))}"
        )
        try:
            fresh = offer_set_create(
                owner=lease.owner,
                data=request,
                client=None,
                hold_until=lease.displaced_deadline,
                replaces=lease,
            )
        except DomainError:
            fresh = None
    with transaction.atomic():
        lease = Lease.objects.select_for_update().get(id=lease_id)
        if not lease.displaced:
            return
        if fresh is not None:
            offers = [
                {"id": str(o.id), "start": iso(o.start), "end": iso(o.end)}
                for o in fresh.leases.all()
                if o.phase == Phase.OFFERED
            ]
        if lease.offer_set_id is None:
            made = "no fresh offers: it was not booked through a request (an operator loaded it)"
        else:
            made = f"{len(offers)} fresh offer(s) made for the displaced lease"
        leases_write(
            [
                LeaseChange(
                    lease,
                    message=made,
                    fields={"displaced_offer_set": fresh if offers else None},
                    notice_kind=Kind.LEASE_DISPLACED,
                    notice_data={
                        "why": _displacement(lease),
                        "deadline": iso(lease.displaced_deadline),
                        "offers": offers,
                        "offer_set": str(fresh.id) if offers else None,
                        "what_next": "Accept one of the fresh offers, or cancel the lease;"
                        " at the deadline it is cancelled."
                        if offers
                        else "Ask again for a new time, or cancel the lease; at the deadline"
                        " it is cancelled.",
                    },
                )
            ],
            actor_kind=ActorKind.SYSTEM,
        )


def lease_replan(*, lease_id, actor=None) -> Lease:
    """Try again to place a displaced lease (capacity may have come back): at its time or
    within its consent, on its pools or equivalent ones. Placed: its allocations are back,
    the flag is cleared, its fresh offers are declined and its owner is told (as a move).
    Otherwise 409, and it stays displaced."""
    with transaction.atomic():
        lease = Lease.objects.select_related("site").filter(id=lease_id).first()
        if lease is None:
            raise DomainError("No such lease.", status=404, code="not-found")
        lock_pools(Pool.objects.filter(site_id=lease.site_id).values_list("slug", flat=True))
        lease = Lease.objects.select_for_update().select_related("owner").get(id=lease_id)
        if not lease.displaced or not lease.displaced_allocations:
            raise DomainError(
                "Only a displaced lease can be re-planned.", status=409, code="not-displaced"
            )
        kept = lease.displaced_allocations
        pool = Pool.objects.get(slug=kept[0]["pool"])
        values = {**pool.capacity(), "enabled": pool.enabled}
        calendar = _calendar(CapacityEdit(POOL, pool.id, values=values), now=timezone.now())
        for _hold, offer in calendar.holds:  # live holds keep their room
            calendar.fixed += [engine.Load(g.pool, g.start, g.end, g.amounts) for g in offer.grants]
        flex = lease.flex or {}
        site_pools = list(calendar.pools.values())
        movable = replan.Movable(
            id=str(lease.id),
            parts=tuple(
                replan.Part(
                    a["pool"],
                    epoch(parse_instant(a["start"])),
                    epoch(parse_instant(a["end"])),
                    a["amounts"],
                    equivalent_pools(
                        calendar.pools[a["pool"]], site_pools, allowed=flex.get("pools")
                    ),
                )
                for a in kept
            ),
            preparation_start=epoch(lease.preparation_start),
            before=int(flex.get("before", 0)),
            after=int(flex.get("after", 0)),
        )
        calendar.movable = [movable]
        plan = _plan(calendar, cp_sat=False)
        if not plan.placements:
            raise DomainError(
                "There is still no room for this lease within its consent.",
                status=409,
                code="no-room",
            )
        (placement,) = plan.placements
        shift = timedelta(seconds=placement.shift)
        Allocation.objects.bulk_create(
            Allocation(
                lease=lease,
                pool=calendar.pools[slug],
                component=a["component"],
                replica=a["replica"],
                period=DateTimeTZRange(
                    parse_instant(a["start"]) + shift, parse_instant(a["end"]) + shift, "[)"
                ),
                **{d: a["amounts"].get(d, 0) for d in DIMENSIONS},
            )
            for a, slug in zip(kept, placement.pools, strict=True)
        )
        old_start, old_end = lease.start, lease.end
        preparation = lease.preparation_start + shift
        leases_write(
            [
                LeaseChange(
                    lease,
                    message=f"re-planned after it was displaced: start {iso(lease.start)}"
                    f" → {iso(lease.start + shift)}",
                    fields={
                        "start": lease.start + shift,
                        "end": lease.end + shift,
                        "preparation_start": preparation,
                        "displaced": False,
                        "displaced_deadline": None,
                        "displaced_allocations": [],
                        "next_action_at": timezone.now()
                        if lease.phase == Phase.ACCEPTED
                        else preparation,
                    },
                    notice_kind=Kind.LEASE_MOVED,
                    notice_data={
                        "old_start": iso(old_start),
                        "old_end": iso(old_end),
                        "why": "room came back after it was displaced",
                        "what_next": "Nothing to do: it runs at this time. Its fresh offers"
                        " were declined.",
                    },
                )
            ],
            actor_kind=ActorKind.OPERATOR if actor else ActorKind.SYSTEM,
            actor=actor,
        )
        if lease.displaced_offer_set_id:
            leases_decline(
                lease_ids=Lease.objects.filter(
                    offer_set_id=lease.displaced_offer_set_id, phase=Phase.OFFERED
                ).values_list("id", flat=True),
                actor=actor or lease.owner,
                message="declined: the displaced lease it would replace was re-planned",
            )
        return lease
