"""Placing the replicas of one request on the pools of a site at one instant.

The free capacity each pool has over its whole grant interval (from the sweep) is fixed
here, so what remains is a small multi-dimensional assignment problem:

- ``assign`` decides feasibility exactly: two greedy passes, then a depth-first search over
  how many identical replicas go on each pool (with memo and a node budget; CP-SAT settles
  the rare instance that exhausts the budget);
- ``grow`` grants, for a fixed assignment, the most that fits up to each maximum
  (water-filling each pool and dimension, evenly among replicas of one component);
- ``improve`` asks CP-SAT (one worker, a time limit, the greedy answer as a hint) for an
  assignment that lets the grants grow more, possibly at another of several tied sites;
  the caller keeps the greedy answer unless CP-SAT finds a strictly larger one.

Kinds never share pools, so each kind is an independent sub-problem.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

SEARCH_BUDGET = 20_000
EXACT_FALLBACK_SECONDS = 10.0
# CP-SAT needs integer weights: 1 / maximum, scaled so that rounding stays far below the
# difference between two distinct grants.
WEIGHT_SCALE = 1 << 30

_local = threading.local()


@dataclass(frozen=True)
class Item:
    """One replica (or one dataset copy / reader) to place; amounts align with ``dims``."""

    component: str
    replica: int
    kind: str
    dims: tuple[str, ...]
    low: tuple[int, ...]
    high: tuple[int, ...]
    pools: tuple[int, ...]


@dataclass
class Problem:
    """Items and the free capacity of each pool (aligned with the items' dims of its kind)."""

    items: Sequence[Item]
    free: Sequence[Sequence[int]]
    groups: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups = group_items(self.items)


def group_items(items: Sequence[Item]) -> list[list[int]]:
    """Indices of identical items, the biggest item first (the hardest to place)."""
    groups: dict[tuple, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.kind, item.low, item.high, item.pools), []).append(i)
    return sorted(groups.values(), key=lambda g: -sum(items[g[0]].low))


def fits_alone(item: Item, free: Sequence[int]) -> bool:
    return all(f >= lo for f, lo in zip(free, item.low, strict=True))


def assign(problem: Problem, *, best_of_greedy: bool = True) -> list[int] | None:
    """A pool index per item such that every pool holds its items' minimums, or None.

    With ``best_of_greedy`` both greedy passes run and the one that grows more wins;
    otherwise the first feasible assignment is returned (a feasibility test).
    """
    best: list[int] | None = None
    best_size = -1.0
    for worst_fit in (True, False):
        candidate = _greedy(problem, worst_fit=worst_fit)
        if candidate is not None and not best_of_greedy:
            return candidate
        if candidate is not None:
            size = amounts_size(problem.items, grow(problem, candidate))
            if size > best_size:
                best, best_size = candidate, size
    if best is not None:
        return best
    try:
        return _search(problem)
    except _BudgetExceeded:
        return _cpsat_feasible(problem)


def _greedy(problem: Problem, *, worst_fit: bool) -> list[int] | None:
    items, free = problem.items, problem.free
    rem = [list(f) for f in free]
    result = [-1] * len(items)
    for group in problem.groups:
        for i in group:
            item = items[i]
            choice, choice_score = -1, 0.0
            for p in item.pools:
                if not fits_alone(item, rem[p]):
                    continue
                score = sum(
                    (r - lo) / (f + 1) for r, lo, f in zip(rem[p], item.low, free[p], strict=True)
                )
                if choice < 0 or (score > choice_score if worst_fit else score < choice_score):
                    choice, choice_score = p, score
            if choice < 0:
                return None
            result[i] = choice
            rem[choice] = [r - lo for r, lo in zip(rem[choice], item.low, strict=True)]
    return result


class _BudgetExceeded(Exception):
    pass


def _search(problem: Problem) -> list[int] | None:
    search = _Search(problem)
    if not search.place(0):
        return None
    result = [-1] * len(problem.items)
    for group, counts in zip(problem.groups, search.plan, strict=True):
        members = iter(group)
        for p, count in counts:
            for _ in range(count):
                result[next(members)] = p
    return result


