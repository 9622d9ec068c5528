"""Deciding whether a site's items fit: the sweep for the earliest start, the longest duration.

Window minima of the free profiles are evaluated for a whole array of candidate starts at
once; the site's exact plan (``Site.plan``) or the necessary test plus ``packing.assign``
decides each candidate.
"""

from __future__ import annotations

import numpy as np

from . import packing
from .packing import Problem
from .profile import Stack, sorted_unique
from .sites import KindPlan, Site
from .times import ceil_step

FIRST_BATCH = 64
# Pools of one kind at a site from which their profiles are queried side by side (``_groups``).
STACK_MIN_POOLS = 8


def earliest_start(site: Site, begin: int, latest: int, dmin: int, step: int) -> int | None:
    """The first start in [begin, latest] on the step grid at which the minimums fit.

    Between two consecutive candidates (begin, and every instant a pool's free capacity goes
    up, shifted by its preparation time and rounded up to the grid) every window only gains
    segments, so its minimum only falls: checking the candidates misses no feasible start.
    A site's policy limits (``Site.latest``, ``Site.longest``) narrow the search.
    """
    if site.latest is not None:
        latest = min(latest, site.latest)
    if site.longest is not None and dmin > site.longest:
        return None
    if begin > latest:
        return None
    parts = [np.array([begin], dtype=np.int64)]
    for members, stack in _groups(site):
        if stack is None:
            for p in members:
                prep = site.prep[p]
                rises = ceil_step(site.profiles[p].rises(begin - prep, latest - prep) + prep, step)
                parts.append(rises[rises <= latest])
            continue
        times, owner = stack.rises()
        moved = times + np.array([site.prep[p] for p in members], dtype=np.int64)[owner]
        rises = ceil_step(moved[(moved > begin) & (moved <= latest)], step)
        parts.append(rises[rises <= latest])
    starts = sorted_unique(np.concatenate(parts))
    # The answer is usually near the beginning: test a small batch first, then larger ones.
    first, size = 0, FIRST_BATCH
    while first < len(starts):
        stop = min(len(starts), first + size)
        # one candidate of overlap, for the dominance test against its predecessor
        head = max(0, first - 1)
        found = _first_fit(site, starts[head:stop], dmin, skip=first - head)
        if found is not None:
            return found
        first, size = stop, size * 4
    return None


def _first_fit(site: Site, starts: np.ndarray, dmin: int, skip: int) -> int | None:
    """The first of ``starts[skip:]`` at which the minimums fit, or None."""
    frees = _window_mins(site, starts, dmin)
    if site.plan is not None:
        hits = np.flatnonzero(_exact(site.plan, frees)[skip:])
        return int(starts[skip + hits[0]]) if len(hits) else None
    mask = _necessary(site, frees)
    # Scanning stops at the first success, so every earlier candidate failed; one with no
    # more free capacity anywhere than its predecessor fails too.
    stacked = np.concatenate(frees)
    mask[1:] &= np.any(stacked[:, 1:] > stacked[:, :-1], axis=0)
    for c in np.flatnonzero(mask[skip:]).tolist():
        c += skip
        problem = Problem(site.items, [f[:, c].tolist() for f in frees], site.groups)
        if packing.assign(problem, best_of_greedy=False) is not None:
            return int(starts[c])
    return None


def _window_mins(site: Site, starts: np.ndarray, dmin: int) -> list[np.ndarray]:
    """Per pool of the site, the minimum free capacity over [start - its preparation, start +
    dmin) for each of ``starts``: one stacked query per large group of pools with the same
    dimensions (``Stack``), one query per pool otherwise."""
    frees: list[np.ndarray | None] = [None] * len(site.profiles)
    for members, stack in _groups(site):
        if stack is None:
            for p in members:
                frees[p] = site.profiles[p].window_min(starts - site.prep[p], starts + dmin)
            continue
        prep = np.array([site.prep[p] for p in members], dtype=np.int64)[:, None]
        lows = starts[None, :] - prep
        found = stack.window_min(lows, np.broadcast_to(starts + dmin, lows.shape))
        for k, p in enumerate(members):
            frees[p] = found[:, k, :]
    return frees


