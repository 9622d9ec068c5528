"""Hypothesis properties of find_offers against an independent brute-force checker.

The checker below shares no code with the engine: it evaluates capacity and load instant by
instant, scans every start on the grid, and tries every assignment of replicas to pools.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.engine import (
    CapacityChange,
    Component,
    Dataset,
    DatasetReplica,
    Load,
    Policy,
    Pool,
    PoolLoad,
    Range,
    Request,
    feasibility,
    find_offers,
    fits,
)

pytestmark = pytest.mark.unit

MINUTE = 60
HOUR = 3600
DIMS = {"compute": ("cores", "memory_gib"), "storage": ("size_gib",), "data": ("readers",)}


# --- the independent checker -------------------------------------------------------------


def capacity_at(pool, dim, t):
    value = pool.base.get(dim, 0)
    for change in pool.changes:
        inside = change.start <= t and (change.end is None or t < change.end)
        if inside and dim in change.capacity:
            value = change.capacity[dim]
    return value


def free_at(pool, loads, dim, t):
    used = sum(
        load.amounts.get(dim, 0)
        for load in loads
        if load.pool == pool.slug and load.start <= t < load.end
    )
    return max(0, capacity_at(pool, dim, t) - used)


def instants(pool, loads, a, b):
    points = {a}
    edges = [x for load in loads if load.pool == pool.slug for x in (load.start, load.end)]
    edges += [x for c in pool.changes for x in (c.start, c.end) if x is not None]
    points.update(x for x in edges if a < x < b)
    return sorted(points)


def lowest_free(pool, loads, dim, a, b):
    return min(free_at(pool, loads, dim, t) for t in instants(pool, loads, a, b))


def round_up(value, step):
    return -(-value // step) * step


def parts_at(site, pools, request, datasets, step):
    """[(label, kind, {dim: (lo, hi)}, [pool slugs])] and staging seconds, or None."""
    here = [p for p in pools if p.site == site]
    parts = []
    for c in request.components:
        slugs = [p.slug for p in here if p.kind == c.kind]
        amounts = {d: (r.min, r.max) for d, r in c.amounts.items()}
        parts += [(c.name, c.kind, amounts, slugs)] * c.replicas
    staging = 0
    by_slug = {d.slug: d for d in datasets}
    for slug in request.datasets:
        dataset = by_slug[slug]
        local = [r for r in dataset.replicas if r.site == site]
        if local:
            if local[0].data_pool is not None:
                parts.append((f"dataset:{slug}", "data", {"readers": (1, 1)}, [local[0].data_pool]))
            continue
        rates = [r.staging_gib_per_hour for r in dataset.replicas if r.staging_gib_per_hour > 0]
        if not rates:
            return None
        staging = max(staging, round_up(math.ceil(dataset.size_gib * 3600 / max(rates)), step))
        storage = [p.slug for p in here if p.kind == "storage"]
        parts.append((f"dataset:{slug}", "storage", {"size_gib": (dataset.size_gib,) * 2}, storage))
    if any(not slugs for *_, slugs in parts):
        return None
    return parts, staging


def room(pools, loads, parts, staging, start, end, not_before=None):
    """Free capacity per pool over its grant interval; -1 where it would start too early."""
    by_slug = {p.slug: p for p in pools}
    used = {s for *_, slugs in parts for s in slugs}
    result = {}
    for s in used:
        pool = by_slug[s]
        begin = start - pool.setup_seconds - staging
        early = not_before is not None and begin < not_before
        result[s] = {
            d: -1 if early else lowest_free(pool, loads, d, begin, end) for d in DIMS[pool.kind]
        }
    return result


def best_fill(entries, budget):
    """Most of sum(a / hi) with sum(extra) <= budget: the smallest maxima first."""
    total = Fraction(0)
    for lo, hi in sorted(entries, key=lambda e: e[1]):
        extra = min(hi - lo, max(budget, 0))
        budget -= extra
        total += Fraction(lo + extra, hi)
    return total


def best_size(parts, free):
    """The largest total (sum of granted / maximum) over all assignments, or None."""
    best = None
    for assignment in itertools.product(*(slugs for *_, slugs in parts)):
        size = Fraction(0)
        for slug in set(assignment):
            here = [parts[i] for i, s in enumerate(assignment) if s == slug]
            for dim, cap in free[slug].items():
                wanted = [amounts[dim] for _, _, amounts, _ in here if dim in amounts]
                if sum(lo for lo, _ in wanted) > cap:
                    break
                spare = cap - sum(lo for lo, _ in wanted)
                size += best_fill([w for w in wanted if w[1] > 0], spare)
            else:
                continue
            break
        else:
            best = size if best is None else max(best, size)
    return best


def sites_of(pools, request):
    names = list(dict.fromkeys(p.site for p in pools))
    return [request.site] if request.site is not None else names


def brute_earliest(pools, loads, request, datasets, step, not_before=None):
    for start in range(round_up(request.start_earliest, step), request.start_latest + 1, step):
        for site in sites_of(pools, request):
            found = parts_at(site, pools, request, datasets, step)
            if found is None:
                continue
            parts, staging = found
            end = start + request.duration.min
            free = room(pools, loads, parts, staging, start, end, not_before)
            if best_size(parts, free) is not None:
                return start
    return None


def offer_size(offer, request, datasets):
    maxima = {c.name: {d: r.max for d, r in c.amounts.items()} for c in request.components}
    total = Fraction(0)
    for grant in offer.grants:
        for dim, value in grant.amounts.items():
            top = maxima.get(grant.component, {}).get(dim, value)
            if top > 0:
                total += Fraction(value, top)
    return total


def check_offer(offer, pools, loads, request, datasets, step, not_before=None):
    by_slug = {p.slug: p for p in pools}
    if not_before is not None:
        assert offer.preparation_start >= not_before
    assert offer.start % step == 0
    assert round_up(request.start_earliest, step) <= offer.start <= request.start_latest
    assert request.duration.min <= offer.end - offer.start <= request.duration.max
    if request.site is not None:
        assert offer.site == request.site
    found = parts_at(offer.site, pools, request, datasets, step)
    assert found is not None
    parts, staging = found
    assert sorted(g.component for g in offer.grants) == sorted(label for label, *_ in parts)
    for label, kind, amounts, slugs in parts:
        grants = [g for g in offer.grants if g.component == label]
        assert sorted(g.replica for g in grants) == list(range(len(grants)))
        for grant in grants:
            assert grant.pool in slugs and by_slug[grant.pool].kind == kind
            assert set(grant.amounts) == set(amounts)
            for dim, (lo, hi) in amounts.items():
                assert lo <= grant.amounts[dim] <= hi
            pool = by_slug[grant.pool]
            assert grant.start == offer.start - pool.setup_seconds - staging
            assert grant.end == offer.end
    assert offer.preparation_start == min(g.start for g in offer.grants)
    for grant in offer.grants:
        pool = by_slug[grant.pool]
        sharing = [g for g in offer.grants if g.pool == grant.pool]
        for t in instants(pool, loads, grant.start, grant.end):
            for dim, value in grant.amounts.items():
                active = sum(g.amounts.get(dim, 0) for g in sharing if g.start <= t < g.end)
                if value > 0:
                    assert active <= free_at(pool, loads, dim, t)


def check_distinct(offers):
    for a, b in itertools.combinations(offers, 2):
        for ga in a.grants:
            for gb in b.grants:
                if ga.pool == gb.pool:
                    assert ga.end <= gb.start or gb.end <= ga.start


def check_first_is_best(offer, pools, loads, request, datasets, step, not_before=None):
    """Longest duration at that start, and the most resources there (over tied sites)."""
    found = parts_at(offer.site, pools, request, datasets, step)
    parts, staging = found
    length = offer.end - offer.start
    if length < request.duration.max:
        next_end = min(offer.start + request.duration.max, (offer.end // step + 1) * step)
        free = room(pools, loads, parts, staging, offer.start, next_end, not_before)
        assert best_size(parts, free) is None
    best = None
    for site in sites_of(pools, request):
        found = parts_at(site, pools, request, datasets, step)
        if found is None:
            continue
        parts, staging = found
        end = offer.start + request.duration.min
        free = room(pools, loads, parts, staging, offer.start, end, not_before)
        if best_size(parts, free) is None:
            continue
        top, bottom = offer.start + request.duration.max, offer.start + request.duration.min
        grid = range((top - 1) // step * step, bottom, -step)
        for end in [top, *grid, bottom]:
            free = room(pools, loads, parts, staging, offer.start, end, not_before)
            size = best_size(parts, free)
            if size is not None:
                best = size if best is None else max(best, size)
                break
    assert offer_size(offer, request, datasets) == best


# --- random small instances --------------------------------------------------------------


@st.composite
def instances(draw):
    step = draw(st.sampled_from([60, 60, 300, 900]))
    site_names = draw(st.sampled_from([["a"], ["a", "b"]]))
    pools = []
    for site in site_names:
        storage = draw(st.sampled_from([0, 1, 1]))
        kinds = ["compute"] * draw(st.integers(1, 3)) + ["storage"] * storage
        for n, kind in enumerate(kinds):
            base = {d: draw(st.integers(0, 12)) for d in DIMS[kind] if draw(st.integers(0, 6))}
            changes = []
            for _ in range(draw(st.integers(0, 2))):
                start = draw(st.integers(-HOUR, 6 * HOUR))
                end = draw(st.one_of(st.none(), st.integers(start + 1, start + 4 * HOUR)))
                dims = draw(st.lists(st.sampled_from(DIMS[kind]), min_size=1, unique=True))
                capacity = {d: draw(st.integers(0, 8)) for d in dims}
                changes.append(CapacityChange(start, end, capacity))
            setup = draw(st.sampled_from([0, 0, 30, 120, 600]))
            pools.append(Pool(f"{site}{n}", site, kind, base, tuple(changes), setup))
    datasets = ()
    request_datasets = ()
    if draw(st.booleans()):
        holder = site_names[0]
        data_pool = None
        if draw(st.booleans()):
            data_pool = f"{holder}-data"
            pools.append(Pool(data_pool, holder, "data", {"readers": draw(st.integers(0, 2))}))
        rate = draw(st.sampled_from([0.0, 5.0, 20.0]))
        replica = DatasetReplica(holder, rate, data_pool)
        datasets = (Dataset("ds", draw(st.integers(1, 6)), (replica,)),)
        request_datasets = ("ds",)
    loads = []
    for _ in range(draw(st.integers(0, 10))):
        pool = draw(st.sampled_from(pools))
        start = draw(st.integers(-2 * HOUR, 7 * HOUR))
        end = start + draw(st.integers(1, 4 * HOUR))
        amounts = {d: draw(st.integers(0, 5)) for d in DIMS[pool.kind]}
        loads.append(Load(pool.slug, start, end, amounts))
    components = []
    for n in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["compute", "compute", "compute", "storage"]))
        dims = draw(st.lists(st.sampled_from(DIMS[kind]), min_size=1, unique=True))
        amounts = {}
        for dim in dims:
            lo = draw(st.integers(0, 4))
            amounts[dim] = Range(lo, lo + draw(st.integers(0, 3)))
        components.append(Component(f"c{n}", kind, amounts, draw(st.sampled_from([1, 1, 2, 3]))))
    dmin = draw(st.integers(1, 120)) * MINUTE + draw(st.sampled_from([0, 0, 17]))
    duration = Range(dmin, dmin + draw(st.sampled_from([0, 0, 30 * MINUTE, 2 * HOUR + 7])))
    earliest = draw(st.integers(-HOUR, 3 * HOUR))
    latest = earliest + draw(st.sampled_from([0, HOUR // 2, HOUR, 2 * HOUR, 3 * HOUR]))
    request = Request(
        components=tuple(components),
        duration=duration,
        start_earliest=earliest,
        start_latest=latest,
        datasets=request_datasets,
        site=draw(st.sampled_from([None, None, site_names[-1]])),
        max_offers=draw(st.sampled_from([1, 3, 4, 4])),
    )
    not_before = draw(st.sampled_from([None, None, earliest, earliest - 300]))
    policy = Policy(
        step=step, solver_time_limit=5.0, horizon_after_window=6 * HOUR, not_before=not_before
    )
    return pools, loads, request, datasets, policy


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_offers_agree_with_brute_force(instance):
    pools, loads, request, datasets, policy = instance
    answer = find_offers(pools=pools, load=loads, request=request, datasets=datasets, policy=policy)
    now = policy.not_before
    earliest = brute_earliest(pools, loads, request, datasets, policy.step, now)
    if earliest is None:
        assert answer.result == "NO"
        assert answer.offers == ()
        assert answer.reasons
        return
    assert answer.result == "YES"
    assert answer.offers[0].start == earliest
    assert 1 <= len(answer.offers) <= request.max_offers
    for offer in answer.offers:
        check_offer(offer, pools, loads, request, datasets, policy.step, now)
        assert fits(pools=pools, load=loads, offer=offer)
    check_distinct(answer.offers)
    keys = [(o.start, -offer_size(o, request, datasets), -(o.end - o.start)) for o in answer.offers]
    assert keys == sorted(keys)
    check_first_is_best(answer.offers[0], pools, loads, request, datasets, policy.step, now)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_suggestions_are_offers_of_their_relaxed_requests(instance):
    pools, loads, request, datasets, policy = instance
    answer = find_offers(pools=pools, load=loads, request=request, datasets=datasets, policy=policy)
    if answer.result == "YES":
        return
    assert len(answer.suggestions) <= 3
    assert len({s.kind for s in answer.suggestions}) == len(answer.suggestions)
    for suggestion in answer.suggestions:
        relaxed = suggestion.request
        check_offer(
            suggestion.offer, pools, loads, relaxed, datasets, policy.step, policy.not_before
        )
        again = find_offers(
            pools=pools,
            load=loads,
            request=Request(**{**relaxed.__dict__, "max_offers": 1}),
            datasets=datasets,
            policy=policy,
        )
        assert again.offers == (suggestion.offer,)
        if suggestion.kind == "later-start":
            assert suggestion.offer.start > request.start_latest
        else:
            assert suggestion.offer.start <= request.start_latest


def as_columns(loads, split):
    """The same load with each pool's list cut in two at a point `split` picks; by `split % 3`
    the parts become one PoolLoad, two PoolLoads, or a PoolLoad and plain Loads."""

    def block(slug, part):
        dims = sorted({d for load in part for d in load.amounts})
        return PoolLoad(
            pool=slug,
            starts=np.array([load.start for load in part], dtype=np.int64),
            ends=np.array([load.end for load in part], dtype=np.int64),
            amounts={
                d: np.array([load.amounts.get(d, 0) for load in part], dtype=np.int64) for d in dims
            },
        )

    by_pool = {}
    for load in loads:
        by_pool.setdefault(load.pool, []).append(load)
    result = []
    for slug, items in by_pool.items():
        cut = split % (len(items) + 1)
        head, tail = items[:cut], items[cut:]
        mode = split % 3
        if mode == 0:
            result.append(block(slug, items))
        elif mode == 1:
            result += [block(slug, part) for part in (head, tail) if part]
        else:
            result += [block(slug, head)] if head else []
            result += tail
    return result


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(min_value=0, max_value=1000))
def test_columns_give_the_same_answer_as_loads(instance, split):
    """find_offers on PoolLoad columns (what the service's load copy passes) answers exactly
    as on the equivalent list of Loads, mixed or not."""
    pools, loads, request, datasets, policy = instance
    expected = find_offers(
        pools=pools, load=loads, request=request, datasets=datasets, policy=policy
    )
    answer = find_offers(
        pools=pools,
        load=as_columns(loads, split),
        request=request,
        datasets=datasets,
        policy=policy,
    )
    assert answer == expected


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_stacked_queries_answer_as_per_pool_ones(instance):
    """With every group of pools stacked (``STACK_MIN_POOLS`` = 1; the instances here have
    fewer pools than the default threshold), the answers are exactly those of the per-pool
    queries, and so keep every property checked above."""
    pools, loads, request, datasets, policy = instance
    expected = find_offers(
        pools=pools, load=loads, request=request, datasets=datasets, policy=policy
    )
    default = feasibility.STACK_MIN_POOLS
    feasibility.STACK_MIN_POOLS = 1
    try:
        answer = find_offers(
            pools=pools, load=loads, request=request, datasets=datasets, policy=policy
        )
    finally:
        feasibility.STACK_MIN_POOLS = default
    assert answer == expected
