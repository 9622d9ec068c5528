"""``find_offers``: the sweep over candidate starts, packing, distinct offers, NO answers.

See the package docstring for the offer semantics this module keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

from .explanations import diagnose, suggest
from .model import NO, YES, Answer, Dataset, Load, Policy, Pool, PoolLoad, Reason, Request, validate
from .planner import Planner
from .sites import attach_profiles, loads_by_pool, pool_profiles, sites_for
from .times import ceil_step

DEFAULT_POLICY = Policy()


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
    first = ceil_step(request.start_earliest, step)
    sites, excluded, dims = sites_for(pools=pools, request=request, datasets=datasets, step=step)
    if not sites:
        return Answer(result=NO, offers=(), reasons=tuple(_dedupe(excluded)))
    lo = first - max(max(site.prep) for site in sites)
    planner = Planner(policy=policy, budget=policy.solver_time_limit)
    hi = max(first, request.start_latest) + request.duration.max
    # one pass over the load, kept for the horizon a NO answer looks into
    loads = loads_by_pool(sites, load, lo, hi + policy.horizon_after_window)
    profiles = pool_profiles(sites, dims, loads, lo, hi, policy.not_before)
    attach_profiles(sites, profiles)
    if first <= request.start_latest:
        k = min(request.max_offers, policy.max_offers)
        offers = planner.offers(sites, request, first, k)
        if offers:
            return Answer(result=YES, offers=tuple(offers))
    reasons = diagnose(planner, sites, request, first, dims, lo, hi, policy.not_before)
    later = pool_profiles(sites, dims, loads, hi, hi + policy.horizon_after_window, None)
    profiles = {slug: profile.joined(later[slug]) for slug, profile in profiles.items()}
    suggestions = suggest(
        planner=planner,
        pools=pools,
        request=request,
        datasets=datasets,
        profiles=profiles,
        first=first,
        horizon=policy.horizon_after_window,
    )
    return Answer(result=NO, offers=(), reasons=tuple(reasons), suggestions=tuple(suggestions))


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    return list(dict.fromkeys(reasons))
