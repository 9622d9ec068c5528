"""``find_offers``: the sweep over candidate starts, packing, distinct offers, NO answers.

See the package docstring for the offer semantics this module keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .explanations import diagnose, suggest, within_budget
from .limits import constrain_profiles, constrain_sites
from .model import (
    NO,
    YES,
    Answer,
    Dataset,
    Load,
    Policy,
    Pool,
    PoolLoad,
    Reason,
    Request,
    validate,
)
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
    """Up to K ranked, distinct offers for ``request``, or NO with reasons and suggestions.

    The policy's ``limits`` and ``budget`` are constraints: every offer and suggestion keeps
    them, and a NO they cause names them (a Reason of the limit's kind, "policy" or
    "budget"): those limits that, lifted alone, would let the request fit."""
    validate(pools=pools, request=request, policy=policy)
    return _answer(pools, load, request, datasets, policy, explain=True)


def _answer(pools, load, request, datasets, policy: Policy, *, explain: bool) -> Answer:
    step = policy.step
    first = ceil_step(request.start_earliest, step)
    sites, excluded, dims = sites_for(pools=pools, request=request, datasets=datasets, step=step)
    if not sites:
        return Answer(result=NO, offers=(), reasons=tuple(_dedupe(excluded)))
    constrain_sites(sites, policy.limits)
    site_of = {pool.slug: site.name for site in sites for pool in site.pools}
    lo = first - max(max(site.prep) for site in sites)
    planner = Planner(policy=policy, budget=policy.solver_time_limit)
    hi = max(first, request.start_latest) + request.duration.max
    # one pass over the load, kept for the horizon a NO answer looks into
    loads = loads_by_pool(sites, load, lo, hi + policy.horizon_after_window)
    plain = pool_profiles(sites, dims, loads, lo, hi, policy.not_before)
    profiles = constrain_profiles(plain, site_of, policy.limits)
    attach_profiles(sites, profiles)
    if first <= request.start_latest:
        k = min(request.max_offers, policy.max_offers)
        offers = planner.offers(sites, request, first, k)
        if offers:
            return Answer(result=YES, offers=tuple(offers))
    if not explain:
        return Answer(result=NO, offers=())
    reasons = _limit_reasons(pools, load, request, datasets, policy, planner)
    if not any(r.kind in ("policy", "budget") for r in reasons):
        attach_profiles(sites, plain)
        reasons += diagnose(planner, sites, request, first, dims, lo, hi, policy.not_before)
    later = pool_profiles(sites, dims, loads, hi, hi + policy.horizon_after_window, None)
    profiles = {slug: profile.joined(later[slug]) for slug, profile in plain.items()}
    profiles = constrain_profiles(profiles, site_of, policy.limits)
    suggestions = []
    if planner.shortfall is not None:
        suggestions += within_budget(planner, request, sites, profiles)
    suggestions += suggest(
        planner=planner,
        pools=pools,
        request=request,
        datasets=datasets,
        profiles=profiles,
        first=first,
        horizon=policy.horizon_after_window,
        constrain=lambda found: constrain_sites(found, policy.limits),
    )
    return Answer(result=NO, offers=(), reasons=tuple(reasons), suggestions=tuple(suggestions))


def _limit_reasons(pools, load, request, datasets, policy: Policy, planner) -> list[Reason]:
    """The policy limits and the budget that keep ``request`` from fitting: each one that,
    lifted alone, lets it fit; all of them if only lifting them all does."""
    if not policy.limits and planner.shortfall is None:
        return []

    def fits(lifted: Policy) -> bool:
        return _answer(pools, load, request, datasets, lifted, explain=False).result == YES

    reasons = []
    if planner.shortfall is not None:
        short = planner.shortfall
        reasons.append(
            Reason("budget", None, None, f"needs {short.need:,} SU, {short.left:,} left")
        )
    for i, limit in enumerate(policy.limits):
        others = policy.limits[:i] + policy.limits[i + 1 :]
        if fits(replace(policy, limits=others, budget=_priced(policy))):
            reasons.append(Reason(limit.kind, None, None, limit.message))
    lifting_all = len(reasons) == (planner.shortfall is not None) and policy.limits
    if lifting_all and fits(replace(policy, limits=(), budget=_priced(policy))):
        reasons += [Reason(limit.kind, None, None, limit.message) for limit in policy.limits]
    return _dedupe(reasons)


def _priced(policy: Policy):
    """The policy's budget without its limit (the limits are tried apart from the money)."""
    return replace(policy.budget, remaining=None, by_site={}) if policy.budget is not None else None


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    return list(dict.fromkeys(reasons))
