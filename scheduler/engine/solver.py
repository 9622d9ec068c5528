"""``find_offers``: the sweep over candidate starts, packing, distinct offers, NO answers.

See the package docstring for the offer semantics this module keeps.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from . import packing
from .model import (
    NO,
    YES,
    Answer,
    Component,
    Dataset,
    Grant,
    Load,
    Offer,
    Policy,
    Pool,
    PoolLoad,
    Range,
    Reason,
    Request,
    Suggestion,
    validate,
)
from .packing import Item, Problem
from .profile import FreeProfile, Stack, build_profiles, columns, sorted_unique

EPSILON = 1e-9
PLACEMENT_LIMIT = 64
FIRST_BATCH = 64
# Pools of one kind at a site from which their profiles are queried side by side (``_groups``).
STACK_MIN_POOLS = 8
DEFAULT_POLICY = Policy()


@dataclass
class _Site:
    """One site's share of a request: the pools its items may use and the items themselves."""

    name: str
    order: int
    pools: list[Pool]
    prep: list[int]
    items: list[Item]
    reports: list[tuple[str, ...]]
    profiles: list[FreeProfile] = field(default_factory=list)
    # Stacks of its profiles (``_groups``), shared with its copies: `replace` passes it on.
    stacks: dict = field(default_factory=dict, repr=False, compare=False)

    def with_items(self, items: list[Item], profiles: list[FreeProfile]) -> _Site:
        return replace(self, items=items, reports=[()] * len(items), profiles=profiles)

    @cached_property
    def groups(self) -> list[list[int]]:
        return packing.group_items(self.items)

    @cached_property
    def plan(self) -> list[_KindPlan] | None:
        """How to decide feasibility exactly with array operations, or None if too costly.

        Per kind: the largest group of identical replicas is counted (how many fit on each
        pool), every other item is placed one by one over all its pools.
        """
        plans = []
        kinds: dict[str, list[list[int]]] = {}
        for group in self.groups:
            kinds.setdefault(self.items[group[0]].kind, []).append(group)
        for groups in kinds.values():
            groups = sorted(groups, key=len, reverse=True)
            counted = groups[0] if len(groups[0]) > 1 else None
            singles = [i for g in (groups[1:] if counted else groups) for i in g]
            if math.prod(len(self.items[i].pools) for i in singles) > PLACEMENT_LIMIT:
                return None
            placements = tuple(itertools.product(*(self.items[i].pools for i in singles)))
            lows = [np.array(self.items[i].low, dtype=np.int64)[:, None] for i in singles]
            plans.append(
                _KindPlan(
                    singles=tuple(lows),
                    placements=placements,
                    counted=self.items[counted[0]] if counted else None,
                    count=len(counted) if counted else 0,
                )
            )
        return plans


@dataclass(frozen=True)
class _KindPlan:
    singles: tuple[np.ndarray, ...]
    placements: tuple[tuple[int, ...], ...]
    counted: Item | None
    count: int


@dataclass
class _Choice:
    site: _Site
    start: int
    duration: int
    problem: Problem
    assignment: list[int]
    size: float


def find_offers(
    *,
    pools: Sequence[Pool],
    load: Sequence[Load | PoolLoad],
    request: Request,
    datasets: Sequence[Dataset] = (),
    policy: Policy = DEFAULT_POLICY,
) -> Answer:
    """Up to K ranked, distinct offers for ``request``, or NO with reasons and suggestions."""
    validate(pools=pools, request=request, policy=policy)
    step = policy.step
    first = _ceil(request.start_earliest, step)
    sites, excluded, dims = _sites(pools=pools, request=request, datasets=datasets, step=step)
    if not sites:
        return Answer(result=NO, offers=(), reasons=tuple(_dedupe(excluded)))
    lo = first - max(max(site.prep) for site in sites)
    planner = _Planner(policy=policy, budget=policy.solver_time_limit)
    hi = max(first, request.start_latest) + request.duration.max
    # one pass over the load, kept for the horizon a NO answer looks into
    loads = _by_pool(sites, load, lo, hi + policy.horizon_after_window)
    profiles = _profiles(sites, dims, loads, lo, hi, policy.not_before)
    _attach(sites, profiles)
    if first <= request.start_latest:
        k = min(request.max_offers, policy.max_offers)
        offers = planner.offers(sites, request, first, k)
        if offers:
            return Answer(result=YES, offers=tuple(offers))
    reasons = _diagnose(planner, sites, request, first, dims, lo, hi, policy.not_before)
    later = _profiles(sites, dims, loads, hi, hi + policy.horizon_after_window, None)
    profiles = {slug: profile.joined(later[slug]) for slug, profile in profiles.items()}
    suggestions = _suggest(
        planner=planner,
        pools=pools,
        request=request,
        datasets=datasets,
        profiles=profiles,
        first=first,
        horizon=policy.horizon_after_window,
    )
    return Answer(result=NO, offers=(), reasons=tuple(reasons), suggestions=tuple(suggestions))