def _groups(site: Site) -> list[tuple[list[int], Stack | None]]:
    """The site's pools grouped by the dimensions of their profiles, each group of at least
    ``STACK_MIN_POOLS`` with its profiles stacked. A stack is built once per set of profiles
    and shared by the site's copies (the planner's, the relaxed requests'); an offer that
    blocks a pool's profile makes the next call stack the group again. Small groups query
    their profiles one by one: each profile keeps its own sparse table, so blocking one pool
    rebuilds one table, where a stack would rebuild them all."""
    groups: dict[tuple, list[int]] = {}
    for p, profile in enumerate(site.profiles):
        groups.setdefault(profile.dims, []).append(p)
    result = []
    for members in groups.values():
        stack = None
        if len(members) >= STACK_MIN_POOLS:
            profiles = tuple(site.profiles[p] for p in members)
            key = tuple(map(id, profiles))  # the stack holds them: the ids stay theirs
            stack = site.stacks.get(key)
            if stack is None:
                stack = site.stacks[key] = Stack(profiles)
        result.append((members, stack))
    return result


def _exact(plan: list[KindPlan], frees: list[np.ndarray]) -> np.ndarray:
    """Per candidate (column of ``frees``): do all items fit? Every kind must have a placement
    of its single items after which the counted group's replicas fit in what is left."""
    width = frees[0].shape[1]
    result = np.ones(width, dtype=bool)
    for kind in plan:
        counted = kind.counted
        if counted is not None:
            untouched = {p: _room(frees[p], counted.low, kind.count) for p in counted.pools}
            everywhere = sum(untouched.values())
        fits = np.zeros(width, dtype=bool)
        for placement in kind.placements:
            left: dict[int, np.ndarray] = {}
            for low, p in zip(kind.singles, placement, strict=True):
                left[p] = left.get(p, frees[p]) - low
            ok = np.ones(width, dtype=bool)
            for rest in left.values():
                ok &= np.all(rest >= 0, axis=0)
            if counted is not None:
                room = everywhere
                for p, rest in left.items():
                    if p in untouched:
                        room = room - untouched[p] + _room(rest, counted.low, kind.count)
                ok &= room >= kind.count
            fits |= ok
            if fits.all():
                break
        result &= fits
    return result


def _room(free: np.ndarray, low: tuple[int, ...], most: int) -> np.ndarray:
    """How many items with minimums ``low`` fit in ``free`` (per column), at most ``most``."""
    fit = None
    for d, lo in enumerate(low):
        if lo > 0:
            quotient = free[d] // lo
            fit = quotient if fit is None else np.minimum(fit, quotient, out=fit)
    if fit is None:
        return np.where(np.all(free >= 0, axis=0), most, 0)
    np.minimum(fit, most, out=fit)
    return np.maximum(fit, 0, out=fit)


def _necessary(site: Site, frees: list[np.ndarray]) -> np.ndarray:
    """Per candidate: every group has room for its replicas somewhere, and every kind's
    pools together hold the minimums."""
    count = frees[0].shape[1]
    mask = np.ones(count, dtype=bool)
    totals: dict[str, np.ndarray] = {}
    kind_pools: dict[str, set[int]] = {}
    for group in site.groups:
        item = site.items[group[0]]
        need = len(group)
        mask &= sum(_room(frees[p], item.low, need) for p in item.pools) >= need
        low = np.array(item.low, dtype=np.int64) * need
        totals[item.kind] = totals.get(item.kind, 0) + low
        kind_pools.setdefault(item.kind, set()).update(item.pools)
    for kind, low in totals.items():
        available = sum(np.maximum(frees[p], 0) for p in kind_pools[kind])
        mask &= np.all(available >= low[:, None], axis=0)
    return mask


def _feasible_window(site: Site, start: int, end: int) -> bool:
    problem = problem_at(site, start, end)
    if site.plan is not None:
        frees = [np.array(free, dtype=np.int64)[:, None] for free in problem.free]
        return bool(_exact(site.plan, frees)[0])
    return packing.assign(problem, best_of_greedy=False) is not None


def longest_duration(site: Site, start: int, dmin: int, dmax: int, step: int) -> int:
    """The longest duration that fits at ``start``: dmax, else the latest end on the grid
    before a pool's free capacity drops (or dmin, which is known to fit); never longer than
    the site's policy allows (``Site.longest``)."""
    if site.longest is not None:
        dmax = max(dmin, min(dmax, site.longest))
    if dmin == dmax or _feasible_window(site, start, start + dmax):
        return dmax
    drops = np.concatenate(
        [profile.drops(start + dmin, start + dmax - 1) for profile in site.profiles]
    )
    ends = sorted_unique(drops // step * step)
    ends = ends[ends > start + dmin].tolist()
    low, high = 0, len(ends)
    while low < high:
        mid = (low + high) // 2
        if _feasible_window(site, start, ends[mid]):
            low = mid + 1
        else:
            high = mid
    return (ends[low - 1] if low else start + dmin) - start


def problem_at(site: Site, start: int, end: int) -> Problem:
    frees = _window_mins(site, np.array([start], dtype=np.int64), end - start)
    return Problem(site.items, [free[:, 0].tolist() for free in frees], site.groups)
