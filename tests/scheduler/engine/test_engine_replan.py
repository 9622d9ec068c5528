"""Re-planning (scheduler.engine.replan): random calendars, a capacity drop, an independent
minute-by-minute oracle; CP-SAT never worse than greedy."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.engine import CapacityChange, Load, Pool
from scheduler.engine.replan import Movable, Part, check, greedy, replan, score

pytestmark = pytest.mark.unit

MIN = 60
HOUR = 3600
DAY = 24 * HOUR
T0 = 1_900_000_000 - 1_900_000_000 % DAY


def pools_with_drop(drop):
    """Two equivalent pools of 8 cores; `drop` = (pool index, start h, hours, cores left)."""
    index, start, hours, left = drop
    changes = {
        index: (CapacityChange(T0 + start * HOUR, T0 + (start + hours) * HOUR, {"cores": left}),)
    }
    return [Pool(f"p{i}", "site", "compute", {"cores": 8}, changes.get(i, ())) for i in range(2)]


lease = st.tuples(
    st.integers(0, 1),  # pool
    st.integers(1, 60),  # start, hours from T0
    st.integers(1, 12),  # hours long
    st.integers(1, 6),  # cores
    st.integers(0, 6),  # may start this many hours earlier
    st.integers(0, 24),  # or later
    st.booleans(),  # may change pool
)


def calendar(leases):
    """Leases booked first come, first served onto 8-core pools (those that fit)."""
    movable, used = [], []
    for n, (pool, start, hours, cores, before, after, switch) in enumerate(leases):
        s, e = T0 + start * HOUR, T0 + (start + hours) * HOUR
        if any(
            sum(c for (p, a, b, c) in used if p == pool and a <= t < b) + cores > 8
            for t in range(s, e, HOUR)
        ):
            continue
        used.append((pool, s, e, cores))
        movable.append(
            Movable(
                str(n),
                (Part(f"p{pool}", s, e, {"cores": cores}, (f"p{1 - pool}",) if switch else ()),),
                preparation_start=s,
                before=before * HOUR,
                after=after * HOUR,
            )
        )
    return movable


def minute_oracle(pools, fixed, movable, placements):
    """Every minute from T0 to four days on: load of kept leases within capacity; every move
    within consent. Written without the engine's code."""
    by_id = {m.id: m for m in movable}
    used = {}
    for p in placements:
        m = by_id[p.id]
        assert -m.before <= p.shift <= m.after, (m, p)
        for part, slug in zip(m.parts, p.pools, strict=True):
            assert slug == part.pool or slug in part.alternatives
            for t in range(part.start + p.shift, part.end + p.shift, MIN):
                used[(slug, t)] = used.get((slug, t), 0) + part.amounts["cores"]
    for f in fixed:
        for t in range(f.start, f.end, MIN):
            used[(f.pool, t)] = used.get((f.pool, t), 0) + f.amounts["cores"]
    for (slug, t), cores in used.items():
        pool = next(p for p in pools if p.slug == slug)
        cap = pool.base["cores"]
        for c in pool.changes:
            if c.start <= t < c.end:
                cap = c.capacity["cores"]
        assert cores <= cap, (slug, t, cores, cap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leases=st.lists(lease, min_size=1, max_size=14),
    drop=st.tuples(st.integers(0, 1), st.integers(0, 48), st.integers(1, 24), st.integers(0, 6)),
    fixed_count=st.integers(0, 2),
)
def test_replan_never_overloads_and_never_worse_than_greedy(leases, drop, fixed_count):
    pools = pools_with_drop(drop)
    booked = calendar(leases)
    # the first few bookings are fixed (started): they stay where they are, as load
    fixed = [
        Load(m.parts[0].pool, m.parts[0].start, m.parts[0].end, m.parts[0].amounts)
        for m in booked[:fixed_count]
    ]
    movable = booked[fixed_count:]
    base = greedy(pools=pools, fixed=fixed, movable=movable, step=MIN, not_before=T0)
    plan = replan(
        pools=pools, fixed=fixed, movable=movable, step=MIN, not_before=T0, stage_seconds=1
    )
    fixed_fits = not any(
        sum(f.amounts["cores"] for f in fixed if f.pool == p.slug and f.start <= t < f.end)
        > min([8, *(c.capacity["cores"] for c in p.changes if c.start <= t < c.end)])
        for p in pools
        for t in range(T0, T0 + 4 * DAY, MIN * 15)
    )
    if fixed_fits:
        minute_oracle(pools, fixed, movable, plan.placements)
        minute_oracle(pools, fixed, movable, base.placements)
    assert not check(
        pools=pools,
        fixed=fixed,
        movable=movable,
        placements=plan.placements,
        step=MIN,
        not_before=T0,
    )
    assert plan.score >= base.score
    assert plan.score == score(movable, plan.placements, MIN)
    assert len(plan.placements) + len(plan.unplaced) == len(movable)