class _Planner:
    """Finds earliest feasible starts and turns them into distinct, ranked offers."""

    def __init__(self, *, policy: Policy, budget: float):
        self.step = policy.step
        self.budget = budget

    def offers(self, sites: list[_Site], request: Request, first: int, k: int) -> list[Offer]:
        latest = request.start_latest
        dmin, dmax = request.duration.min, request.duration.max
        sites = [replace(site, profiles=list(site.profiles)) for site in sites]
        begin = dict.fromkeys(range(len(sites)), first)
        earliest: dict[int, int | None] = {}
        choices: dict[int, _Choice] = {}
        result: list[tuple[tuple, Offer]] = []
        while len(result) < k:
            for n, site in enumerate(sites):
                if n not in earliest:
                    earliest[n] = _earliest(site, begin[n], latest, dmin, self.step)
            live = [n for n, s in earliest.items() if s is not None]
            if not live:
                break
            start = min(earliest[n] for n in live)
            tied = [n for n in live if earliest[n] == start]
            for n in tied:
                if n not in choices:
                    choices[n] = self._choice(sites[n], start, dmin, dmax)
            pick = self._pick([choices[n] for n in tied])
            n = next(n for n in tied if sites[n] is pick.site)
            offer = _offer(pick)
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

    def _choice(self, site: _Site, start: int, dmin: int, dmax: int) -> _Choice:
        duration = _longest(site, start, dmin, dmax, self.step)
        problem = _problem(site, start, start + duration)
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


def _earliest(site: _Site, begin: int, latest: int, dmin: int, step: int) -> int | None:
    """The first start in [begin, latest] on the step grid at which the minimums fit.

    Between two consecutive candidates (begin, and every instant a pool's free capacity goes
    up, shifted by its preparation time and rounded up to the grid) every window only gains
    segments, so its minimum only falls: checking the candidates misses no feasible start.
    """
    if begin > latest:
        return None
    parts = [np.array([begin], dtype=np.int64)]
    for members, stack in _groups(site):
        if stack is None:
            for p in members:
                prep = site.prep[p]
                rises = _ceil_array(
                    site.profiles[p].rises(begin - prep, latest - prep) + prep, step
                )
                parts.append(rises[rises <= latest])
            continue
        times, owner = stack.rises()
        moved = times + np.array([site.prep[p] for p in members], dtype=np.int64)[owner]
        rises = _ceil_array(moved[(moved > begin) & (moved <= latest)], step)
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


def _first_fit(site: _Site, starts: np.ndarray, dmin: int, skip: int) -> int | None:
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


def _window_mins(site: _Site, starts: np.ndarray, dmin: int) -> list[np.ndarray]:
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


def _groups(site: _Site) -> list[tuple[list[int], Stack | None]]:
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


def _exact(plan: list[_KindPlan], frees: list[np.ndarray]) -> np.ndarray:
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


def _necessary(site: _Site, frees: list[np.ndarray]) -> np.ndarray:
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


def _feasible_window(site: _Site, start: int, end: int) -> bool:
    problem = _problem(site, start, end)
    if site.plan is not None:
        frees = [np.array(free, dtype=np.int64)[:, None] for free in problem.free]
        return bool(_exact(site.plan, frees)[0])
    return packing.assign(problem, best_of_greedy=False) is not None


