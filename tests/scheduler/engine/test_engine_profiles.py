"""build_profiles (all pools of a kind in one pass of array operations; build_profile is it
for one pool) against an instant-by-instant brute force, and Stack against the per-profile
queries."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.engine import CapacityChange, Load, Pool
from scheduler.engine.profile import Stack, build_profile, build_profiles

pytestmark = pytest.mark.unit

DIMS = ("cores", "memory_gib")
times = st.integers(min_value=-50, max_value=150)


@st.composite
def changes(draw):
    start = draw(times)
    end = draw(st.one_of(st.none(), st.integers(min_value=start + 1, max_value=200)))
    capacity = draw(st.dictionaries(st.sampled_from(DIMS), st.integers(min_value=0, max_value=20)))
    return CapacityChange(start=start, end=end, capacity=capacity)


@st.composite
def pools_and_loads(draw):
    count = draw(st.integers(min_value=1, max_value=5))
    pools = [
        Pool(
            slug=f"p{i}",
            site="s",
            kind="compute",
            base={d: draw(st.integers(min_value=0, max_value=20)) for d in DIMS},
            changes=tuple(sorted(draw(st.lists(changes(), max_size=3)), key=lambda c: c.start)),
        )
        for i in range(count)
    ]
    loads = []
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        start = draw(times)
        loads.append(
            Load(
                pool=f"p{draw(st.integers(min_value=0, max_value=count - 1))}",
                start=start,
                end=draw(st.integers(min_value=start - 5, max_value=start + 60)),
                amounts={d: draw(st.integers(min_value=0, max_value=12)) for d in DIMS[:2]},
            )
        )
    lo = draw(st.integers(min_value=-20, max_value=80))
    hi = draw(st.integers(min_value=lo + 1, max_value=lo + 120))
    return pools, loads, lo, hi


def capacity_at(pool, dim, t):
    value = pool.base.get(dim, 0)
    for change in pool.changes:  # in start order: a later change wins
        if dim in change.capacity and change.start <= t and (change.end is None or t < change.end):
            value = change.capacity[dim]
    return value


def free_at(pool, loads, dim, t, clamp):
    used = sum(x.amounts.get(dim, 0) for x in loads if x.start <= t < x.end)
    free = capacity_at(pool, dim, t) - used
    return max(free, 0) if clamp else free


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools_and_loads(), st.booleans())
def test_profiles_equal_the_brute_force_at_every_instant(case, clamp):
    """Every integer instant of [lo, hi) has the free amount of its segment; segments are
    merged (neighbours differ) and cover [lo, hi) exactly."""
    pools, loads, lo, hi = case
    by_pool = {p.slug: [load for load in loads if load.pool == p.slug] for p in pools}
    profiles = build_profiles(pools=pools, loads=by_pool, lo=lo, hi=hi, dims=DIMS, clamp=clamp)
    for pool, profile in zip(pools, profiles, strict=True):
        times = profile.times.tolist()
        assert times[0] == lo and times[-1] == hi and times == sorted(set(times))
        for k in range(len(times) - 1):
            for t in range(times[k], times[k + 1]):
                expected = [free_at(pool, by_pool[pool.slug], d, t, clamp) for d in DIMS]
                assert profile.free[:, k].tolist() == expected, (pool.slug, t)
            if k:
                assert profile.free[:, k].tolist() != profile.free[:, k - 1].tolist()
        alone = build_profile(
            pool=pool, loads=by_pool[pool.slug], lo=lo, hi=hi, dims=DIMS, clamp=clamp
        )
        assert np.array_equal(alone.times, profile.times)
        assert np.array_equal(alone.free, profile.free)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools_and_loads(), st.data())
def test_a_stack_answers_as_its_profiles_do(case, data):
    """Stack.window_min and Stack.rises equal the per-profile queries, blocked spans (-1)
    included."""
    pools, loads, lo, hi = case
    by_pool = {p.slug: [load for load in loads if load.pool == p.slug] for p in pools}
    profiles = build_profiles(pools=pools, loads=by_pool, lo=lo, hi=hi, dims=DIMS)
    for k, profile in enumerate(profiles):
        if data.draw(st.booleans()):
            a = data.draw(st.integers(min_value=lo - 5, max_value=hi))
            profiles[k] = profile.blocked(a, data.draw(st.integers(min_value=a, max_value=hi + 5)))
    stack = Stack(profiles)

    times, owner = stack.rises()
    for k, profile in enumerate(profiles):
        assert np.array_equal(times[owner == k], profile.rises(lo - 1, hi))

    candidates = data.draw(st.integers(min_value=1, max_value=6))
    starts = np.array(
        [
            sorted(
                data.draw(st.integers(min_value=lo, max_value=hi - 1)) for _ in range(candidates)
            )
            for _ in profiles
        ],
        dtype=np.int64,
    )
    length = data.draw(st.integers(min_value=1, max_value=hi - lo))
    ends = np.minimum(starts + length, hi)
    found = stack.window_min(starts, ends)
    for k, profile in enumerate(profiles):
        assert np.array_equal(found[:, k, :], profile.window_min(starts[k], ends[k]))
