"""Benchmark of the planning engine (DESIGN §10): time per request against a plain sweep line.

For 1k, 10k and 100k leases overlapping a 7-day window on 3 sites x 4 pools (a high-memory
head pool and three worker pools per site, one maintenance window per site), it times
``find_offers`` (K = 4) on

- single-pool requests (one replica, fixed amounts and duration, half of them pinned to a
  site), next to a plain single-pool sweep-line reference written here, in the same run, and
  checks that both give the same starts and ends;
- packing requests (the Gaia DMP shape: a 54-core head and six 13..26-core workers, 9 h, any
  site), for which there is no reference.

It prints a table and writes bench/results/engine.json. Synthetic data comes from a fixed
seed. Times are wall clock per request (``--cpu``: CPU time of this process, steadier on a
shared machine); "NO p90" is over the packing requests that got a NO answer (reasons and
suggestions cost more than offers). The exit status is 1 when a target or the agreement
check fails.

Run: .venv/bin/python bench/engine.py [--requests N] [--sizes 1000,10000,100000] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.engine import (
    CapacityChange,
    Component,
    Load,
    Policy,
    Pool,
    Range,
    Request,
    find_offers,
)

SEED = 20261201
T0 = 1_796_083_200  # 2026-12-01T00:00:00Z
DAY = 86_400
HOUR = 3_600
SITES = ("edi", "cam", "ral")
TARGET_RATIO = 3.0
TARGET_SINGLE_P90_MS = 20.0
TARGET_PACKING_P90_MS = 100.0
RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


def make_pools() -> list[Pool]:
    pools = []
    for n, site in enumerate(SITES):
        pools.append(
            Pool(f"{site}-head", site, "compute", {"cores": 128, "memory_gib": 1024}, (), 300)
        )
        for w in (1, 2, 3):
            changes = ()
            if w == 2:
                start = T0 + (2 + n) * DAY + 6 * HOUR
                maintenance = {"cores": 0, "memory_gib": 0}
                changes = (CapacityChange(start, start + 8 * HOUR, maintenance),)
            base = {"cores": 128, "memory_gib": 512}
            pools.append(Pool(f"{site}-workers-{w}", site, "compute", base, changes, 120))
    return pools


def make_load(pools: list[Pool], count: int, rng: random.Random) -> list[Load]:
    """``count`` leases overlapping [T0, T0 + 7 d), about 5 at a time per pool."""
    mean = 7 * DAY * len(pools) * 5 / count
    load = []
    for _ in range(count):
        pool = rng.choice(pools)
        duration = int(min(max(rng.expovariate(1 / mean), 300), 2 * DAY))
        start = rng.randrange(T0 - duration + 1, T0 + 7 * DAY)
        share = rng.uniform(0.02, 0.15)
        cores = max(1, round(pool.base["cores"] * share))
        memory = max(1, round(pool.base["memory_gib"] * share * rng.uniform(0.5, 1.5)))
        load.append(
            Load(pool.slug, start, start + duration, {"cores": cores, "memory_gib": memory})
        )
    return load


def single_requests(count: int, rng: random.Random) -> list[Request]:
    requests = []
    for _ in range(count):
        cores = rng.choice((4, 8, 16, 32))
        duration = rng.choice((1, 2, 4, 9)) * HOUR
        earliest = T0 + rng.randrange(0, 4 * DAY) + rng.randrange(0, 60)
        latest = earliest + rng.randrange(2 * HOUR, 2 * DAY)
        job = Component(
            "job",
            "compute",
            {"cores": Range(cores, cores), "memory_gib": Range(4 * cores, 4 * cores)},
        )
        requests.append(
            Request(
                components=(job,),
                duration=Range(duration, duration),
                start_earliest=earliest,
                start_latest=latest,
                site=rng.choice((None, rng.choice(SITES))),
                max_offers=4,
            )
        )
    return requests


def packing_requests(count: int, rng: random.Random) -> list[Request]:
    head = Component("head", "compute", {"cores": Range(54, 54), "memory_gib": Range(86, 86)})
    workers = Component(
        "workers", "compute", {"cores": Range(13, 26), "memory_gib": Range(43, 43)}, replicas=6
    )
    requests = []
    for _ in range(count):
        earliest = T0 + rng.randrange(0, 3 * DAY)
        requests.append(
            Request(
                components=(head, workers),
                duration=Range(9 * HOUR, 9 * HOUR),
                start_earliest=earliest,
                start_latest=earliest + 3 * DAY,
                max_offers=4,
            )
        )
    return requests


# --- the reference: a plain single-pool sweep line, one pool at a time ---------------------


def reference(pools: list[Pool], load: list[Load], request: Request, step: int = 60) -> list:
    """K earliest distinct (start, end, pool) for one fixed-size replica, pool by pool."""
    (component,) = request.components
    need = {dim: r.min for dim, r in component.amounts.items()}
    duration = request.duration.min
    first = -(-request.start_earliest // step) * step
    eligible = [
        p
        for p in pools
        if p.kind == component.kind and (request.site is None or p.site == request.site)
    ]
    k = request.max_offers
    found = []
    for pool in eligible:
        lo, hi = first - pool.setup_seconds, request.start_latest + duration
        mine = [x for x in load if x.pool == pool.slug and x.start < hi and x.end > lo]
        bad = _bad_intervals(pool, mine, need, lo, hi)
        s, b, taken = first, 0, 0
        while s <= request.start_latest and taken < k:
            while b < len(bad) and bad[b][1] <= s - pool.setup_seconds:
                b += 1
            if b < len(bad) and bad[b][0] < s + duration:
                s = -(-(bad[b][1] + pool.setup_seconds) // step) * step
                continue
            found.append((s, s + duration, pool.slug))
            taken += 1
            s = -(-(s + duration + pool.setup_seconds) // step) * step
    found.sort(key=lambda entry: entry[0])
    return found[:k]


def _bad_intervals(pool: Pool, load: list[Load], need: dict, lo: int, hi: int) -> list:
    events = _events(pool, load, lo, hi)
    used = dict.fromkeys(need, 0)
    bad, i = [], 0
    t = lo
    while t < hi:
        while i < len(events) and events[i][0] == t:
            for dim, value in events[i][1].items():
                if dim in used:
                    used[dim] += value
            i += 1
        nxt = events[i][0] if i < len(events) else hi
        if any(_capacity(pool, dim, t) - used[dim] < amount for dim, amount in need.items()):
            if bad and bad[-1][1] == t:
                bad[-1] = (bad[-1][0], nxt)
            else:
                bad.append((t, nxt))
        t = nxt
    return bad


def _events(pool: Pool, load: list[Load], lo: int, hi: int) -> list:
    """(time, amounts added) for each load's start and end and each capacity change, in time
    order."""
    events = []
    for x in load:
        events.append((max(x.start, lo), x.amounts))
        events.append((min(x.end, hi), {d: -v for d, v in x.amounts.items()}))
    for change in pool.changes:
        for t in (change.start, change.end):
            if t is not None and lo < t < hi:
                events.append((t, {}))
    events.sort(key=lambda e: e[0])
    return events


def _capacity(pool: Pool, dim: str, t: int) -> int:
    value = pool.base.get(dim, 0)
    for change in pool.changes:
        if change.start <= t and (change.end is None or t < change.end) and dim in change.capacity:
            value = change.capacity[dim]
    return value


# --- measurement -----------------------------------------------------------------------------


CLOCK = time.perf_counter


def timed(call) -> tuple[float, object]:
    began = CLOCK()
    result = call()
    return (CLOCK() - began) * 1000, result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(size: int, count: int, policy: Policy) -> dict:
    rng = random.Random(SEED + size)
    pools = make_pools()
    load = make_load(pools, size, rng)
    singles = single_requests(count, rng)
    packs = packing_requests(max(1, count // 2), rng)
    for request in singles[:3] + packs[:2]:
        find_offers(pools=pools, load=load, request=request, policy=policy)
    engine_ms, reference_ms, packing_ms, packing_no_ms = [], [], [], []
    agree = yes = packing_yes = 0
    for request in singles:
        ms, answer = timed(
            lambda r=request: find_offers(pools=pools, load=load, request=r, policy=policy)
        )
        engine_ms.append(ms)
        ms, expected = timed(lambda r=request: reference(pools, load, r, policy.step))
        reference_ms.append(ms)
        got = [(o.start, o.end) for o in answer.offers]
        if got == [(s, e) for s, e, _ in expected]:
            agree += 1
        yes += answer.result == "YES"
    for request in packs:
        ms, answer = timed(
            lambda r=request: find_offers(pools=pools, load=load, request=r, policy=policy)
        )
        packing_ms.append(ms)
        packing_yes += answer.result == "YES"
        if answer.result == "NO":
            packing_no_ms.append(ms)
    tracemalloc.start()
    peak = 0
    for request in singles[:20] + packs[:10]:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        find_offers(pools=pools, load=load, request=request, policy=policy)
        peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
    tracemalloc.stop()
    row = {
        "leases": size,
        "single_requests": len(singles),
        "single_yes": yes,
        "engine_median_ms": statistics.median(engine_ms),
        "engine_p90_ms": percentile(engine_ms, 0.9),
        "reference_median_ms": statistics.median(reference_ms),
        "reference_p90_ms": percentile(reference_ms, 0.9),
        "packing_requests": len(packs),
        "packing_yes": packing_yes,
        "packing_median_ms": statistics.median(packing_ms),
        "packing_p90_ms": percentile(packing_ms, 0.9),
        "packing_no_p90_ms": percentile(packing_no_ms, 0.9) if packing_no_ms else None,
        "agree": agree,
        "peak_mib": peak / 2**20,
    }
    row["ratio"] = row["engine_median_ms"] / row["reference_median_ms"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="single-pool requests per size")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--cpu", action="store_true", help="time CPU used by this process instead of wall time"
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    policy = Policy()
    load_before = os.getloadavg()[0]
    rows = [run(int(size), args.requests, policy) for size in args.sizes.split(",")]
    header = (
        f"{'leases':>7} | {'engine med':>10} {'p90':>7} | {'ref med':>8} {'p90':>7} | "
        f"{'ratio':>5} | {'agree':>7} | {'packing med':>11} {'p90':>7} {'NO p90':>7} | "
        f"{'yes s/p':>9} | {'peak MiB':>8}"
    )
    timer = "CPU" if args.cpu else "wall"
    print(
        f"find_offers, K = 4, {timer} ms per request (3 sites x 4 pools, 7-day window; "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['leases']:>7} | {r['engine_median_ms']:>10.2f} {r['engine_p90_ms']:>7.2f} | "
            f"{r['reference_median_ms']:>8.2f} {r['reference_p90_ms']:>7.2f} | "
            f"{r['ratio']:>5.2f} | {r['agree']:>3}/{r['single_requests']:<3} | "
            f"{r['packing_median_ms']:>11.2f} {r['packing_p90_ms']:>7.2f} "
            f"{r['packing_no_p90_ms'] or 0:>7.2f} | "
            f"{r['single_yes']:>4}/{r['packing_yes']:<4} | {r['peak_mib']:>8.1f}"
        )
    checks = {}
    at_10k = next((r for r in rows if r["leases"] == 10_000), None)
    if at_10k is not None:
        checks = {
            f"median <= {TARGET_RATIO:g} x reference at 10k": at_10k["ratio"] <= TARGET_RATIO,
            f"p90 < {TARGET_SINGLE_P90_MS:g} ms at 10k": at_10k["engine_p90_ms"]
            < TARGET_SINGLE_P90_MS,
            f"packing p90 < {TARGET_PACKING_P90_MS:g} ms at 10k": at_10k["packing_p90_ms"]
            < TARGET_PACKING_P90_MS,
        }
    checks["engine agrees with the reference"] = all(
        r["agree"] == r["single_requests"] for r in rows
    )
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "engine",
                "seed": SEED,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "clock": timer,
                "load_average": load_before,
                "rows": rows,
                "checks": checks,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
