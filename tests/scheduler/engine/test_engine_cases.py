"""Hand-computed cases: NO reasons, the three suggestions, staging, distinctness, overload."""

import pytest

from scheduler.engine import (
    CapacityChange,
    Component,
    Dataset,
    DatasetReplica,
    Grant,
    Load,
    Offer,
    Policy,
    Pool,
    Range,
    Reason,
    Request,
    find_offers,
    fits,
    free_profile,
)

pytestmark = pytest.mark.unit

T = 1_796_083_200  # 2026-12-01T00:00:00Z
HOUR = 3600
POOL = Pool("p", "a", "compute", {"cores": 8, "memory_gib": 32})


def job(cores: Range, hours: int = 3, earliest: int = T, latest: int = T + 5 * HOUR, **extra):
    return Request(
        components=(Component("job", "compute", {"cores": cores}),),
        duration=Range(hours * HOUR, hours * HOUR),
        start_earliest=earliest,
        start_latest=latest,
        **extra,
    )


def test_busy_pool_gives_reason_and_all_three_suggestions():
    # 8 cores free until 02:00, then 6 of 8 taken until 12:00
    load = [Load("p", T + 2 * HOUR, T + 12 * HOUR, {"cores": 6})]

    answer = find_offers(pools=[POOL], load=load, request=job(Range(8, 8)))

    assert answer.result == "NO"
    assert answer.offers == ()
    assert [(r.kind, r.component, r.dimension) for r in answer.reasons] == [
        ("busy", "job", "cores")
    ]
    fewer, shorter, later = answer.suggestions
    assert fewer.kind == "fewer-resources"
    assert fewer.request == job(Range(2, 8))  # 25 % of the minimum is all that fits
    assert fewer.offer == Offer(
        "a", T, T + 3 * HOUR, T, (Grant("job", 0, "p", {"cores": 2}, T, T + 3 * HOUR),)
    )
    assert fewer.message == "available with 2 cores (25% of the minimum) at 2026-12-01T00:00:00Z"
    assert shorter.kind == "shorter-duration"
    assert shorter.request.duration == Range(2 * HOUR, 2 * HOUR)
    assert shorter.offer == Offer(
        "a", T, T + 2 * HOUR, T, (Grant("job", 0, "p", {"cores": 8}, T, T + 2 * HOUR),)
    )
    assert later.kind == "later-start"
    assert later.request.start_earliest == T + 5 * HOUR + 60
    start = T + 12 * HOUR
    assert later.offer == Offer(
        "a",
        start,
        start + 3 * HOUR,
        start,
        (Grant("job", 0, "p", {"cores": 8}, start, start + 3 * HOUR),),
    )
    assert (
        later.message == "first fit after the window: 2026-12-01T12:00:00Z to 2026-12-01T15:00:00Z"
    )


def test_too_big_for_any_pool_is_insufficient_capacity():
    answer = find_offers(pools=[POOL], load=[], request=job(Range(9, 12)))

    assert answer.result == "NO"
    assert [(r.kind, r.component, r.dimension) for r in answer.reasons] == [
        ("insufficient-capacity", "job", "cores")
    ]
    assert [s.kind for s in answer.suggestions] == ["fewer-resources"]
    assert answer.suggestions[0].offer.grants[0].amounts == {"cores": 8}


def test_maintenance_over_the_whole_window_is_insufficient_capacity():
    down = CapacityChange(T - HOUR, T + 10 * HOUR, {"cores": 0})
    pool = Pool("p", "a", "compute", {"cores": 8}, changes=(down,))

    answer = find_offers(pools=[pool], load=[], request=job(Range(1, 1)))

    assert [(r.kind, r.dimension) for r in answer.reasons] == [("insufficient-capacity", "cores")]
    assert [(s.kind, s.offer.start) for s in answer.suggestions] == [("later-start", T + 10 * HOUR)]