def _longest(site: _Site, start: int, dmin: int, dmax: int, step: int) -> int:
    """The longest duration that fits at ``start``: dmax, else the latest end on the grid
    before a pool's free capacity drops (or dmin, which is known to fit)."""
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


def _problem(site: _Site, start: int, end: int) -> Problem:
    frees = _window_mins(site, np.array([start], dtype=np.int64), end - start)
    return Problem(site.items, [free[:, 0].tolist() for free in frees], site.groups)


def _offer(choice: _Choice) -> Offer:
    site, problem, start = choice.site, choice.problem, choice.start
    end = start + choice.duration
    amounts = packing.grow(problem, choice.assignment)
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


def _sites(
    *, pools: Sequence[Pool], request: Request, datasets: Sequence[Dataset], step: int
) -> tuple[list[_Site], list[Reason], dict[str, tuple[str, ...]]]:
    """Each site where every component and dataset has an eligible pool, with its items;
    also the dimensions the request uses per pool kind (one profile row each)."""
    names = list(dict.fromkeys(pool.site for pool in pools))
    reasons: list[Reason] = []
    if request.site is not None:
        if request.site not in names:
            reason = Reason("no-site", None, None, f"there is no pool at site {request.site!r}")
            return [], [reason], {}
        names = [request.site]
    catalogue = {dataset.slug: dataset for dataset in datasets}
    for slug in request.datasets:
        if slug not in catalogue:
            message = f"dataset {slug!r} is unknown"
            return [], [Reason("dataset", f"dataset:{slug}", None, message)], {}
    kind_dims: dict[str, tuple[str, ...]] = {}
    wants = [(c.kind, dim) for c in request.components for dim in c.amounts]
    if request.datasets:
        wants += [("storage", "size_gib"), ("data", "readers")]
    for kind, dim in wants:
        kind_dims[kind] = tuple(dict.fromkeys((*kind_dims.get(kind, ()), dim)))
    sites = []
    for order, name in enumerate(names):
        local = [pool for pool in pools if pool.site == name]
        site, why = _site(
            name=name,
            order=order,
            local=local,
            every_pool={pool.slug: pool for pool in pools},
            request=request,
            datasets=[catalogue[slug] for slug in request.datasets],
            kind_dims=kind_dims,
            step=step,
        )
        if site is None:
            reasons.extend(why)
        else:
            sites.append(site)
    return sites, reasons, kind_dims


def _site(
    *,
    name: str,
    order: int,
    local: list[Pool],
    every_pool: dict[str, Pool],
    request: Request,
    datasets: list[Dataset],
    kind_dims: dict[str, tuple[str, ...]],
    step: int,
) -> tuple[_Site | None, list[Reason]]:
    reasons: list[Reason] = []
    wanted: list[tuple[Component, tuple[str, ...], list[Pool]]] = []
    for component in request.components:
        eligible = [pool for pool in local if pool.kind == component.kind]
        if not eligible:
            message = f"{component.name}: no {component.kind} pool at site {name}"
            reasons.append(Reason("no-eligible-pool", component.name, None, message))
        wanted.append((component, tuple(component.amounts), eligible))
    staging = 0
    extra: list[tuple[str, str, int, list[Pool]]] = []
    for dataset in datasets:
        label = f"dataset:{dataset.slug}"
        here = next((r for r in dataset.replicas if r.site == name), None)
        if here is not None:
            if here.data_pool is None:
                continue
            pool = every_pool.get(here.data_pool)
            if pool is None or pool.site != name or pool.kind != "data":
                message = f"{label}: data pool {here.data_pool!r} is not a data pool at {name}"
                reasons.append(Reason("dataset", label, "readers", message))
                continue
            extra.append((label, "readers", 1, [pool]))
            continue
        rates = [r.staging_gib_per_hour for r in dataset.replicas if r.staging_gib_per_hour > 0]
        storage = [pool for pool in local if pool.kind == "storage"]
        if not rates:
            message = f"{label}: no replica of {dataset.slug} to copy to {name} from"
            reasons.append(Reason("dataset", label, None, message))
            continue
        if not storage:
            message = f"{label}: no storage pool at {name} to copy {dataset.slug} to"
            reasons.append(Reason("no-eligible-pool", label, "size_gib", message))
            continue
        staging = max(staging, _ceil(math.ceil(dataset.size_gib * 3600 / max(rates)), step))
        extra.append((label, "size_gib", dataset.size_gib, storage))
    if reasons:
        return None, reasons
    used = {pool.slug for _, _, eligible in wanted for pool in eligible}
    used |= {pool.slug for *_, eligible in extra for pool in eligible}
    chosen = [pool for pool in local if pool.slug in used]
    index = {pool.slug: p for p, pool in enumerate(chosen)}
    items, reports = [], []
    for component, report, eligible in wanted:
        kd = kind_dims[component.kind]
        low = tuple(component.amounts[d].min if d in component.amounts else 0 for d in kd)
        high = tuple(component.amounts[d].max if d in component.amounts else 0 for d in kd)
        allowed = tuple(index[pool.slug] for pool in eligible)
        for replica in range(component.replicas):
            items.append(Item(component.name, replica, component.kind, kd, low, high, allowed))
            reports.append(report)
    for label, dim, amount, eligible in extra:
        kind = eligible[0].kind
        kd = kind_dims[kind]
        low = tuple(amount if d == dim else 0 for d in kd)
        allowed = tuple(index[pool.slug] for pool in eligible)
        items.append(Item(label, 0, kind, kd, low, low, allowed))
        reports.append((dim,))
    prep = [pool.setup_seconds + staging for pool in chosen]
    return _Site(name, order, chosen, prep, items, reports), []