class _Search:
    """Depth first over how many replicas of each group go on each pool, remembering the
    (group, free capacity left) states that failed; ``SEARCH_BUDGET`` nodes at most."""

    def __init__(self, problem: Problem):
        self.items, self.groups = problem.items, problem.groups
        self.rem = [list(f) for f in problem.free]
        self.plan: list[list[tuple[int, int]]] = []
        self.failed: set[tuple] = set()
        self.nodes = 0

    def room(self, item: Item, p: int) -> int:
        rem = self.rem[p]
        if any(r < 0 for r in rem):
            return 0
        counts = [r // lo for r, lo in zip(rem, item.low, strict=True) if lo > 0]
        return min(counts) if counts else len(self.items)

    def place(self, gi: int) -> bool:
        if gi == len(self.groups):
            return True
        key = (gi, tuple(tuple(r) for r in self.rem))
        if key in self.failed:
            return False
        item = self.items[self.groups[gi][0]]
        if self.distribute(gi, item, 0, len(self.groups[gi]), []):
            return True
        self.failed.add(key)
        return False

    def distribute(
        self, gi: int, item: Item, j: int, left: int, chosen: list[tuple[int, int]]
    ) -> bool:
        self.nodes += 1
        if self.nodes > SEARCH_BUDGET:
            raise _BudgetExceeded
        if left == 0:
            self.plan.append(list(chosen))
            if self.place(gi + 1):
                return True
            self.plan.pop()
            return False
        pools = item.pools
        if j == len(pools) or sum(self.room(item, p) for p in pools[j:]) < left:
            return False
        p = pools[j]
        for count in range(min(left, self.room(item, p)), -1, -1):
            self.take(p, item.low, count)
            chosen.append((p, count))
            ok = self.distribute(gi, item, j + 1, left - count, chosen)
            chosen.pop()
            self.take(p, item.low, -count)
            if ok:
                return True
        return False

    def take(self, p: int, low: tuple[int, ...], count: int) -> None:
        rem = self.rem[p]
        for d, lo in enumerate(low):
            rem[d] -= lo * count


def grow(problem: Problem, assignment: Sequence[int]) -> list[tuple[int, ...]]:
    """Amounts per item: each minimum, then the pool's remaining free capacity water-filled,
    items with a smaller maximum first (a unit is a larger share of them), evenly otherwise."""
    items = problem.items
    amounts = [list(item.low) for item in items]
    on_pool: dict[int, list[int]] = {}
    for i, p in enumerate(assignment):
        on_pool.setdefault(p, []).append(i)
    for p, members in on_pool.items():
        free = problem.free[p]
        for d in range(len(free)):
            budget = free[d] - sum(items[i].low[d] for i in members)
            entries = [(i, items[i].high[d]) for i in members if items[i].high[d] > items[i].low[d]]
            _fill(amounts, d, entries, budget)
    return [tuple(a) for a in amounts]


def _fill(amounts: list[list[int]], d: int, entries: list[tuple[int, int]], budget: int) -> None:
    by_cap: dict[int, list[int]] = {}
    for i, cap in entries:
        by_cap.setdefault(cap, []).append(i)
    for cap in sorted(by_cap):
        if budget <= 0:
            return
        budget = _level_up(amounts, d, by_cap[cap], cap, budget)


def _level_up(amounts: list[list[int]], d: int, members: list[int], cap: int, budget: int) -> int:
    """Raise ``members`` in dimension ``d`` to the highest level (at most ``cap``) the budget
    pays for, then by one more unit each while it lasts; returns the budget left."""
    values = [amounts[i][d] for i in members]

    def cost(level: int) -> int:
        return sum(max(0, min(level, cap) - v) for v in values)

    low, high = min(values), cap
    while low < high:
        mid = (low + high + 1) // 2
        if cost(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    budget -= cost(low)
    for i in members:
        amounts[i][d] = max(amounts[i][d], low)
    for i in members:
        if budget <= 0:
            break
        if amounts[i][d] == low < cap:
            amounts[i][d] += 1
            budget -= 1
    return budget


def amounts_size(items: Sequence[Item], amounts: Sequence[Sequence[int]]) -> float:
    """Total granted resources as fractions of each maximum (the ranking's "more resources")."""
    return sum(
        a / hi
        for item, granted in zip(items, amounts, strict=True)
        for a, hi in zip(granted, item.high, strict=True)
        if hi > 0
    )


def upper_bound(problem: Problem) -> float:
    """An optimistic size: every kind's pools merged into one (fragmentation ignored)."""
    items = problem.items
    amounts = [list(item.low) for item in items]
    kinds: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        kinds.setdefault(item.kind, []).append(i)
    for members in kinds.values():
        pools = sorted({p for i in members for p in items[i].pools})
        for d in range(len(items[members[0]].low)):
            total = sum(max(0, problem.free[p][d]) for p in pools)
            budget = total - sum(items[i].low[d] for i in members)
            entries = []
            for i in members:
                item = items[i]
                cap = min(item.high[d], max(problem.free[p][d] for p in item.pools))
                if cap > item.low[d]:
                    entries.append((i, cap))
            _fill_capped(amounts, d, entries, budget, items)
    return amounts_size(items, amounts)


def _fill_capped(
    amounts: list[list[int]],
    d: int,
    entries: list[tuple[int, int]],
    budget: int,
    items: Sequence[Item],
) -> None:
    for i, cap in sorted(entries, key=lambda e: items[e[0]].high[d]):
        if budget <= 0:
            return
        extra = min(cap - amounts[i][d], budget)
        amounts[i][d] += extra
        budget -= extra


def has_ranges(items: Sequence[Item]) -> bool:
    return any(hi > lo for item in items for lo, hi in zip(item.low, item.high, strict=True))


def improve(
    problems: Sequence[Problem],
    hint: tuple[int, Sequence[int]],
    time_limit: float,
) -> tuple[int, list[int]] | None:
    """CP-SAT: choose one of ``problems`` (tied sites) and an assignment maximising the grants.

    Identical replicas are counted per pool rather than placed one by one, which removes
    their symmetry; the total granted to a group on a pool is then shared out by ``grow``.
    Returns (problem index, assignment) or None when CP-SAT found nothing within the limit.
    """
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"site{k}") for k in range(len(problems))]
    model.add_exactly_one(chosen)
    counts = [_counts(model, problem, chosen[k], k) for k, problem in enumerate(problems)]
    objective = []
    for k, problem in enumerate(problems):
        objective += _grant_totals(model, problem, counts[k], k)
    model.maximize(sum(objective))
    _hint(model, problems, chosen, counts, hint)
    solved = _solve(model, time_limit)
    if solved is None:
        return None
    for k, problem in enumerate(problems):
        if solved.boolean_value(chosen[k]):
            return k, _expand(
                problem, [{p: solved.value(n) for p, n in c.items()} for c in counts[k]]
            )
    return None


