"""NO answers: the reasons nothing fits, and up to three relaxations that do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .feasibility import earliest_start, longest_duration
from .model import Dataset, Offer, Pool, Range, Reason, Request, Suggestion
from .packing import Item
from .planner import Planner, _ending
from .pricing import offer_cost
from .profile import FreeProfile
from .sites import Site, attach_profiles, pool_profiles, sites_for
from .times import ceil_step, hours, iso


def diagnose(
    planner: Planner,
    sites: list[Site],
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
            f"the start window {iso(request.start_earliest)}..{iso(latest)} holds no start "
            f"on the {planner.step} s grid"
        )
        return [Reason("window", None, None, message)]
    dmin = request.duration.min
    empty: dict[str, FreeProfile] = {}

    def capacity_only(site: Site) -> list[FreeProfile]:
        if not empty:
            empty.update(pool_profiles(sites, dims, {}, lo, hi, not_before))
        return [empty[pool.slug] for pool in site.pools]

    window = _Window(sites, first, latest, dmin, planner.step)
    reasons: list[Reason] = []
    labels = list(dict.fromkeys(item.component for site in sites for item in site.items))
    for label in labels:
        reasons.extend(_diagnose_component(window, capacity_only, label))
    if not reasons:
        message = (
            "every component fits on its own, but never all together at one site for "
            f"{hours(dmin)} in the window"
        )
        reasons.append(Reason("packing", None, None, message))
    return reasons


@dataclass(frozen=True)
class _Window:
    """The sites and the start window in which a NO answer's reasons are checked."""

    sites: list[Site]
    first: int
    latest: int
    dmin: int
    step: int

    def fits_somewhere(self, items_of, profiles_of) -> bool:
        """Whether, at some site, its ``items_of(site)`` fit on ``profiles_of(site)``."""
        for site in self.sites:
            items = items_of(site)
            if not items:
                continue
            trial = site.with_items(items, profiles_of(site))
            if earliest_start(trial, self.first, self.latest, self.dmin, self.step) is not None:
                return True
        return False


def _diagnose_component(window: _Window, capacity_only, label: str) -> list[Reason]:
    if window.fits_somewhere(lambda s: _one(s, label, None), _loaded):
        count = max(len(_every(site, label)) for site in window.sites)
        if count > 1 and not window.fits_somewhere(lambda s: _every(s, label), _loaded):
            message = f"{label}: its {count} replicas never fit together in the window"
            return [Reason("busy", label, None, message)]
        return []
    return _dimension_reasons(window, capacity_only, label)


def _dimension_reasons(window: _Window, capacity_only, label: str) -> list[Reason]:
    """Why one replica of ``label`` never fits: each dimension whose minimum alone never fits,
    too small even with nothing booked or busy."""
    duration = hours(window.dmin)
    sample = next(i for site in window.sites for i in site.items if i.component == label)
    reasons = []
    for d, dim in enumerate(sample.dims):
        if sample.low[d] == 0 or window.fits_somewhere(lambda s, d=d: _one(s, label, d), _loaded):
            continue
        need = f"{sample.low[d]} {dim}"
        if not window.fits_somewhere(lambda s, d=d: _one(s, label, d), capacity_only):
            message = (
                f"{label}: no {sample.kind} pool has {need} free for {duration} in the "
                "window, even with nothing booked"
            )
            reasons.append(Reason("insufficient-capacity", label, dim, message))
        else:
            message = f"{label}: {need} is never free for {duration} in the window"
            reasons.append(Reason("busy", label, dim, message))
    if not reasons:
        message = f"{label}: one replica never fits for {duration} in the window"
        reasons.append(Reason("busy", label, None, message))
    return reasons


def _one(site: Site, label: str, dim: int | None) -> list[Item]:
    """The site's first replica of ``label``; with ``dim``, asking for that dimension only."""
    item = next((i for i in site.items if i.component == label), None)
    if item is None:
        return []
    if dim is None:
        return [item]
    low = tuple(v if d == dim else 0 for d, v in enumerate(item.low))
    return [replace(item, low=low)]


def _every(site: Site, label: str) -> list[Item]:
    return [i for i in site.items if i.component == label]


def _loaded(site: Site) -> list[FreeProfile]:
    return site.profiles


