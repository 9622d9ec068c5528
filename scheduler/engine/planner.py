"""Turning earliest feasible starts into distinct, ranked offers (``Planner``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from decimal import Decimal

from . import packing
from .feasibility import earliest_start, longest_duration, problem_at
from .model import Grant, Offer, Policy, Request
from .packing import Problem
from .pricing import offer_cost
from .sites import Site
from .times import ceil_step

EPSILON = 1e-9


@dataclass
class _Choice:
    site: Site
    start: int
    duration: int
    problem: Problem
    assignment: list[int]
    size: float


@dataclass(frozen=True)
class Shortfall:
    """The cheapest form of an offer the budget could not pay for: its minimums for the
    shortest duration, at the first start found."""

    need: Decimal
    left: Decimal
    offer: Offer


class Planner:
    """Finds earliest feasible starts and turns them into distinct, ranked offers, each
    priced and sized to the budget when the policy has one (``_afford``)."""

    def __init__(self, *, policy: Policy, budget: float):
        self.step = policy.step
        self.budget = budget  # CP-SAT's time
        self.money = policy.budget
        self.shortfall: Shortfall | None = None

    def offers(self, sites: list[Site], request: Request, first: int, k: int) -> list[Offer]:
        latest = request.start_latest
        dmin, dmax = request.duration.min, request.duration.max
        sites = [replace(site, profiles=list(site.profiles)) for site in sites]
        begin = dict.fromkeys(range(len(sites)), first)
        earliest: dict[int, int | None] = {}
        choices: dict[int, _Choice] = {}
        result: list[tuple[tuple, Offer]] = []
        broke: set[int] = set()  # sites whose offers the budget cannot pay for
        while len(result) < k:
            for n, site in enumerate(sites):
                if n not in earliest:
                    earliest[n] = earliest_start(site, begin[n], latest, dmin, self.step)
            live = [n for n, s in earliest.items() if s is not None and n not in broke]
            if not live:
                break
            start = min(earliest[n] for n in live)
            tied = [n for n in live if earliest[n] == start]
            for n in tied:
                if n not in choices:
                    choices[n] = self._choice(sites[n], start, dmin, dmax)
            pick = self._pick([choices[n] for n in tied])
            n = next(n for n in tied if sites[n] is pick.site)
            offer = self._afford(pick, dmin)
            if offer is None:
                broke.add(n)
                del choices[n]
                continue
            result.append(((offer.start, -pick.size, -pick.duration, pick.site.order), offer))
            used = {grant.pool for grant in offer.grants}
            for p, pool in enumerate(pick.site.pools):
                if pool.slug in used:
                    end = pick.start + pick.duration
                    span = pick.start - pick.site.prep[p]
                    pick.site.profiles[p] = pick.site.profiles[p].blocked(span, end)
            begin[n] = start
            del earliest[n], choices[n]
        result.sort(key=lambda entry: entry[0])
        return [offer for _, offer in result]

    def _afford(self, pick: _Choice, dmin: int) -> Offer | None:
        """The offer of ``pick``, priced. With a budget: as chosen if it pays; else with
        every amount at its minimum; else also shorter (the longest end on the grid that
        pays, never below ``dmin``); else None, and the shortfall is kept for the NO."""
        offer = _offer(pick)
        if self.money is None:
            return offer
        rates, left = self.money.rates, self.money.left(pick.site.name)
        cost = offer_cost(offer, rates)
        if left is None or cost <= left:
            return replace(offer, cost=cost)
        low = _offer(pick, grow=False)
        cost = offer_cost(low, rates)
        if cost <= left:
            return replace(low, cost=cost)
        ends = list(range(ceil_step(low.start + dmin, self.step), low.end, self.step))
        ends = [low.start + dmin, *(e for e in ends if e > low.start + dmin)]
        shortest = _ending(low, ends[0])
        if offer_cost(shortest, rates) > left:
            need = offer_cost(shortest, rates)
            if self.shortfall is None or need < self.shortfall.need:
                self.shortfall = Shortfall(need, left, shortest)
            return None
        lo, hi = 0, len(ends) - 1  # ends[lo] pays; find the last that does
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if offer_cost(_ending(low, ends[mid]), rates) <= left:
                lo = mid
            else:
                hi = mid - 1
        shorter = _ending(low, ends[lo])
        return replace(shorter, cost=offer_cost(shorter, rates))

    def _choice(self, site: Site, start: int, dmin: int, dmax: int) -> _Choice:
        duration = longest_duration(site, start, dmin, dmax, self.step)
        problem = problem_at(site, start, start + duration)
        assignment = packing.assign(problem)
        size = packing.amounts_size(problem.items, packing.grow(problem, assignment))
        return _Choice(site, start, duration, problem, assignment, size)

    def _pick(self, choices: list[_Choice]) -> _Choice:
        best = max(choices, key=lambda c: (c.size, c.duration, -c.site.order))
        if not packing.has_ranges(best.problem.items) or self.budget <= 0:
            return best
        bound = max(packing.upper_bound(c.problem) for c in choices)
        if best.size >= bound - EPSILON:
            return best
        began = time.perf_counter()
        improved = packing.improve(
            [c.problem for c in choices],
            (choices.index(best), best.assignment),
            self.budget,
        )
        self.budget -= time.perf_counter() - began
        if improved is None:
            return best
        k, assignment = improved
        other = choices[k]
        size = packing.amounts_size(other.problem.items, packing.grow(other.problem, assignment))
        if size <= best.size + EPSILON:
            return best
        return replace(other, assignment=assignment, size=size)


def _ending(offer: Offer, end: int) -> Offer:
    """``offer`` ending at ``end`` instead (every grant of an offer ends with it)."""
    grants = tuple(replace(g, end=end) for g in offer.grants)
    return replace(offer, end=end, grants=grants)


def _offer(choice: _Choice, *, grow: bool = True) -> Offer:
    """The offer of a choice: the most that fits (``grow``) or every minimum."""
    site, problem, start = choice.site, choice.problem, choice.start
    end = start + choice.duration
    if grow:
        amounts = packing.grow(problem, choice.assignment)
    else:
        amounts = [tuple(item.low) for item in problem.items]
    assignment = list(choice.assignment)
    for group in problem.groups:
        # Identical replicas are interchangeable: number them in pool order, larger first.
        placed = sorted((assignment[i], [-a for a in amounts[i]]) for i in group)
        for i, (p, negated) in zip(group, placed, strict=True):
            assignment[i], amounts[i] = p, tuple(-a for a in negated)
    grants = []
    for item, report, granted, p in zip(
        problem.items, site.reports, amounts, assignment, strict=True
    ):
        by_dim = dict(zip(item.dims, granted, strict=True))
        grants.append(
            Grant(
                component=item.component,
                replica=item.replica,
                pool=site.pools[p].slug,
                amounts={dim: by_dim[dim] for dim in report},
                start=start - site.prep[p],
                end=end,
            )
        )
    return Offer(
        site=site.name,
        start=start,
        end=end,
        preparation_start=min(grant.start for grant in grants),
        grants=tuple(grants),
    )