def _grant_totals(
    model: cp_model.CpModel, problem: Problem, counts: list[dict[int, object]], k: int
) -> list:
    """Per group, pool and ranged dimension, the total granted as a variable within the
    group's bounds, each pool's capacity as constraints; returns the weighted totals."""
    objective = []
    loads: dict[tuple[int, int], list] = {}
    for gi, group in enumerate(problem.groups):
        item, size = problem.items[group[0]], len(group)
        for p, n in counts[gi].items():
            for d, (lo, hi) in enumerate(zip(item.low, item.high, strict=True)):
                if hi > lo:
                    top = min(hi * size, problem.free[p][d])
                    total = model.new_int_var(0, top, f"t{k}_{gi}_{p}_{d}")
                    model.add(total >= lo * n)
                    model.add(total <= hi * n)
                    objective.append(total * max(1, round(WEIGHT_SCALE / hi)))
                    loads.setdefault((p, d), []).append(total)
                elif lo > 0:
                    loads.setdefault((p, d), []).append(lo * n)
    for (p, d), terms in loads.items():
        model.add(sum(terms) <= problem.free[p][d])
    return objective


def _hint(
    model: cp_model.CpModel,
    problems: Sequence[Problem],
    chosen: list,
    counts: list[list[dict[int, object]]],
    hint: tuple[int, Sequence[int]],
) -> None:
    """The greedy answer (problem index, assignment) as CP-SAT's starting point."""
    hint_k, hint_assignment = hint
    for k, problem in enumerate(problems):
        model.add_hint(chosen[k], k == hint_k)
        for gi, group in enumerate(problem.groups):
            for p, n in counts[k][gi].items():
                placed = sum(1 for i in group if hint_assignment[i] == p) if k == hint_k else 0
                model.add_hint(n, placed)


def _counts(model: cp_model.CpModel, problem: Problem, chosen, k: int) -> list[dict[int, object]]:
    """Per group, how many of its replicas go on each pool where one fits at all."""
    counts = []
    for gi, group in enumerate(problem.groups):
        item = problem.items[group[0]]
        per_pool = {
            p: model.new_int_var(0, len(group), f"n{k}_{gi}_{p}")
            for p in item.pools
            if fits_alone(item, problem.free[p])
        }
        model.add(sum(per_pool.values()) == len(group) * chosen)
        counts.append(per_pool)
    return counts


def _expand(problem: Problem, counts: list[dict[int, int]]) -> list[int]:
    result = [-1] * len(problem.items)
    for group, per_pool in zip(problem.groups, counts, strict=True):
        members = iter(group)
        for p in sorted(per_pool):
            for _ in range(per_pool[p]):
                result[next(members)] = p
    return result


def _solve(model: cp_model.CpModel, time_limit: float) -> cp_model.CpSolver | None:
    solver = getattr(_local, "solver", None)
    if solver is None:
        # Creating a CpSolver costs about as much as solving these small models.
        solver = _local.solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.linearization_level = 0
    solver.parameters.max_time_in_seconds = max(time_limit, 0.001)
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return solver


def _cpsat_feasible(problem: Problem) -> list[int] | None:
    model = cp_model.CpModel()
    counts = _counts(model, problem, 1, 0)
    loads: dict[tuple[int, int], list] = {}
    for gi, group in enumerate(problem.groups):
        item = problem.items[group[0]]
        for p, n in counts[gi].items():
            for d, lo in enumerate(item.low):
                if lo > 0:
                    loads.setdefault((p, d), []).append(lo * n)
    for (p, d), terms in loads.items():
        model.add(sum(terms) <= problem.free[p][d])
    solved = _solve(model, EXACT_FALLBACK_SECONDS)
    if solved is None:
        return None
    return _expand(problem, [{p: solved.value(n) for p, n in c.items()} for c in counts])
