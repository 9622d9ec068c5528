"""The packing helpers on their own: exact assignment, water-filling, CP-SAT sizing."""

import pytest

from scheduler.engine import packing
from scheduler.engine.packing import Item, Problem

pytestmark = pytest.mark.unit

DIMS = ("cores", "memory_gib")


def worker(replica: int, low=(13, 43), high=(26, 43), pools=(0, 1, 2)) -> Item:
    return Item("workers", replica, "compute", DIMS, low, high, pools)


def test_search_finds_what_greedy_misses():
    # 12 | 9 cores: both greedy passes strand an item; 8+4 | 4+3+2 works
    sizes = [8, 4, 4, 3, 2]
    items = [
        Item(f"i{n}", 0, "compute", ("cores",), (s,), (s,), (0, 1)) for n, s in enumerate(sizes)
    ]
    problem = Problem(items, [[12], [9]])
    assert packing._greedy(problem, worst_fit=True) is None
    assert packing._greedy(problem, worst_fit=False) is None

    assignment = packing.assign(problem)

    used = [sum(s for s, q in zip(sizes, assignment, strict=True) if q == p) for p in (0, 1)]
    assert used == [12, 9]


def test_cpsat_settles_what_the_search_budget_cannot(monkeypatch):
    monkeypatch.setattr(packing, "SEARCH_BUDGET", 0)
    monkeypatch.setattr(packing, "_greedy", lambda problem, worst_fit: None)
    problem = Problem([worker(r) for r in range(6)], [[52, 86], [52, 86], [52, 86]])

    assignment = packing.assign(problem)

    assert sorted(assignment) == [0, 0, 1, 1, 2, 2]
    problem = Problem([worker(r) for r in range(7)], [[52, 86], [52, 86], [52, 86]])
    assert packing.assign(problem) is None


def test_grow_water_fills_evenly_and_smaller_maxima_first():
    items = [
        worker(0, low=(4, 0), high=(10, 0)),
        worker(1, low=(4, 0), high=(10, 0)),
        Item("small", 0, "compute", DIMS, (1, 0), (3, 0), (0,)),
    ]
    problem = Problem(items, [[20, 0]])

    # 20 - 9 = 11 spare: 2 to "small" (its units count more), 9 shared as 5 + 4
    assert packing.grow(problem, [0, 0, 0]) == [(9, 0), (8, 0), (3, 0)]


def test_improve_moves_replicas_so_that_grants_grow():
    # 30 + 30 + 16 cores: greedy-like 2 + 1 + 0 placements leave room unused
    items = [worker(r, low=(13, 0), high=(26, 0)) for r in range(3)]
    problem = Problem(items, [[30, 0], [30, 0], [16, 0]])
    hint = [0, 0, 1]
    before = packing.amounts_size(items, packing.grow(problem, hint))

    _, assignment = packing.improve([problem], (0, hint), time_limit=5.0)

    after = packing.amounts_size(items, packing.grow(problem, assignment))
    assert before == pytest.approx(30 / 26 + 26 / 26)
    assert after == pytest.approx(26 / 26 + 26 / 26 + 16 / 26)
