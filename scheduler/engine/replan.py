"""Re-planning after capacity drops (DESIGN §8, §8a): keep, move or give up the leases a
capacity change displaces, with the least disruption and only within each owner's consent.

No Django here. Times are integer seconds since the epoch, as in the rest of the engine.

Inputs
  ``pools``    the pools as they will be after the change (base plus changes);
  ``fixed``    the load that cannot move: started leases, leases past their preparation
               start, leases without consent that the change does not touch;
  ``movable``  the candidates, in priority order (the first booked first): future leases the
               change displaces, and leases whose consent window overlaps the affected span
               (moving them may make room). Each is a set of ``Part``s (its allocations) that
               move together by one shift, a multiple of ``step`` in [-before, +after], never
               so early that preparation would begin before ``not_before`` (now). A part may
               change to one of its ``alternatives`` (equivalent pools of its site) at the
               same shift.

The answer (``Plan``) places some movables (shift and pool per part) and gives up the rest;
the placed ones and the fixed load fit every pool's capacity at every instant (where the
fixed load alone is already over, nothing movable may use that pool at those instants).

Method
  1. **Greedy** (``greedy``), the baseline and CP-SAT's hint. First every movable that still
     fits where it is is kept, in priority order. Then each of the others, in priority
     order: the earliest feasible shift >= 0 on its own pools, else the latest <= 0, else
     the same two searches on other allowed pools (one part moved at a time, then all parts
     to their first alternative). A search jumps past the blocking segment instead of trying
     every step, so it costs a few profile queries per lease.
  2. **CP-SAT** (``improve``), with the greedy answer as a complete hint. One shift variable
     per movable (in steps), an optional interval per (part, allowed pool) with a presence
     literal (exactly one per part when the movable is placed, none otherwise), and one
     cumulative per (pool, dimension) that a movable part uses: the fixed load enters as the
     pool's free-capacity profile turned into fixed "blocked" intervals (a handful per pool,
     never one per fixed allocation), its capacity the most that pool is ever free there.
     The objective is lexicographic, solved in stages, each stage's optimum (or best found)
     fixed as a bound for the next:

        1. place the most movables;
        2. keep the most unchanged (same start, same pools);
        3. the least total shift (sum of |shift|, in steps);
        4. the fewest pool changes.

     Each stage has ``stage_seconds`` (default 3 s) and ``workers`` (default 2), presolve
     probing off (on ~1,000 movables it alone outlasted a stage), and starts from the
     previous stage's answer as its hint, so a stage that runs out of time still
     returns at least that answer. The CP-SAT plan replaces the greedy one only when its
     score (placed, unchanged, -shift, -pool changes) is strictly better: never worse.

``score`` is that tuple; ``check`` is an independent verification (used by the callers
before they apply a plan, and by the tests): consent, not-before, and capacity at every
breakpoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
from ortools.sat.python import cp_model

from .model import Load, Pool
from .profile import _split, build_profile, pool_dims


@dataclass(frozen=True)
class Part:
    """One allocation of a movable lease: ``amounts`` on ``pool`` over [start, end)."""

    pool: str
    start: int
    end: int
    amounts: Mapping[str, int]
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Movable:
    id: str
    parts: tuple[Part, ...]
    preparation_start: int
    before: int = 0
    after: int = 0


@dataclass(frozen=True)
class Placement:
    """Where a movable goes: shifted by ``shift`` seconds, part i on ``pools[i]``."""

    id: str
    shift: int
    pools: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    status: str
    seconds: float
    value: int | None


@dataclass(frozen=True)
class Plan:
    placements: tuple[Placement, ...]
    unplaced: tuple[str, ...]
    method: str = "greedy"
    score: tuple[int, int, int, int] = (0, 0, 0, 0)
    stages: tuple[Stage, ...] = ()
    greedy_seconds: float = 0.0
    greedy_score: tuple[int, int, int, int] = (0, 0, 0, 0)

    def placement(self, movable_id: str) -> Placement | None:
        return next((p for p in self.placements if p.id == movable_id), None)


@dataclass
class _Problem:
    pools: dict[str, Pool]
    movable: list[Movable]
    step: int
    not_before: int
    lo: int
    hi: int
    base: dict[str, object] = field(default_factory=dict)  # slug -> FreeProfile of fixed load

    def shifts(self, m: Movable) -> tuple[int, int]:
        """The shift range in steps: [-before, after], not before `not_before`."""
        low = max(-m.before, self.not_before - m.preparation_start)
        k_lo = -(-low // self.step)  # ceil
        k_hi = m.after // self.step
        return k_lo, k_hi

    def options(self, part: Part) -> tuple[str, ...]:
        """The pools a part may be on: its own first, then its alternatives that have every
        dimension it needs."""
        allowed = []
        for slug in (part.pool, *part.alternatives):
            pool = self.pools.get(slug)
            if pool is None or slug in allowed:
                continue
            dims = set(pool_dims(pool))
            if all(d in dims for d, v in part.amounts.items() if v > 0):
                allowed.append(slug)
        return tuple(allowed) or (part.pool,)


def _problem(
    pools: Sequence[Pool],
    fixed: Sequence[Load],
    movable: Sequence[Movable],
    step: int,
    not_before: int,
) -> _Problem:
    if step <= 0:
        raise ValueError("step must be positive")
    by_slug = {p.slug: p for p in pools}
    for m in movable:
        if m.before < 0 or m.after < 0:
            raise ValueError(f"movable {m.id}: before and after must be >= 0")
        for part in m.parts:
            if part.start >= part.end:
                raise ValueError(f"movable {m.id}: a part ends before it starts")
            if part.pool not in by_slug:
                raise ValueError(f"movable {m.id}: unknown pool {part.pool!r}")
    lo = min([not_before, *(p.start - m.before for m in movable for p in m.parts)])
    hi = max([not_before + 1, *(p.end + m.after for m in movable for p in m.parts)])
    lo -= step
    hi += step
    problem = _Problem(by_slug, list(movable), step, not_before, lo, hi)
    used = {slug for m in movable for part in m.parts for slug in problem.options(part)}
    own: dict[str, list[Load]] = {slug: [] for slug in used}
    for load in fixed:
        if load.pool in own:
            own[load.pool].append(load)
    for slug in used:
        pool = by_slug[slug]
        problem.base[slug] = build_profile(
            pool=pool, loads=own[slug], lo=lo, hi=hi, dims=pool_dims(pool), clamp=False
        )
    return problem


class _Timeline:
    """A mutable free-capacity profile of one pool (times, free[dim, segment])."""

    def __init__(self, profile) -> None:
        self.times = profile.times
        self.free = profile.free
        self.dims = profile.dims

    def subtract(self, start: int, end: int, amounts: Mapping[str, int]) -> None:
        self.times, self.free = _split(self.times, self.free, start)
        self.times, self.free = _split(self.times, self.free, end)
        first = int(np.searchsorted(self.times, start))
        stop = int(np.searchsorted(self.times, end))
        self.free = self.free.copy()
        for j, dim in enumerate(self.dims):
            if amounts.get(dim, 0):
                self.free[j, first:stop] -= amounts[dim]

    def blocking(self, start: int, end: int, amounts: Mapping[str, int]) -> tuple[int, int] | None:
        """(first blocking segment start, last blocking segment end) in [start, end), or None
        when the amounts fit there. A dimension the pool lacks blocks everywhere."""
        need = [(j, amounts.get(d, 0)) for j, d in enumerate(self.dims) if amounts.get(d, 0) > 0]
        if any(v > 0 and d not in self.dims for d, v in amounts.items()):
            return start, end
        if not need:
            return None
        first = int(np.searchsorted(self.times, start, side="right")) - 1
        stop = int(np.searchsorted(self.times, end, side="left"))
        bad = np.zeros(stop - first, dtype=bool)
        for j, v in need:
            bad |= self.free[j, first:stop] < v
        where = np.flatnonzero(bad)
        if not len(where):
            return None
        return int(self.times[first + where[0]]), int(self.times[first + where[-1] + 1])


def _merged_parts(m: Movable, pools: tuple[str, ...]) -> list[tuple[str, int, int, dict]]:
    """The lease's parts on their chosen pools, those with the same pool and interval summed."""
    merged: dict[tuple[str, int, int], dict[str, int]] = {}
    for part, slug in zip(m.parts, pools, strict=True):
        amounts = merged.setdefault((slug, part.start, part.end), {})
        for d, v in part.amounts.items():
            amounts[d] = amounts.get(d, 0) + v
    return [(slug, s, e, a) for (slug, s, e), a in merged.items()]