def _by_pool(
    sites: list[_Site], load: Sequence[Load | PoolLoad], lo: int, hi: int
) -> dict[str, list[Load] | PoolLoad]:
    """The load on each pool the request may use that overlaps [lo, hi): a list of ``Load``s,
    or one ``PoolLoad`` where the caller gave columns (joined with any ``Load``s)."""
    wanted: dict[str, list] = {pool.slug: [] for site in sites for pool in site.pools}
    get = wanted.get
    columnar: dict[str, list[PoolLoad]] = {}
    for item in load:
        bucket = get(item.pool)
        if bucket is None:
            continue
        if isinstance(item, PoolLoad):
            columnar.setdefault(item.pool, []).append(item)
        elif item.start < hi and item.end > lo:
            bucket.append(item)
    for slug, parts in columnar.items():
        if wanted[slug]:
            names = set().union(*(part.amounts for part in parts))
            parts = [*parts, columns(slug, wanted[slug], names)]
        wanted[slug] = parts[0] if len(parts) == 1 else _joined(slug, parts)
    return wanted


def _joined(slug: str, parts: list[PoolLoad]) -> PoolLoad:
    names = set().union(*(part.amounts for part in parts))
    return PoolLoad(
        pool=slug,
        starts=np.concatenate([part.starts for part in parts]),
        ends=np.concatenate([part.ends for part in parts]),
        amounts={
            dim: np.concatenate(
                [part.amounts.get(dim, np.zeros_like(part.starts)) for part in parts]
            )
            for dim in names
        },
    )


def _profiles(
    sites: list[_Site],
    dims: dict[str, tuple[str, ...]],
    loads: dict[str, list[Load] | PoolLoad],
    lo: int,
    hi: int,
    not_before: int | None,
) -> dict[str, FreeProfile]:
    """One free profile per pool the request may use, over [lo, hi); nothing before
    ``not_before`` is usable (preparation cannot happen in the past)."""
    by_kind: dict[str, dict[str, Pool]] = {}
    for site in sites:
        for pool in site.pools:
            by_kind.setdefault(pool.kind, {})[pool.slug] = pool
    profiles = {}
    for kind, pools in by_kind.items():
        built = build_profiles(
            pools=list(pools.values()), loads=loads, lo=lo, hi=hi, dims=dims[kind]
        )
        for slug, profile in zip(pools, built, strict=True):
            if not_before is not None:
                profile = profile.blocked(lo, not_before)
            profiles[slug] = profile
    return profiles


def _attach(sites: list[_Site], profiles: dict[str, FreeProfile]) -> None:
    for site in sites:
        site.profiles = [profiles[pool.slug] for pool in site.pools]


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def _ceil_array(values: np.ndarray, step: int) -> np.ndarray:
    return -(-values // step) * step


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    return list(dict.fromkeys(reasons))


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g} h"