def test_unknown_site_kind_dataset_and_empty_window():
    assert find_offers(pools=[POOL], load=[], request=job(Range(1, 1), site="x")).reasons == (
        Reason("no-site", None, None, "there is no pool at site 'x'"),
    )
    gpu = Request(
        components=(Component("render", "gpu-box", {"gpus": Range(1, 1)}),),
        duration=Range(HOUR, HOUR),
        start_earliest=T,
        start_latest=T,
    )
    answer = find_offers(pools=[POOL], load=[], request=gpu)
    assert [(r.kind, r.component) for r in answer.reasons] == [("no-eligible-pool", "render")]
    answer = find_offers(pools=[POOL], load=[], request=job(Range(1, 1), datasets=("dr9",)))
    assert [(r.kind, r.component) for r in answer.reasons] == [("dataset", "dataset:dr9")]
    # 00:00:30 .. 00:00:50 holds no whole minute
    answer = find_offers(
        pools=[POOL], load=[], request=job(Range(1, 1), earliest=T + 30, latest=T + 50)
    )
    assert [r.kind for r in answer.reasons] == ["window"]
    assert [(s.kind, s.offer.start) for s in answer.suggestions] == [("later-start", T + 60)]


def test_parts_that_fit_alone_but_not_together_is_packing():
    pools = [Pool("p1", "a", "compute", {"cores": 8}), Pool("p2", "a", "compute", {"cores": 8})]
    request = Request(
        components=(
            Component("big", "compute", {"cores": Range(6, 6)}),
            Component("small", "compute", {"cores": Range(3, 3)}, replicas=3),
        ),
        duration=Range(HOUR, HOUR),
        start_earliest=T,
        start_latest=T,
    )

    answer = find_offers(pools=pools, load=[], request=request)

    assert [(r.kind, r.component) for r in answer.reasons] == [("packing", None)]


def test_staging_adds_preparation_and_a_copy_on_storage():
    pools = [
        Pool("b-cpu", "b", "compute", {"cores": 8}, setup_seconds=120),
        Pool("b-disk", "b", "storage", {"size_gib": 100}),
    ]
    datasets = [Dataset("dr3", 50, [DatasetReplica("a", 40.0)])]  # 1.25 h to copy

    answer = find_offers(
        pools=pools,
        load=[],
        request=job(Range(4, 4), hours=1, earliest=T + 30, datasets=("dr3",), max_offers=1),
        datasets=datasets,
    )

    start, staging = T + 60, 4500
    assert answer.offers == (
        Offer(
            "b",
            start,
            start + HOUR,
            start - staging - 120,
            (
                Grant("job", 0, "b-cpu", {"cores": 4}, start - staging - 120, start + HOUR),
                Grant("dataset:dr3", 0, "b-disk", {"size_gib": 50}, start - staging, start + HOUR),
            ),
        ),
    )


def test_not_before_keeps_preparation_out_of_the_past():
    pools = [Pool("p", "a", "compute", {"cores": 8}, setup_seconds=600)]

    answer = find_offers(
        pools=pools,
        load=[],
        request=job(Range(1, 1), max_offers=1),
        policy=Policy(not_before=T),
    )

    assert [(o.start - T, o.preparation_start - T) for o in answer.offers] == [(600, 0)]


def test_a_replica_site_needs_a_reader_and_no_staging():
    pools = [
        Pool("a-cpu", "a", "compute", {"cores": 8}),
        Pool("a-data", "a", "data", {"readers": 1}),
        Pool("b-cpu", "b", "compute", {"cores": 8}),
        Pool("b-disk", "b", "storage", {"size_gib": 100}),
    ]
    datasets = [Dataset("dr3", 50, [DatasetReplica("a", 40.0, "a-data")])]
    load = [Load("a-data", T, T + 4 * HOUR, {"readers": 1})]

    answer = find_offers(
        pools=pools,
        load=load,
        request=job(Range(4, 4), hours=1, datasets=("dr3",), max_offers=3),
        datasets=datasets,
    )

    # b stages for 1.25 h before each start (preparation may precede the window); a waits
    # for its only reader
    assert [(o.site, o.start - T, o.preparation_start - T) for o in answer.offers] == [
        ("b", 0, -4500),
        ("b", 8100, 3600),
        ("a", 4 * HOUR, 4 * HOUR),
    ]
    assert answer.offers[2].grants[1] == Grant(
        "dataset:dr3", 0, "a-data", {"readers": 1}, T + 4 * HOUR, T + 5 * HOUR
    )


def test_offers_are_distinct_even_when_a_pool_could_hold_two():
    request = job(Range(4, 4), hours=2, latest=T + 10 * HOUR, max_offers=3)

    answer = find_offers(pools=[POOL], load=[], request=request)

    assert [(o.start - T, o.end - T) for o in answer.offers] == [
        (0, 2 * HOUR),
        (2 * HOUR, 4 * HOUR),
        (4 * HOUR, 6 * HOUR),
    ]