def _search(
    lines: dict[str, _Timeline],
    m: Movable,
    pools: tuple[str, ...],
    k_from: int,
    k_to: int,
    step: int,
) -> int | None:
    """The first shift (in steps) from k_from towards k_to (either direction) at which the
    movable fits on `pools`, jumping past blocking segments."""
    parts = _merged_parts(m, pools)
    shared = len({p[0] for p in parts}) < len(parts)  # two intervals on one pool: no jumps
    forward = k_to >= k_from
    k = k_from
    while (k <= k_to) if forward else (k >= k_to):
        shift = k * step
        jump = None
        for slug, s, e, amounts in parts:
            found = lines[slug].blocking(s + shift, e + shift, amounts)
            if found is None:
                continue
            if shared:
                jump = 1 if forward else -1
                break
            if forward:  # start at or after the last blocking segment's end
                want = -(-(found[1] - s) // step)
                jump = max(jump or 1, want - k)
            else:  # end at or before the first blocking segment's start
                want = (found[0] - e) // step
                jump = min(jump or -1, want - k)
        if jump is None:
            return k
        k += jump
    return None


def _place(lines: dict[str, _Timeline], m: Movable, pools: tuple[str, ...], shift: int) -> None:
    for slug, s, e, amounts in _merged_parts(m, pools):
        lines[slug].subtract(s + shift, e + shift, amounts)


def _pool_choices(problem: _Problem, m: Movable) -> list[tuple[str, ...]]:
    """Other pool assignments to try, fewest changes first: each part alone to each of its
    alternatives, then every part to its first alternative; at most 64."""
    own = tuple(p.pool for p in m.parts)
    options = [problem.options(p) for p in m.parts]
    choices: list[tuple[str, ...]] = []
    for i, opts in enumerate(options):
        for slug in opts[1:]:
            choices.append((*own[:i], slug, *own[i + 1 :]))
    every = tuple(opts[1] if len(opts) > 1 else opts[0] for opts in options)
    if every != own and every not in choices:
        choices.append(every)
    if len(m.parts) <= 3:
        for combo in product(*options):
            if combo != own and combo not in choices:
                choices.append(combo)
    return choices[:64]


def _greedy(problem: _Problem) -> tuple[list[Placement], list[str]]:
    lines = {slug: _Timeline(profile) for slug, profile in problem.base.items()}
    placed: dict[str, Placement] = {}
    step = problem.step
    for m in problem.movable:  # keep what still fits
        own = tuple(p.pool for p in m.parts)
        k_lo, k_hi = problem.shifts(m)
        if k_lo <= 0 <= k_hi and _search(lines, m, own, 0, 0, step) == 0:
            _place(lines, m, own, 0)
            placed[m.id] = Placement(m.id, 0, own)
    for m in problem.movable:
        if m.id in placed:
            continue
        k_lo, k_hi = problem.shifts(m)
        own = tuple(p.pool for p in m.parts)
        for pools in (own, *_pool_choices(problem, m)):
            k = _search(lines, m, pools, max(k_lo, 0), k_hi, step) if k_hi >= 0 else None
            if k is None and k_lo < 0:
                k = _search(lines, m, pools, min(k_hi, -1), k_lo, step)
            if k is not None:
                _place(lines, m, pools, k * step)
                placed[m.id] = Placement(m.id, k * step, pools)
                break
    order = [m.id for m in problem.movable]
    return [placed[i] for i in order if i in placed], [i for i in order if i not in placed]


def score(
    movable: Sequence[Movable], placements: Sequence[Placement], step: int
) -> tuple[int, int, int, int]:
    """(placed, unchanged, -total shift in steps, -pool changes): larger is better."""
    by_id = {m.id: m for m in movable}
    unchanged = shift = changes = 0
    for p in placements:
        own = tuple(part.pool for part in by_id[p.id].parts)
        moved = sum(a != b for a, b in zip(own, p.pools, strict=True))
        unchanged += p.shift == 0 and moved == 0
        shift += abs(p.shift) // step
        changes += moved
    return (len(placements), unchanged, -shift, -changes)


def greedy(
    *,
    pools: Sequence[Pool],
    fixed: Sequence[Load],
    movable: Sequence[Movable],
    step: int,
    not_before: int,
) -> Plan:
    began = time.perf_counter()
    problem = _problem(pools, fixed, movable, step, not_before)
    placements, unplaced = _greedy(problem)
    value = score(movable, placements, step)
    return Plan(
        tuple(placements),
        tuple(unplaced),
        "greedy",
        value,
        greedy_seconds=time.perf_counter() - began,
        greedy_score=value,
    )


def replan(
    *,
    pools: Sequence[Pool],
    fixed: Sequence[Load],
    movable: Sequence[Movable],
    step: int,
    not_before: int,
    stage_seconds: float = 3.0,
    workers: int = 2,
    use_cp_sat: bool = True,
) -> Plan:
    """Greedy, then CP-SAT stage by stage; CP-SAT's answer only if strictly better."""
    began = time.perf_counter()
    problem = _problem(pools, fixed, movable, step, not_before)
    placements, unplaced = _greedy(problem)
    greedy_seconds = time.perf_counter() - began
    base = score(movable, placements, step)
    plan = Plan(tuple(placements), tuple(unplaced), "greedy", base, (), greedy_seconds, base)
    if not use_cp_sat or not movable:
        return plan
    if base[0] == len(movable) and base[1] == len(movable):
        return plan  # everything stays as it is: nothing to improve
    better, stages = _improve(problem, placements, stage_seconds, workers)
    if better is not None:
        value = score(movable, better, step)
        if value > base:
            placed = {p.id for p in better}
            return Plan(
                tuple(better),
                tuple(m.id for m in movable if m.id not in placed),
                "cp-sat",
                value,
                tuple(stages),
                greedy_seconds,
                base,
            )
    return Plan(plan.placements, plan.unplaced, "greedy", base, tuple(stages), greedy_seconds, base)


_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "invalid",
    cp_model.UNKNOWN: "unknown",
}


