"""Benchmark of the lease life cycle (DESIGN §10: AVAILABLE within 2 s after the start and
release begun within 2 s after the end, p99).

200 short overlapping leases on the `simulated` adapter (setup 1 s, prepare 0.2 s, release
0.2 s), starting at random over 30 s from 5 s on and lasting 3 to 8 s, are written in bulk as
accepted (as `lease_accept` leaves them: due now, with their event) and then driven by a real
Celery worker (8 processes) and beat with the default settings (LEASE_TICK_SECONDS=2), on a
Redis of its own and a fresh database ``<DATABASE NAME>_bench_lifecycle`` on the configured
PostgreSQL. Lateness is read from the LeaseEvents: AVAILABLE minus start and RELEASING minus
end. Ticks are counted in the worker's log.

It prints a table and writes bench/results/lifecycle.json.
Run: .venv/bin/python bench/lifecycle.py [--leases 200] [--window 30]
"""

# ruff: noqa: E402 (Django is set up before the models are imported)
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")

import django

django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Count

from bookings.choices import FINAL_PHASES, ActorKind, Phase
from bookings.models import Allocation, Lease, LeaseEvent
from resources.models import Site
from tests.bookings.lifecycle.lifecycle_support import Cluster, database_url, make_pool

RESULTS = Path(__file__).resolve().parent / "results" / "lifecycle.json"
# Adapter calls mostly wait (here: sleep), so the pool is sized for waiting, not for the cores.
WORKER_PROCESSES = 8
SIMULATED = {"setup_seconds": 1, "prepare_seconds": 0.2, "release_seconds": 0.2}


def fresh_database() -> str:
    """Create an empty bench database beside the configured one, migrate it, switch to it."""
    name = f"{connection.settings_dict['NAME']}_bench_lifecycle"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)
    return name


def accepted_leases(owner, pool, count: int, window: float, rng: random.Random) -> list:
    """`count` accepted leases, written in bulk (as `lease_accept` leaves them: due now, with
    the event), starting at random over `window` seconds from 5 s on, lasting 3 to 8 s."""
    now = datetime.now(UTC)
    leases, allocations, events = [], [], []
    for _ in range(count):
        start = now + timedelta(seconds=5 + rng.uniform(0, window))
        end = start + timedelta(seconds=rng.uniform(3, 8))
        lease = Lease(
            owner=owner,
            site=pool.site,
            phase=Phase.ACCEPTED,
            start=start,
            end=end,
            preparation_start=start,
            next_action_at=now,
        )
        leases.append(lease)
        period = DateTimeTZRange(start, end, "[)")
        allocations.append(Allocation(lease=lease, pool=pool, cores=1, period=period))
        events.append(
            LeaseEvent(
                lease=lease,
                from_phase=Phase.OFFERED,
                to_phase=Phase.ACCEPTED,
                actor_kind=ActorKind.USER,
                actor=owner,
                message="accepted",
            )
        )
    with transaction.atomic():
        Lease.objects.bulk_create(leases)
        Allocation.objects.bulk_create(allocations)
        LeaseEvent.objects.bulk_create(events)
    return [lease.id for lease in leases]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=200)
    parser.add_argument("--window", type=float, default=30, help="starts spread over (s)")
    args = parser.parse_args()
    rng = random.Random(6)

    database = fresh_database()
    owner = get_user_model().objects.create_user("bench")
    site = Site.objects.create(slug="bench", name="Bench")
    pool = make_pool(site, "bench-sim", "simulated", SIMULATED, cores=10 * args.leases)

    with tempfile.TemporaryDirectory(prefix="wcidt-bench-lifecycle-") as root:
        cluster = Cluster(Path(root), database_url(connection.settings_dict), lifecycle_env={})
        try:
            cluster.start_redis()
            cluster.start_worker(concurrency=WORKER_PROCESSES)
            cluster.start_beat()
            began = datetime.now(UTC)
            leases = accepted_leases(owner, pool, args.leases, args.window, rng)
            accepts_seconds = (datetime.now(UTC) - began).total_seconds()
            deadline = time.monotonic() + args.window + 60
            while Lease.objects.filter(id__in=leases).exclude(phase__in=FINAL_PHASES).exists():
                if time.monotonic() > deadline:
                    raise SystemExit(f"leases not done in time\n{cluster.logs()}")
                time.sleep(0.5)
            # The last release records `released_at` and clears next_action_at.
            while Lease.objects.filter(id__in=leases, next_action_at__isnull=False).exists():
                time.sleep(0.2)
            ended = datetime.now(UTC)
            worker_logs = "".join(p.read_text() for p in Path(root).glob("worker-*.log"))
        finally:
            cluster.stop()

    counts = dict(
        Lease.objects.filter(id__in=leases).order_by().values_list("phase").annotate(n=Count("id"))
    )
    available, released = [], []
    events = LeaseEvent.objects.filter(lease_id__in=leases, to_phase__in=["AVAILABLE", "RELEASING"])
    for event in events.select_related("lease"):
        if event.to_phase == Phase.AVAILABLE:
            available.append((event.time - event.lease.start).total_seconds())
        else:
            released.append((event.time - event.lease.end).total_seconds())
    failures = Counter(
        LeaseEvent.objects.filter(lease_id__in=leases, to_phase=Phase.FAILED).values_list(
            "message", flat=True
        )
    )
    ticks = re.findall(r"lease tick: \d+ hold\(s\) expired, (\d+) step\(s\)", worker_logs)
    result = {
        "leases": args.leases,
        "window_seconds": args.window,
        "phases": counts,
        "failures": dict(failures),
        "tick_seconds": 2,
        "available_after_start_seconds": summary(available),
        "release_begun_after_end_seconds": summary(released),
        "ticks": len(ticks),
        "ticks_with_steps": sum(1 for n in ticks if int(n)),
        "steps_from_ticks": sum(int(n) for n in ticks),
        "run_seconds": round((ended - began).total_seconds(), 1),
        "create_seconds": round(accepts_seconds, 1),
        "worker_processes": WORKER_PROCESSES,
        "simulated_settings": SIMULATED,
        "database": database,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "measured": began.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    print(f"{args.leases} leases on `simulated`, starts over {args.window:.0f} s, tick 2 s:")
    print(f"final phases: {counts}" + (f"; failures: {dict(failures)}" if failures else ""))
    print("| lateness (s) | p50 | p99 | max |")
    print("| --- | --- | --- | --- |")
    for label, key in [
        ("AVAILABLE after start", "available_after_start_seconds"),
        ("release begun after end", "release_begun_after_end_seconds"),
    ]:
        s = result[key]
        print(f"| {label} | {s['p50']:.3f} | {s['p99']:.3f} | {s['max']:.3f} |")
    print(
        f"ticks: {result['ticks']} in {result['run_seconds']} s, {result['ticks_with_steps']} of"
        f" them enqueued steps ({result['steps_from_ticks']} steps in all)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