# --- NO answers: reasons -----------------------------------------------------------------


def _diagnose(
    planner: _Planner,
    sites: list[_Site],
    request: Request,
    first: int,
    dims: dict[str, tuple[str, ...]],
    lo: int,
    hi: int,
    not_before: int | None,
) -> list[Reason]:
    """Machine-readable reasons: which component, which dimension, which constraint."""
    latest = request.start_latest
    if first > latest:
        message = (
            f"the start window {_iso(request.start_earliest)}..{_iso(latest)} holds no start "
            f"on the {planner.step} s grid"
        )
        return [Reason("window", None, None, message)]
    dmin = request.duration.min
    empty: dict[str, FreeProfile] = {}

    def capacity_only(site: _Site) -> list[FreeProfile]:
        if not empty:
            empty.update(_profiles(sites, dims, {}, lo, hi, not_before))
        return [empty[pool.slug] for pool in site.pools]

    reasons: list[Reason] = []
    labels = list(dict.fromkeys(item.component for site in sites for item in site.items))
    for label in labels:
        found = _diagnose_component(planner, sites, capacity_only, label, first, latest, dmin)
        reasons.extend(found)
    if not reasons:
        message = (
            "every component fits on its own, but never all together at one site for "
            f"{_hours(dmin)} in the window"
        )
        reasons.append(Reason("packing", None, None, message))
    return reasons


def _diagnose_component(
    planner: _Planner,
    sites: list[_Site],
    capacity_only,
    label: str,
    first: int,
    latest: int,
    dmin: int,
) -> list[Reason]:
    def fits_somewhere(items_of, profiles_of) -> bool:
        for site in sites:
            items = items_of(site)
            if not items:
                continue
            trial = site.with_items(items, profiles_of(site))
            if _earliest(trial, first, latest, dmin, planner.step) is not None:
                return True
        return False

    def one(site: _Site, dim: int | None) -> list[Item]:
        item = next((i for i in site.items if i.component == label), None)
        if item is None:
            return []
        if dim is None:
            return [item]
        low = tuple(v if d == dim else 0 for d, v in enumerate(item.low))
        return [replace(item, low=low)]

    def loaded(site: _Site) -> list[FreeProfile]:
        return site.profiles

    def every(site: _Site) -> list[Item]:
        return [i for i in site.items if i.component == label]

    if fits_somewhere(lambda s: one(s, None), loaded):
        count = max(len(every(site)) for site in sites)
        if count > 1 and not fits_somewhere(every, loaded):
            message = f"{label}: its {count} replicas never fit together in the window"
            return [Reason("busy", label, None, message)]
        return []
    sample = next(i for site in sites for i in site.items if i.component == label)
    reasons = []
    for d, dim in enumerate(sample.dims):
        if sample.low[d] == 0 or fits_somewhere(lambda s, d=d: one(s, d), loaded):
            continue
        need = f"{sample.low[d]} {dim}"
        if not fits_somewhere(lambda s, d=d: one(s, d), capacity_only):
            message = (
                f"{label}: no {sample.kind} pool has {need} free for {_hours(dmin)} in the "
                "window, even with nothing booked"
            )
            reasons.append(Reason("insufficient-capacity", label, dim, message))
        else:
            message = f"{label}: {need} is never free for {_hours(dmin)} in the window"
            reasons.append(Reason("busy", label, dim, message))
    if not reasons:
        message = f"{label}: one replica never fits for {_hours(dmin)} in the window"
        reasons.append(Reason("busy", label, None, message))
    return reasons


# --- NO answers: suggestions -------------------------------------------------------------