def _improve(
    problem: _Problem, hint: list[Placement], stage_seconds: float, workers: int
) -> tuple[list[Placement] | None, list[Stage]]:
    cp = _CpModel(problem)
    hinted = {p.id: p for p in hint}
    for m in problem.movable:
        cp.add_movable(m, hinted.get(m.id))
    cp.add_cumulatives()
    return cp.solve_stages(stage_seconds, workers)


class _CpModel:
    """The CP-SAT model of the module docstring, built movable by movable."""

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem
        self.model = cp_model.CpModel()
        self.placed, self.unchanged, self.shifts, self.abs_shifts, self.changes = [], [], [], [], []
        self.presence: list[list[dict[str, object]]] = []
        self.demands: dict[tuple[str, str], list[tuple[object, int]]] = {}
        self.reach: dict[str, list[int]] = {}

    def add_movable(self, m: Movable, hint: Placement | None) -> None:
        model, step, lo = self.model, self.problem.step, self.problem.lo
        k_lo, k_hi = self.problem.shifts(m)
        x = model.new_bool_var(f"placed[{m.id}]")
        if k_lo > k_hi:
            model.add(x == 0)
            k_lo = k_hi = 0
        k = model.new_int_var(min(k_lo, 0), max(k_hi, 0), f"k[{m.id}]")
        model.add(k >= k_lo).only_enforce_if(x)
        model.add(k <= k_hi).only_enforce_if(x)
        model.add(k == 0).only_enforce_if(~x)
        a = model.new_int_var(0, max(abs(k_lo), abs(k_hi)), f"a[{m.id}]")
        model.add_abs_equality(a, k)
        u = model.new_bool_var(f"unchanged[{m.id}]")
        model.add_implication(u, x)
        model.add(k == 0).only_enforce_if(u)
        lits = []
        for i, part in enumerate(m.parts):
            chosen = {}
            for slug in self.problem.options(part):
                lit = chosen[slug] = model.new_bool_var(f"on[{m.id},{i},{slug}]")
                first, last = part.start - lo + k_lo * step, part.start - lo + k_hi * step
                # the start as an expression of the shift: no variable of its own, so the
                # hint (shift, presence) is complete
                interval = model.new_optional_fixed_size_interval_var(
                    part.start - lo + step * k, part.end - part.start, lit, ""
                )
                for d, v in part.amounts.items():
                    if v > 0:
                        self.demands.setdefault((slug, d), []).append((interval, v))
                self.reach.setdefault(slug, []).extend((first, last + part.end - part.start))
            model.add(sum(chosen.values()) == x)
            model.add_implication(u, chosen[part.pool])
            self.changes.append(x - chosen[part.pool])
            lits.append(chosen)
        self.presence.append(lits)
        self.placed.append(x)
        self.unchanged.append(u)
        self.shifts.append(k)
        self.abs_shifts.append(a)
        # the complete hint: the greedy answer
        hk = hint.shift // step if hint else 0
        own = tuple(p.pool for p in m.parts)
        for var, value in ((x, hint is not None), (k, hk), (a, abs(hk))):
            model.add_hint(var, value)
        model.add_hint(u, hint is not None and hk == 0 and hint.pools == own)
        for i, chosen in enumerate(lits):
            for slug, lit in chosen.items():
                model.add_hint(lit, hint is not None and hint.pools[i] == slug)

    def add_cumulatives(self) -> None:
        """One cumulative per (pool, dimension) a part uses: the fixed load as blocked
        intervals over the reachable window, the capacity the most that pool is free there."""
        lo = self.problem.lo
        for (slug, dim), items in self.demands.items():
            profile = self.problem.base[slug]
            window = (min(self.reach[slug]), max(self.reach[slug]))
            times = profile.times - lo
            if dim in profile.dims:
                free = np.maximum(profile.free[profile.dims.index(dim)], 0)
            else:
                free = np.zeros(len(times) - 1, dtype=np.int64)
            inside = (times[1:] > window[0]) & (times[:-1] < window[1])
            capacity = int(free[inside].max()) if inside.any() else 0
            intervals, amounts = [iv for iv, _ in items], [v for _, v in items]
            for seg in np.flatnonzero(inside & (free < capacity)):
                s, e = int(max(times[seg], window[0])), int(min(times[seg + 1], window[1]))
                if s < e:
                    intervals.append(self.model.new_fixed_size_interval_var(s, e - s, ""))
                    amounts.append(capacity - int(free[seg]))
            self.model.add_cumulative(intervals, amounts, capacity)

    def solve_stages(
        self, stage_seconds: float, workers: int
    ) -> tuple[list[Placement] | None, list[Stage]]:
        model = self.model
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = workers
        solver.parameters.max_time_in_seconds = stage_seconds
        # Probing in presolve took the whole stage on ~1,000 movables (bench/replan.py: the
        # first stage ended UNKNOWN); without it the hint is found at once and improved.
        solver.parameters.cp_model_probing_level = 0
        objectives = [
            ("place the most", sum(self.placed), True),
            ("keep the most unchanged", sum(self.unchanged), True),
            ("least total shift", sum(self.abs_shifts), False),
            ("fewest pool changes", sum(self.changes), False),
        ]
        stages, best = [], None
        for name, expr, maximise in objectives:
            (model.maximize if maximise else model.minimize)(expr)
            began = time.perf_counter()
            status = solver.solve(model)
            seconds = time.perf_counter() - began
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                stages.append(Stage(name, _STATUS.get(status, str(status)), seconds, None))
                break
            value = round(solver.objective_value)
            stages.append(Stage(name, _STATUS[status], seconds, value))
            best = self.read(solver)
            model.add(expr >= value if maximise else expr <= value)
            self.rehint(solver)
        return best, stages

    def rehint(self, solver: cp_model.CpSolver) -> None:
        """The next stage starts from this stage's answer."""
        self.model.clear_hints()
        for var in (*self.placed, *self.unchanged, *self.shifts, *self.abs_shifts):
            self.model.add_hint(var, solver.value(var))
        for lits in self.presence:
            for chosen in lits:
                for lit in chosen.values():
                    self.model.add_hint(lit, solver.value(lit))

    def read(self, solver: cp_model.CpSolver) -> list[Placement]:
        out = []
        rows = zip(self.problem.movable, self.placed, self.shifts, self.presence, strict=True)
        for m, x, k, lits in rows:
            if not solver.value(x):
                continue
            pools = tuple(
                next(s for s, lit in chosen.items() if solver.value(lit)) for chosen in lits
            )
            out.append(Placement(m.id, solver.value(k) * self.problem.step, pools))
        return out


