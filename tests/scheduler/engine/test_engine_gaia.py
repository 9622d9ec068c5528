"""The Gaia DMP case: a head, six workers and 2 TiB scratch for 9 h, reading gaia-dr3.

Site edi holds the dataset (with a two-reader data pool) and is busy: the head pool is taken
until 14:00 on 1 Dec, a worker pool is in maintenance 08:00-20:00 that day, another half
taken until 13:00, a third half taken 16:00-20:00 on 2 Dec. Site cam has one big pool but no
copy of the dataset (7.4 h of staging) and is taken until midnight. Each worker pool fits two
workers by memory, so edi needs all three worker pools.
"""

from datetime import UTC, datetime

import pytest

from scheduler.engine import (
    CapacityChange,
    Component,
    Dataset,
    DatasetReplica,
    Grant,
    Load,
    Offer,
    Pool,
    Range,
    Request,
    find_offers,
    fits,
)

pytestmark = pytest.mark.unit

HOUR = 3600


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


POOLS = [
    Pool("edi-head", "edi", "compute", {"cores": 54, "memory_gib": 86}, setup_seconds=300),
    Pool("edi-workers-1", "edi", "compute", {"cores": 52, "memory_gib": 86}, setup_seconds=300),
    Pool(
        "edi-workers-2",
        "edi",
        "compute",
        {"cores": 52, "memory_gib": 86},
        changes=(
            CapacityChange(
                at("2026-12-01T08:00"), at("2026-12-01T20:00"), {"cores": 0, "memory_gib": 0}
            ),
        ),
        setup_seconds=300,
    ),
    Pool("edi-workers-3", "edi", "compute", {"cores": 52, "memory_gib": 86}, setup_seconds=300),
    Pool("edi-scratch", "edi", "storage", {"size_gib": 4000}),
    Pool("edi-data", "edi", "data", {"readers": 2}),
    Pool("cam-big", "cam", "compute", {"cores": 208, "memory_gib": 384}),
    Pool("cam-scratch", "cam", "storage", {"size_gib": 10000}),
]

WORKER = {"cores": 26, "memory_gib": 43}

LOAD = [
    Load(
        "edi-head", at("2026-12-01T06:00"), at("2026-12-01T14:00"), {"cores": 54, "memory_gib": 86}
    ),
    Load("edi-workers-1", at("2026-12-01T00:00"), at("2026-12-01T13:00"), WORKER),
    Load("edi-workers-3", at("2026-12-02T16:00"), at("2026-12-02T20:00"), WORKER),
    Load("edi-scratch", at("2026-11-28T00:00"), at("2026-12-08T00:00"), {"size_gib": 1000}),
    Load("edi-data", at("2026-12-01T00:00"), at("2026-12-02T00:00"), {"readers": 1}),
    Load(
        "cam-big", at("2026-11-30T00:00"), at("2026-12-02T00:00"), {"cores": 200, "memory_gib": 0}
    ),
]

DATASETS = [Dataset("gaia-dr3", 3700, [DatasetReplica("edi", 500.0, "edi-data")])]

REQUEST = Request(
    components=(
        Component("head", "compute", {"cores": Range(54, 54), "memory_gib": Range(86, 86)}),
        Component(
            "workers",
            "compute",
            {"cores": Range(13, 26), "memory_gib": Range(43, 43)},
            replicas=6,
        ),
        Component("scratch", "storage", {"size_gib": Range(2000, 2000)}),
    ),
    duration=Range(9 * HOUR, 9 * HOUR),
    start_earliest=at("2026-12-01T08:00"),
    start_latest=at("2026-12-04T00:00"),
    datasets=("gaia-dr3",),
    max_offers=4,
)


def edi_offer(start: str) -> Offer:
    begin = at(start)
    end = begin + 9 * HOUR
    pools = ["edi-workers-1"] * 2 + ["edi-workers-2"] * 2 + ["edi-workers-3"] * 2
    return Offer(
        site="edi",
        start=begin,
        end=end,
        preparation_start=begin - 300,
        grants=(
            Grant("head", 0, "edi-head", {"cores": 54, "memory_gib": 86}, begin - 300, end),
            *(Grant("workers", r, pool, WORKER, begin - 300, end) for r, pool in enumerate(pools)),
            Grant("scratch", 0, "edi-scratch", {"size_gib": 2000}, begin, end),
            Grant("dataset:gaia-dr3", 0, "edi-data", {"readers": 1}, begin, end),
        ),
    )


def cam_offer(start: str) -> Offer:
    begin = at(start)
    end = begin + 9 * HOUR
    staged = begin - 26640  # 3700 GiB at 500 GiB/h = 7.4 h
    cores = [26, 26, 26, 26, 25, 25]  # 208 - 54 = 154 cores shared evenly, most first
    return Offer(
        site="cam",
        start=begin,
        end=end,
        preparation_start=staged,
        grants=(
            Grant("head", 0, "cam-big", {"cores": 54, "memory_gib": 86}, staged, end),
            *(
                Grant("workers", r, "cam-big", {"cores": c, "memory_gib": 43}, staged, end)
                for r, c in enumerate(cores)
            ),
            Grant("scratch", 0, "cam-scratch", {"size_gib": 2000}, staged, end),
            Grant("dataset:gaia-dr3", 0, "cam-scratch", {"size_gib": 3700}, staged, end),
        ),
    )


def test_gaia_dmp_offers_are_exact():
    answer = find_offers(pools=POOLS, load=LOAD, request=REQUEST, datasets=DATASETS)

    assert answer.result == "YES"
    assert answer.offers == (
        # edi: the head pool frees at 14:00, but the third worker pool only at 20:00
        edi_offer("2026-12-01T20:05"),
        # the same pools right after the first offer (distinct offers never share a pool)
        edi_offer("2026-12-02T05:10"),
        # cam: free from midnight, then 7.4 h of staging the dataset
        cam_offer("2026-12-02T07:24"),
        # edi again: 14:15 would overlap the 16:00-20:00 lease on the third worker pool
        edi_offer("2026-12-02T20:05"),
    )
    for offer in answer.offers:
        assert fits(pools=POOLS, load=LOAD, offer=offer)


def test_gaia_dmp_pinned_to_cam_stages_the_dataset():
    answer = find_offers(
        pools=POOLS,
        load=LOAD,
        request=Request(**{**REQUEST.__dict__, "site": "cam", "max_offers": 2}),
        datasets=DATASETS,
    )

    # the second waits for the first to end, then stages again: 16:24 + 7.4 h
    assert answer.offers == (cam_offer("2026-12-02T07:24"), cam_offer("2026-12-02T23:48"))
