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

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from ortools.sat.python import cp_model

SEARCH_BUDGET = 20_000
EXACT_FALLBACK_SECONDS = 10.0


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
    """Indices of identical items, biggest first (they are the hardest to place)."""
    groups: dict[tuple, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.kind, item.low, item.high, item.pools), []).append(i)
    return sorted(groups.values(), key=lambda g: -sum(items[g[0]].low) * len(g))


def fits_alone(item: Item, free: Sequence[int]) -> bool:
    return all(f >= lo for f, lo in zip(free, item.low, strict=True))


def assign(problem: Problem) -> list[int] | None:
    """A pool index per item such that every pool holds its items' minimums, or None."""
    best: list[int] | None = None
    best_size = -1.0
    for worst_fit in (True, False):
        candidate = _greedy(problem, worst_fit=worst_fit)
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
    items, groups = problem.items, problem.groups
    rem = [list(f) for f in problem.free]
    plan: list[list[tuple[int, int]]] = []
    failed: set[tuple] = set()
    nodes = [0]

    def room(item: Item, p: int) -> int:
        if any(r < 0 for r in rem[p]):
            return 0
        counts = [r // lo for r, lo in zip(rem[p], item.low, strict=True) if lo > 0]
        return min(counts) if counts else len(items)

    def place(gi: int) -> bool:
        if gi == len(groups):
            return True
        key = (gi, tuple(tuple(r) for r in rem))
        if key in failed:
            return False
        item = items[groups[gi][0]]
        if distribute(gi, item, 0, len(groups[gi]), []):
            return True
        failed.add(key)
        return False

    def distribute(gi: int, item: Item, j: int, left: int, chosen: list[tuple[int, int]]) -> bool:
        nodes[0] += 1
        if nodes[0] > SEARCH_BUDGET:
            raise _BudgetExceeded
        if left == 0:
            plan.append(list(chosen))
            if place(gi + 1):
                return True
            plan.pop()
            return False
        pools = item.pools
        if j == len(pools):
            return False
        if sum(room(item, p) for p in pools[j:]) < left:
            return False
        p = pools[j]
        for count in range(min(left, room(item, p)), -1, -1):
            for d, lo in enumerate(item.low):
                rem[p][d] -= lo * count
            chosen.append((p, count))
            ok = distribute(gi, item, j + 1, left - count, chosen)
            chosen.pop()
            for d, lo in enumerate(item.low):
                rem[p][d] += lo * count
            if ok:
                return True
        return False

    if not place(0):
        return None
    result = [-1] * len(items)
    for group, counts in zip(groups, plan, strict=True):
        members = iter(group)
        for p, count in counts:
            for _ in range(count):
                result[next(members)] = p
    return result


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
        members = by_cap[cap]
        values = [amounts[i][d] for i in members]

        def cost(level: int, values: list[int] = values, cap: int = cap) -> int:
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

    Returns (problem index, assignment) or None when CP-SAT found nothing within the limit.
    """
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"site{k}") for k in range(len(problems))]
    model.add_exactly_one(chosen)
    places: list[list[dict[int, cp_model.IntVar]]] = []
    objective = []
    for k, problem in enumerate(problems):
        per_item = []
        loads: dict[tuple[int, int], list] = {}
        for i, item in enumerate(problem.items):
            x = {
                p: model.new_bool_var(f"x{k}_{i}_{p}")
                for p in item.pools
                if fits_alone(item, problem.free[p])
            }
            model.add(sum(x.values()) == chosen[k])
            per_item.append(x)
            for p, var in x.items():
                for d, (lo, hi) in enumerate(zip(item.low, item.high, strict=True)):
                    if hi > lo:
                        top = min(hi, problem.free[p][d])
                        b = model.new_int_var(0, top, f"b{k}_{i}_{p}_{d}")
                        model.add(b >= lo * var)
                        model.add(b <= top * var)
                        objective.append(b * max(1, round((1 << 20) / hi)))
                        loads.setdefault((p, d), []).append(b)
                    elif lo > 0:
                        loads.setdefault((p, d), []).append(lo * var)
        for (p, d), terms in loads.items():
            model.add(sum(terms) <= problem.free[p][d])
        for group in problem.groups:
            order = {p: n for n, p in enumerate(problem.items[group[0]].pools)}
            for a, b in pairwise(group):
                model.add(
                    sum(order[p] * v for p, v in per_item[a].items())
                    <= sum(order[p] * v for p, v in per_item[b].items())
                )
        places.append(per_item)
    model.maximize(sum(objective))
    hint_k, hint_assignment = hint
    for k, per_item in enumerate(places):
        model.add_hint(chosen[k], k == hint_k)
        for i, x in enumerate(per_item):
            for p, var in x.items():
                model.add_hint(var, k == hint_k and hint_assignment[i] == p)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = max(time_limit, 0.001)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    for k, per_item in enumerate(places):
        if solver.boolean_value(chosen[k]):
            assignment = [
                next(p for p, var in x.items() if solver.boolean_value(var)) for x in per_item
            ]
            return k, assignment
    return None


def _cpsat_feasible(problem: Problem) -> list[int] | None:
    model = cp_model.CpModel()
    per_item = []
    loads: dict[tuple[int, int], list] = {}
    for i, item in enumerate(problem.items):
        x = {
            p: model.new_bool_var(f"x{i}_{p}")
            for p in item.pools
            if fits_alone(item, problem.free[p])
        }
        model.add_exactly_one(x.values())
        per_item.append(x)
        for p, var in x.items():
            for d, lo in enumerate(item.low):
                if lo > 0:
                    loads.setdefault((p, d), []).append(lo * var)
    for (p, d), terms in loads.items():
        model.add(sum(terms) <= problem.free[p][d])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = EXACT_FALLBACK_SECONDS
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [next(p for p, var in x.items() if solver.boolean_value(var)) for x in per_item]