def test_keeps_what_fits_and_moves_the_rest_later_within_consent():
    pools = [
        Pool(
            "a",
            "s",
            "compute",
            {"cores": 4},
            (CapacityChange(T0 + 2 * HOUR, T0 + 4 * HOUR, {"cores": 0}),),
        )
    ]
    untouched = Movable(
        "untouched",
        (Part("a", T0 + 5 * HOUR, T0 + 6 * HOUR, {"cores": 4}),),
        T0 + 5 * HOUR,
        after=DAY,
    )
    hit = Movable(
        "hit", (Part("a", T0 + 3 * HOUR, T0 + 5 * HOUR, {"cores": 2}),), T0 + 3 * HOUR, after=DAY
    )
    stuck = Movable(
        "stuck", (Part("a", T0 + 3 * HOUR, T0 + 4 * HOUR, {"cores": 1}),), T0 + 3 * HOUR
    )
    plan = replan(pools=pools, fixed=[], movable=[untouched, hit, stuck], step=MIN, not_before=T0)
    assert plan.placement("untouched").shift == 0
    # after the maintenance and after "untouched" (which holds all 4 cores 5 h to 6 h)
    assert plan.placement("hit").shift == 3 * HOUR
    assert plan.unplaced == ("stuck",)


def test_moves_earlier_when_later_is_not_allowed():
    pools = [
        Pool(
            "a", "s", "compute", {"cores": 4}, (CapacityChange(T0 + 4 * HOUR, None, {"cores": 0}),)
        )
    ]
    m = Movable(
        "m",
        (Part("a", T0 + 4 * HOUR, T0 + 5 * HOUR, {"cores": 1}),),
        T0 + 4 * HOUR,
        before=6 * HOUR,
    )
    plan = greedy(pools=pools, fixed=[], movable=[m], step=MIN, not_before=T0 + HOUR)
    assert plan.placement("m").shift == -HOUR  # the latest start at or before the old one


def test_never_prepares_before_now():
    pools = [
        Pool(
            "a",
            "s",
            "compute",
            {"cores": 4},
            (CapacityChange(T0 + 2 * HOUR, T0 + 3 * HOUR, {"cores": 0}),),
        )
    ]
    m = Movable(
        "m", (Part("a", T0 + 2 * HOUR, T0 + 3 * HOUR, {"cores": 1}),), T0 + 2 * HOUR, before=DAY
    )
    plan = replan(pools=pools, fixed=[], movable=[m], step=MIN, not_before=T0 + 90 * MIN)
    assert plan.unplaced == ("m",)


def test_changes_pool_when_allowed():
    pools = [
        Pool("a", "s", "compute", {"cores": 4}, (CapacityChange(T0, None, {"cores": 0}),)),
        Pool("b", "s", "compute", {"cores": 4}),
    ]
    m = Movable(
        "m", (Part("a", T0 + HOUR, T0 + 2 * HOUR, {"cores": 2}, ("b",)),), T0 + HOUR, after=DAY
    )
    plan = replan(pools=pools, fixed=[], movable=[m], step=MIN, not_before=T0)
    assert plan.placement("m").pools == ("b",) and plan.placement("m").shift == 0


def test_cp_sat_beats_greedy_by_moving_a_flexible_lease_aside():
    """Greedy keeps "flexible" and so must give up "rigid"; CP-SAT moves "flexible" an hour
    later to make room, placing both."""
    pools = [
        Pool(
            "a",
            "s",
            "compute",
            {"cores": 4},
            (CapacityChange(T0 + 3 * HOUR, T0 + 4 * HOUR, {"cores": 0}),),
        )
    ]
    flexible = Movable(
        "flexible",
        (Part("a", T0 + 2 * HOUR, T0 + 3 * HOUR, {"cores": 4}),),
        T0 + 2 * HOUR,
        after=2 * HOUR,
    )
    rigid = Movable(
        "rigid",
        (Part("a", T0 + 3 * HOUR, T0 + 4 * HOUR, {"cores": 4}),),
        T0 + 3 * HOUR,
        before=HOUR,
    )
    base = greedy(pools=pools, fixed=[], movable=[flexible, rigid], step=MIN, not_before=T0)
    assert base.unplaced == ("rigid",)
    plan = replan(pools=pools, fixed=[], movable=[flexible, rigid], step=MIN, not_before=T0)
    assert plan.method == "cp-sat" and not plan.unplaced
    assert plan.placement("rigid").shift == -HOUR
    assert plan.placement("flexible").shift == 2 * HOUR
    assert plan.stages[0].name == "place the most"