def test_ranges_grant_the_most_and_rank_earliest_then_larger():
    pools = [
        Pool("small", "a", "compute", {"cores": 4}),
        Pool("large", "a", "compute", {"cores": 16}),
    ]
    request = Request(
        components=(Component("job", "compute", {"cores": Range(2, 12)}),),
        duration=Range(HOUR, 3 * HOUR),
        start_earliest=T,
        start_latest=T,
        max_offers=2,
    )
    load = [Load("large", T + 2 * HOUR, T + 9 * HOUR, {"cores": 16})]

    answer = find_offers(pools=pools, load=load, request=request)

    assert [(o.grants[0].pool, o.grants[0].amounts["cores"], o.end - T) for o in answer.offers] == [
        ("large", 12, 2 * HOUR),  # more resources first, though shorter
        ("small", 4, 3 * HOUR),
    ]


def test_overloaded_past_and_present_only_remove_room():
    pools = [Pool("p1", "a", "compute", {"cores": 8}), Pool("p2", "a", "compute", {"cores": 8})]
    load = [
        Load("p1", T - 10 * HOUR, T + HOUR, {"cores": 20}),  # far above capacity
        Load("p2", T - 10 * HOUR, T - 5 * HOUR, {"cores": 30}),
        Load("p2", T, T + 2 * HOUR, {"cores": 9}),
    ]
    request = Request(
        components=(Component("w", "compute", {"cores": Range(2, 4)}, replicas=3),),
        duration=Range(HOUR, HOUR),
        start_earliest=T - 8 * HOUR,
        start_latest=T + 5 * HOUR,
        max_offers=2,
    )

    answer = find_offers(pools=pools, load=load, request=request)

    # p2 has room for 3 workers until 00:00 (minus the hour), p1 only from 01:00
    assert [(o.start - T, sorted(g.pool for g in o.grants)) for o in answer.offers] == [
        (-5 * HOUR, ["p2", "p2", "p2"]),
        (-4 * HOUR, ["p2", "p2", "p2"]),
    ]
    assert all(fits(pools=pools, load=load, offer=o) for o in answer.offers)
    assert free_profile(pool=pools[1], load=load, start=T - 6 * HOUR, end=T + 3 * HOUR) == [
        (T - 6 * HOUR, T - 5 * HOUR, {"cores": 0}),
        (T - 5 * HOUR, T, {"cores": 8}),
        (T, T + 2 * HOUR, {"cores": 0}),
        (T + 2 * HOUR, T + 3 * HOUR, {"cores": 8}),
    ]


def test_fits_rechecks_against_new_load():
    answer = find_offers(pools=[POOL], load=[], request=job(Range(6, 6), max_offers=1))
    (offer,) = answer.offers

    assert fits(pools=[POOL], load=[], offer=offer)
    assert fits(pools=[POOL], load=[Load("p", T, T + HOUR, {"cores": 2})], offer=offer)
    assert not fits(pools=[POOL], load=[Load("p", T, T + HOUR, {"cores": 3})], offer=offer)
    assert not fits(pools=[], load=[], offer=offer)


def test_free_profile_reports_every_listed_dimension_with_changes():
    pool = Pool(
        "p",
        "a",
        "compute",
        {"cores": 8},
        changes=(CapacityChange(T + HOUR, None, {"memory_gib": 64}),),
    )
    load = [
        Load("p", T, T + 2 * HOUR, {"cores": 3, "memory_gib": 10}),
        Load("q", T, T + HOUR, {"cores": 8}),
    ]

    assert free_profile(pool=pool, load=load, start=T, end=T + 3 * HOUR) == [
        (T, T + HOUR, {"cores": 5, "memory_gib": 0}),
        (T + HOUR, T + 2 * HOUR, {"cores": 5, "memory_gib": 54}),
        (T + 2 * HOUR, T + 3 * HOUR, {"cores": 8, "memory_gib": 64}),
    ]


def test_malformed_input_raises():
    with pytest.raises(ValueError, match="min <= max"):
        find_offers(pools=[POOL], load=[], request=job(Range(4, 2)))
    with pytest.raises(ValueError, match="step"):
        find_offers(pools=[POOL], load=[], request=job(Range(1, 1)), policy=Policy(step=0))