def suggest(
    *,
    planner: Planner,
    pools: Sequence[Pool],
    request: Request,
    datasets: Sequence[Dataset],
    profiles: dict[str, FreeProfile],
    first: int,
    horizon: int,
    constrain=lambda sites: sites,
) -> list[Suggestion]:
    """Up to three nearest relaxations that work: fewer resources, shorter, later; each
    keeps the policy's limits (``constrain``, and ``profiles`` already limited) and budget."""
    step = planner.step

    def prepared(relaxed: Request) -> list[Site]:
        sites, _, _ = sites_for(pools=pools, request=relaxed, datasets=datasets, step=step)
        attach_profiles(sites, profiles)
        return constrain(sites)

    def probe(relaxed: Request) -> int | None:
        """The earliest start of ``relaxed`` at any site, without building an offer."""
        begin = ceil_step(relaxed.start_earliest, step)
        starts = [
            earliest_start(site, begin, relaxed.start_latest, relaxed.duration.min, step)
            for site in prepared(relaxed)
        ]
        return min((s for s in starts if s is not None), default=None)

    def longest(relaxed: Request, start: int) -> int:
        """The longest duration of ``relaxed`` that fits at ``start`` at some site."""
        dmin, dmax = relaxed.duration.min, relaxed.duration.max
        return max(
            longest_duration(site, start, dmin, dmax, step)
            for site in prepared(relaxed)
            if earliest_start(site, start, start, dmin, step) is not None
        )

    def offer(relaxed: Request, start: int) -> Offer | None:
        """The first offer of ``relaxed``, whose earliest start is known to be ``start``
        (None if the budget cannot pay for it)."""
        pinned = replace(relaxed, start_earliest=start, start_latest=start)
        found = planner.offers(prepared(pinned), pinned, start, 1)
        return found[0] if found else None

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
    got = offer(later, start) if start is not None else None
    if got is not None:
        message = f"first fit after the window: {iso(got.start)} to {iso(got.end)}"
        found.append(Suggestion("later-start", message, later, got))
    return found


def within_budget(planner: Planner, request: Request, sites: list[Site], profiles) -> list:
    """The request at its minimums and as long as the budget pays for, where the planner
    found the shortfall: "5 h instead of 9 h fits the budget" (none if not even one step
    does)."""
    short = planner.shortfall
    step = planner.step
    start = short.offer.start
    pinned = replace(
        request,
        components=tuple(
            replace(c, amounts={d: Range(r.min, r.min) for d, r in c.amounts.items()})
            for c in request.components
        ),
        start_earliest=start,
        start_latest=start,
    )
    for site in sites:
        site.profiles = [profiles[pool.slug] for pool in site.pools]
    # The longest duration on the grid whose cost at the minimums the budget pays (cost
    # grows with the duration).
    ends = range(start + step, short.offer.end, step)
    lo, hi = 0, len(ends)  # ends[:lo] pay
    while lo < hi:
        mid = (lo + hi) // 2
        cost = offer_cost(_ending(short.offer, ends[mid]), planner.money.rates)
        if cost <= short.left:
            lo = mid + 1
        else:
            hi = mid
    if lo:
        length = ends[lo - 1] - start
        relaxed = replace(pinned, duration=Range(length, length))
        found = planner.offers(sites, relaxed, start, 1)
        if found:
            got = found[0]
            message = (
                f"{hours(length)} instead of {hours(request.duration.min)} at the minimums fits"
                f" the budget: {got.cost:,} SU of {short.left:,} left, from {iso(got.start)}"
            )
            return [Suggestion("within-budget", message, relaxed, got)]
    return []


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
    if got is None:
        return None
    totals = _totals(got)
    granted = ", ".join(f"{value} {dim}" for dim, value in totals.items())
    message = f"available with {granted} ({low}% of the minimum) at {iso(got.start)}"
    return Suggestion("fewer-resources", message, relaxed, got)


def _totals(offer: Offer) -> dict[str, int]:
    """What an offer grants per dimension, over its components (not its datasets)."""
    totals: dict[str, int] = {}
    for grant in offer.grants:
        if not grant.component.startswith("dataset:"):
            for dim, value in grant.amounts.items():
                totals[dim] = totals.get(dim, 0) + value
    return totals


def _shorter_duration(request: Request, probe, longest, offer, step: int) -> Suggestion | None:
    """The earliest start where at least half the minimum duration fits (else a quarter, …),
    for the longest duration that fits there."""
    dmin = request.duration.min
    below = max(step, ceil_step(dmin, step) - step)
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
    if got is None:
        return None
    message = f"{hours(length)} instead of {hours(dmin)} from {iso(got.start)} to {iso(got.end)}"
    return Suggestion("shorter-duration", message, relaxed, got)