def check(
    *,
    pools: Sequence[Pool],
    fixed: Sequence[Load],
    movable: Sequence[Movable],
    placements: Sequence[Placement],
    step: int,
    not_before: int,
) -> list[str]:
    """What is wrong with `placements` (empty: nothing): a move outside consent or before
    `not_before`, a pool not allowed, or a pool over capacity at some instant a placed part
    covers (counted directly at every breakpoint, without the profile code)."""
    problems = []
    by_id = {m.id: m for m in movable}
    tmp = _Problem({p.slug: p for p in pools}, list(movable), step, not_before, 0, 0)
    loads: list[Load] = []
    for p in placements:
        m = by_id[p.id]
        if p.shift % step or not -m.before <= p.shift <= m.after:
            problems.append(f"{m.id}: shift {p.shift} outside [-{m.before}, {m.after}]")
        if m.preparation_start + p.shift < not_before and p.shift != 0:
            problems.append(f"{m.id}: moved to prepare before now")
        for part, slug in zip(m.parts, p.pools, strict=True):
            if slug not in tmp.options(part):
                problems.append(f"{m.id}: pool {slug} not allowed")
            loads.append(Load(slug, part.start + p.shift, part.end + p.shift, part.amounts))
    for pool in pools:
        problems += _overloads(pool, [x for x in loads if x.pool == pool.slug], fixed)
    return problems


def _overloads(pool: Pool, mine: list[Load], fixed: Sequence[Load]) -> list[str]:
    if not mine:
        return []
    both = [*mine, *(x for x in fixed if x.pool == pool.slug)]
    bounds = {x.start for x in both}
    bounds |= {t for c in pool.changes for t in (c.start, c.end) if t is not None}
    dims = {d for x in mine for d, v in x.amounts.items() if v > 0}
    problems = []
    for t in sorted(bounds):
        if not any(x.start <= t < x.end for x in mine):
            continue
        cap = _capacity_at(pool, t)
        for dim in dims:
            used = sum(x.amounts.get(dim, 0) for x in both if x.start <= t < x.end)
            if used > cap.get(dim, 0):
                problems.append(f"{pool.slug} over capacity in {dim} at {t}: {used}")
    return problems


def _capacity_at(pool: Pool, t: int) -> dict[str, int]:
    capacity = dict(pool.base)
    for change in pool.changes:  # a later change wins
        if change.start <= t and (change.end is None or t < change.end):
            capacity.update(change.capacity)
    return capacity