def _suggest(
    *,
    planner: _Planner,
    pools: Sequence[Pool],
    request: Request,
    datasets: Sequence[Dataset],
    profiles: dict[str, FreeProfile],
    first: int,
    horizon: int,
) -> list[Suggestion]:
    """Up to three nearest relaxations that work: fewer resources, shorter, later."""
    step = planner.step

    def prepared(relaxed: Request) -> list[_Site]:
        sites, _, _ = _sites(pools=pools, request=relaxed, datasets=datasets, step=step)
        _attach(sites, profiles)
        return sites

    def probe(relaxed: Request) -> int | None:
        """The earliest start of ``relaxed`` at any site, without building an offer."""
        begin = _ceil(relaxed.start_earliest, step)
        starts = [
            _earliest(site, begin, relaxed.start_latest, relaxed.duration.min, step)
            for site in prepared(relaxed)
        ]
        return min((s for s in starts if s is not None), default=None)

    def longest(relaxed: Request, start: int) -> int:
        """The longest duration of ``relaxed`` that fits at ``start`` at some site."""
        dmin, dmax = relaxed.duration.min, relaxed.duration.max
        return max(
            _longest(site, start, dmin, dmax, step)
            for site in prepared(relaxed)
            if _earliest(site, start, start, dmin, step) is not None
        )

    def offer(relaxed: Request, start: int) -> Offer:
        """The first offer of ``relaxed``, whose earliest start is known to be ``start``."""
        pinned = replace(relaxed, start_earliest=start, start_latest=start)
        return planner.offers(prepared(pinned), pinned, start, 1)[0]

    found = []
    if first <= request.start_latest:
        fewer = _fewer_resources(request, probe, offer)
        if fewer is not None:
            found.append(fewer)
        shorter = _shorter_duration(request, probe, longest, offer, step)
        if shorter is not None:
            found.append(shorter)
    later_first = max(first, request.start_latest // step * step + step)
    later = replace(
        request, start_earliest=later_first, start_latest=request.start_latest + horizon
    )
    start = probe(later)
    if start is not None:
        got = offer(later, start)
        message = f"first fit after the window: {_iso(got.start)} to {_iso(got.end)}"
        found.append(Suggestion("later-start", message, later, got))
    return found


def _scaled(request: Request, percent: int) -> Request:
    components = [
        replace(
            component,
            amounts={
                dim: Range(math.ceil(r.min * percent / 100), r.max)
                for dim, r in component.amounts.items()
            },
        )
        for component in request.components
    ]
    return replace(request, components=tuple(components))


def _fewer_resources(request: Request, probe, offer) -> Suggestion | None:
    """The earliest start where at least half the minimums fit (else a quarter, …), with the
    largest multiple of 5 % of them that fits at that start."""
    percent = 50
    while True:
        relaxed = _scaled(request, percent)
        same = [c.amounts for c in relaxed.components] == [c.amounts for c in request.components]
        if percent < 1 or same:
            return None
        start = probe(relaxed)
        if start is not None:
            break
        percent //= 2
    pinned = replace(request, start_earliest=start, start_latest=start)
    # the largest fitting multiple of 5 % at that start
    low, high = percent, 95
    while low < high:
        mid = (low + high + 5) // 10 * 5
        if mid <= low:
            break
        if probe(_scaled(pinned, mid)) is not None:
            low = mid
        else:
            high = mid - 5
    relaxed = _scaled(request, low)
    got = offer(relaxed, start)
    totals: dict[str, int] = {}
    for grant in got.grants:
        if not grant.component.startswith("dataset:"):
            for dim, value in grant.amounts.items():
                totals[dim] = totals.get(dim, 0) + value
    granted = ", ".join(f"{value} {dim}" for dim, value in totals.items())
    message = f"available with {granted} ({low}% of the minimum) at {_iso(got.start)}"
    return Suggestion("fewer-resources", message, relaxed, got)


def _shorter_duration(request: Request, probe, longest, offer, step: int) -> Suggestion | None:
    """The earliest start where at least half the minimum duration fits (else a quarter, …),
    for the longest duration that fits there."""
    dmin = request.duration.min
    below = max(step, _ceil(dmin, step) - step)
    fraction = 2
    while True:
        shortest = dmin // fraction // step * step
        if shortest < step:
            return None
        relaxed = replace(request, duration=Range(shortest, max(shortest, below)))
        start = probe(relaxed)
        if start is not None:
            break
        fraction *= 2
    length = longest(relaxed, start)
    relaxed = replace(request, duration=Range(length, length))
    got = offer(relaxed, start)
    message = (
        f"{_hours(length)} instead of {_hours(dmin)} from {_iso(got.start)} to {_iso(got.end)}"
    )
    return Suggestion("shorter-duration", message, relaxed, got)
