"""Benchmark of the REST API (DESIGN §10) against a running gunicorn with 2 workers.

It creates its own database (``wcidt_bench`` on the running PostgreSQL: DATABASE_URL, else
the embedded server of .data/services.json), migrates it and seeds one site of 32 compute
pools (64 cores each) with 10k active leases (half of every pool booked for the next ~6.5
days) and 1M past leases, all inserted with INSERT … SELECT generate_series, not the ORM.
Then, over HTTP on 127.0.0.1:

- POST /api/v1/offer-sets/ latency, one client at a time: p50 / p90 / p99;
- offer sets per second with 16 concurrent clients (threads with http.client);
- accepts per second with 16 concurrent clients (the first offer of each set made above);
- the over-booking check (bookings.domain.planning.capacity.pools_over_capacity) afterwards;
- in-process, the share of the engine and its load query (`plan`) in `offer_set_create`.

Each request asks for 16 cores / 32 GiB for 2 h, at most 2 offers, some time in a random
1-day window within the next 10 days (fixed seed). The server runs with DEBUG off and
OFFER_SET_THROTTLE raised. Prints a table and writes bench/results/api.json.

Run: .venv/bin/python bench/api.py [--requests 300] [--per-client 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduler.embedded import embedded_urls  # noqa: E402 — the repo is on the path only now

RESULTS = ROOT / "bench" / "results" / "api.json"
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB_NAME = "wcidt_bench"
PORT = 8765
POOLS = 32
POOL_CORES = 64
ACTIVE = 10_000
PAST = 1_000_000
CLIENTS = 16
SEED = 20261123
TARGETS = {"p50_ms": 50, "p99_ms": 150, "offer_sets_per_s": 100, "accepts_per_s": 200}


def bench_database_url() -> str:
    base = os.environ.get("DATABASE_URL") or embedded_urls().get("DATABASE_URL")
    if not base:
        sys.exit("No PostgreSQL: set DATABASE_URL or start it with `make run`.")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + DB_NAME)), base


def create_database(admin_url: str) -> None:
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB_NAME}")


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["OFFER_HOLDS_PER_USER"] = server_env(url)["OFFER_HOLDS_PER_USER"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
    import django

    django.setup()


def _constant_columns(model, instance, skip: set[str]):
    """(columns, values) of `instance` for every concrete column not in `skip`, so the bulk
    inserts below keep up with fields added to the models later."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in skip:
            continue
        columns.append(f'"{field.column}"')
        values.append(field.get_db_prep_save(getattr(instance, field.attname), connection))
    return columns, values


def seed(now: datetime) -> dict:
    """Site, pools and users with the ORM; 10k active and 1M past leases with SQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from bookings.models import Allocation, ApiToken, Lease
    from resources.models import Pool, Site

    site = Site.objects.create(slug="bench", name="Benchmark site")
    pools = [
        Pool.objects.create(
            slug=f"bench-{i:02d}",
            site=site,
            kind="compute",
            cores=POOL_CORES,
            memory_gib=256,
            adapter="simulated",
        )
        for i in range(POOLS)
    ]
    owner = get_user_model().objects.create_user("history")
    client = get_user_model().objects.create_user("bench")
    pool_ids = [p.id for p in pools]
    t0 = now.replace(minute=0, second=0, microsecond=0)

    template = Lease(owner=owner, site=site, phase="ACCEPTED", start=t0, end=t0, version=1)
    template.preparation_start = t0
    skip = {"id", "start", "end", "preparation_start", "phase", "created", "updated"}
    lease_cols, lease_vals = _constant_columns(Lease, template, skip)
    alloc_template = Allocation(lease=template, pool=pools[0], cores=8, memory_gib=16)
    alloc_skip = {"id", "lease_id", "pool_id", "period", "replica"}
    alloc_cols, alloc_vals = _constant_columns(Allocation, alloc_template, alloc_skip)

    def insert(*, count: int, phase: str, slot_of: str, origin: datetime) -> None:
        # Lease g goes to pool g % POOLS; `slot_of` spreads the leases of a pool over 2-hour
        # slots so that no pool is ever over its capacity (8 cores each, at most 4 or 8 deep).
        sql = f"""
            WITH g AS MATERIALIZED (
                SELECT g, gen_random_uuid() AS id,
                       %(origin)s::timestamptz + ({slot_of}) * interval '2 hours' AS s
                FROM generate_series(0, %(count)s - 1) AS g
            ),
            leases AS (
                INSERT INTO bookings_lease
                    (id, start, "end", preparation_start, phase, created, updated,
                     {", ".join(lease_cols)})
                SELECT id, s, s + interval '2 hours', s, %(phase)s, now(), now(),
                       {", ".join(["%s"] * len(lease_vals))}
                FROM g
            )
            INSERT INTO bookings_allocation (lease_id, pool_id, period, replica,
                                             {", ".join(alloc_cols)})
            SELECT id, (%(pools)s::bigint[])[g %% {POOLS} + 1],
                   tstzrange(s, s + interval '2 hours', '[)'), 0,
                   {", ".join(["%s"] * len(alloc_vals))}
            FROM g
        """
        params = {"origin": origin, "count": count, "phase": phase, "pools": pool_ids}
        # Named and positional parameters cannot mix: inline the positional ones as named.
        for i, value in enumerate([*lease_vals, *alloc_vals]):
            sql = sql.replace("%s", f"%(v{i})s", 1)
            params[f"v{i}"] = value
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)

    started = time.perf_counter()
    # 4 lanes of 8 cores per pool: half of each pool is booked for ACTIVE / 128 slots.
    insert(count=ACTIVE, phase="ACCEPTED", slot_of=f"g / {POOLS * 4}", origin=t0)
    # 8 lanes: full pools, all in the past (COMPLETED leases are history, not load).
    past_slots = PAST // (POOLS * 8) + 1
    insert(
        count=PAST,
        phase="COMPLETED",
        slot_of=f"g / {POOLS * 8}",
        origin=t0 - timedelta(hours=2 * past_slots + 2),
    )
    # VACUUM too, not only ANALYZE: otherwise autovacuum starts on the 1M fresh rows of both
    # tables during the measurement (it did, for a minute or more), and index-only scans
    # visit the heap as they would not on a table in its steady state.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _, key = ApiToken.issue(user=client, name="bench")
    return {"key": key, "seconds": round(time.perf_counter() - started, 1)}


def reset() -> dict:
    """Delete the offer sets, leases, allocations and events of the benchmark's client."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from bookings.models import ApiToken

    client = get_user_model().objects.get(username="bench")
    mine = "SELECT id FROM bookings_lease WHERE owner_id = %s"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM projects_ledgerentry WHERE lease_id IN ({mine})", [client.pk])
        cursor.execute(f"DELETE FROM notices_notice WHERE lease_id IN ({mine})", [client.pk])
        cursor.execute(f"DELETE FROM bookings_leaseevent WHERE lease_id IN ({mine})", [client.pk])
        cursor.execute(f"DELETE FROM bookings_allocation WHERE lease_id IN ({mine})", [client.pk])
        cursor.execute("DELETE FROM bookings_lease WHERE owner_id = %s", [client.pk])
        cursor.execute("DELETE FROM bookings_offerset WHERE owner_id = %s", [client.pk])
        cursor.execute("DELETE FROM bookings_idempotencykey")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _, key = ApiToken.issue(user=client, name="bench")
    return {"key": key, "seconds": None}


def server_env(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "OFFER_SET_THROTTLE": "1000000/min",
        # One platform account holds every client's offers: lift the per-user cap.
        "OFFER_HOLDS_PER_USER": "1000000",
        "LOG_LEVEL": "ERROR",
    }


class Client:
    def __init__(self, key: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        self.headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}

    def post(self, path: str, body=None, *, raw: bool = False) -> tuple[int, dict, float]:
        """POST `body` (JSON, or bytes already encoded); the answer parsed, or its bytes with
        `raw` (the concurrent phases encode before and parse after the clock runs, so that the
        client, which shares the 2 cores with the server, spends little on the way)."""
        payload = body if isinstance(body, bytes) else "" if body is None else json.dumps(body)
        started = time.perf_counter()
        self.connection.request("POST", path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        if raw:
            return response.status, data, elapsed
        return response.status, json.loads(data) if data else {}, elapsed


def wait_for_server(key: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            connection.request("GET", "/api/v1/sites/", headers={"Authorization": f"Token {key}"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within 60 s")


JOB_NUMBERS = itertools.count()


def requests_for(rng: random.Random, now: datetime, count: int) -> list[dict]:
    result = []
    for _ in range(count):
        start = now + timedelta(hours=1 + rng.randrange(0, 9 * 24))
        start = start.replace(minute=0, second=0, microsecond=0)
        result.append(
            {
                # Each a job of its own: one of the same name would supersede the last.
                "name": f"bench-{next(JOB_NUMBERS)}",
                "components": [{"name": "job", "amounts": {"cores": 16, "memory_gib": 32}}],
                "duration": "PT2H",
                "start": f"{start:%Y-%m-%dT%H:%M:%SZ}/P1D",
                "max_offers": 2,
            }
        )
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def concurrently(key: str, work: list[list], call) -> tuple[list, float]:
    """Run `call(client, item)` over each client's items, CLIENTS threads at once."""
    results: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(work) + 1)

    def run(items):
        client = Client(key)
        barrier.wait()
        mine = [call(client, item) for item in items]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=run, args=(items,)) for items in work]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def in_process_breakdown(rng: random.Random, now: datetime, count: int) -> dict:
    """Median ms of `plan` (load query + engine) and of the whole `offer_set_create`."""
    from django.contrib.auth import get_user_model

    from bookings.domain.offer_sets import offer_set_create, plan
    from bookings.domain.requests import request_normalise

    user = get_user_model().objects.get(username="bench")
    plans, creates = [], []
    for request in requests_for(rng, now, count):
        normalised = request_normalise(data=request, now=datetime.now(UTC))
        started = time.perf_counter()
        plan(normalised=normalised)
        plans.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        offer_set_create(owner=user, data=request)
        creates.append((time.perf_counter() - started) * 1000)
    return {
        "plan_p50_ms": round(statistics.median(plans), 1),
        "offer_set_create_p50_ms": round(statistics.median(creates), 1),
    }


def measure(key: str, rng: random.Random, now: datetime, args) -> dict:
    """One pass of the HTTP phases: sequential offer sets, concurrent ones, then accepts."""
    client = Client(key)
    for request in requests_for(rng, now, 20):  # warm both workers' caches and imports
        client.post("/api/v1/offer-sets/", request)
    offers, latencies, yes = [], [], 0
    for request in requests_for(rng, now, args.requests):
        status, body, elapsed = client.post("/api/v1/offer-sets/", request)
        assert status == 201, (status, body)
        latencies.append(elapsed * 1000)
        yes += body["result"] == "YES"
        offers += [o["id"] for o in body["offers"][:1]]

    work = [
        [json.dumps(r).encode() for r in requests_for(rng, now, args.per_client)]
        for _ in range(CLIENTS)
    ]
    answers, wall = concurrently(
        key, work, lambda c, request: c.post("/api/v1/offer-sets/", request, raw=True)
    )
    answers = [(status, json.loads(data), elapsed) for status, data, elapsed in answers]
    assert all(status == 201 for status, _, _ in answers)
    concurrent_ms = [elapsed * 1000 for _, _, elapsed in answers]
    offers += [body["offers"][0]["id"] for _, body, _ in answers if body["offers"]]

    chunks = [offers[i::CLIENTS] for i in range(CLIENTS)]
    accepted, accept_wall = concurrently(
        key, chunks, lambda c, lease: c.post(f"/api/v1/leases/{lease}/accept", raw=True)
    )
    return {
        "latencies": latencies,
        "yes": yes,
        "answers": answers,
        "offer_sets_per_s": len(answers) / wall,
        "concurrent_ms": concurrent_ms,
        "accepted": accepted,
        "accept_statuses": [status for status, _, _ in accepted],
        "accepts_per_s": len(accepted) / accept_wall,
    }


def fair_share_switch(on: bool) -> None:
    """Budgets and policy on: every pool priced (peak hours included), the client's default
    project with an allocation no run exhausts, and policy rows that every offer set must
    evaluate (a user's concurrent leases and booked hours, the project's share of each pool)
    set loose enough not to change the answers. Off: none of it."""
    from datetime import time as clock

    from django.contrib.auth import get_user_model

    from projects.models import Membership, PolicyLimit, Project, Rate, SUAllocation
    from resources.models import Pool

    Rate.objects.all().delete()
    PolicyLimit.objects.all().delete()
    Membership.objects.all().delete()
    if not on:
        return
    pools = list(Pool.objects.all())
    Rate.objects.bulk_create(
        Rate(
            pool=p,
            cores=1,
            memory_gib="0.1",
            peak_factor="1.5",
            peak_start=clock(9),
            peak_end=clock(17),
        )
        for p in pools
    )
    project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Benchmark"})
    if not project.allocations.exists():
        SUAllocation.objects.create(
            project=project,
            su=10**11,
            valid_from=datetime.now(UTC) - timedelta(days=1),
            valid_to=datetime.now(UTC) + timedelta(days=400),
        )
    client = get_user_model().objects.get(username="bench")
    Membership.objects.create(project=project, user=client, default=True)
    PolicyLimit.objects.create(
        max_concurrent_leases=1_000_000, max_future_hours=100_000_000, max_pool_share=99
    )


def fair_share_summary(phases: dict) -> dict:
    """Per measure: the median over the passes of each setting, and on / off."""

    def median(on: bool, name: str) -> float:
        if name == "offer_set_p50_ms":
            return statistics.median(percentile(p["latencies"], 0.5) for p in phases[on])
        return statistics.median(p[name] for p in phases[on])

    summary = {}
    for name in ("offer_sets_per_s", "accepts_per_s", "offer_set_p50_ms"):
        off, on = median(False, name), median(True, name)
        summary[name] = {
            "off": round(off, 1),
            "on": round(on, 1),
            "ratio": round(on / off, 3),
            "passes": {
                "off": [round(p.get(name, 0), 1) for p in phases[False]],
                "on": [round(p.get(name, 0), 1) for p in phases[True]],
            },
        }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential offer sets")
    parser.add_argument("--per-client", type=int, default=40, help="offer sets per client")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="for iterating only: keep the database an earlier run seeded (its leases are placed"
        " relative to that run's start) and delete only what that run booked",
    )
    parser.add_argument(
        "--fair-share",
        action="store_true",
        help="measure with budgets and policy off and on (alternating, twice each) and"
        " compare offer sets/s and accepts/s",
    )
    args = parser.parse_args()

    url, admin_url = bench_database_url()
    now = datetime.now(UTC)
    # The machine may be shared: record how busy it was, next to the figures.
    load_before = os.getloadavg()[0]
    env = server_env(url)
    if args.reuse:
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        setup_django(url)
        print(f"reusing {DB_NAME}: deleting what earlier runs booked …", flush=True)
        seeded = reset()
    else:
        print(f"creating {DB_NAME} and migrating …", flush=True)
        create_database(admin_url)
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        setup_django(url)
        print(f"seeding {ACTIVE} active and {PAST} past leases …", flush=True)
        seeded = seed(now)
    key = seeded["key"]
    command = [GUNICORN, "scheduler.wsgi", "-w", "2", "--threads", str(args.threads)]
    command += ["-b", f"127.0.0.1:{PORT}", "--log-level", "error"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    rng = random.Random(SEED)
    phases = {}
    try:
        wait_for_server(key)
        if args.fair_share:
            # Off and on twice, alternating, each from the same bookings (reset): the machine's
            # noise falls on both alike. The ratio is of the medians of each setting.
            for n, on in enumerate((False, True, False, True)):
                fair_share_switch(on)
                key = reset()["key"]
                print(f"phase {n + 1}/4: fair share {'on' if on else 'off'} …", flush=True)
                phases.setdefault(on, []).append(measure(key, random.Random(SEED), now, args))
        else:
            phases[False] = [measure(key, rng, now, args)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    run = phases[False][-1]
    latencies, yes, answers = run["latencies"], run["yes"], run["answers"]
    offer_sets_per_s, concurrent_ms = run["offer_sets_per_s"], run["concurrent_ms"]
    accepted, accept_statuses, accepts_per_s = (
        run["accepted"],
        run["accept_statuses"],
        run["accepts_per_s"],
    )

    from bookings.domain.planning.capacity import pools_over_capacity

    violations = pools_over_capacity()
    breakdown = in_process_breakdown(rng, now, 50)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        },
        "data": {"pools": POOLS, "active_leases": ACTIVE, "past_leases": PAST},
        "gunicorn": {"workers": 2, "threads": args.threads},
        "seed_seconds": seeded["seconds"],
        "offer_set_latency_ms": {
            "requests": len(latencies),
            "yes": yes,
            "p50": round(percentile(latencies, 0.50), 1),
            "p90": round(percentile(latencies, 0.90), 1),
            "p99": round(percentile(latencies, 0.99), 1),
        },
        "concurrent": {
            "clients": CLIENTS,
            "offer_sets": len(answers),
            "offer_sets_per_s": round(offer_sets_per_s, 1),
            "offer_set_p50_ms_under_load": round(percentile(concurrent_ms, 0.5), 1),
            "accepts": len(accepted),
            "accepted_200": accept_statuses.count(200),
            "refused_409": accept_statuses.count(409),
            "accepts_per_s": round(accepts_per_s, 1),
        },
        "over_capacity_violations": len(violations),
        "in_process": breakdown,
        "targets": TARGETS,
    }
    if args.fair_share:
        result["fair_share"] = fair_share_summary(phases)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = RESULTS.with_name("api-fair-share.json") if args.fair_share else RESULTS
    out.write_text(json.dumps(result, indent=2) + "\n")

    latency = result["offer_set_latency_ms"]
    rows = [
        ("POST /api/v1/offer-sets/ p50 (1 client)", f"{latency['p50']} ms", "< 50 ms"),
        ("POST /api/v1/offer-sets/ p90 (1 client)", f"{latency['p90']} ms", ""),
        ("POST /api/v1/offer-sets/ p99 (1 client)", f"{latency['p99']} ms", "< 150 ms"),
        ("offer sets/s (16 clients)", f"{result['concurrent']['offer_sets_per_s']}", ">= 100"),
        ("accepts/s (16 clients)", f"{result['concurrent']['accepts_per_s']}", ">= 200"),
        ("over-capacity violations after the run", str(len(violations)), "0"),
        ("in-process plan() p50 (load + engine)", f"{breakdown['plan_p50_ms']} ms", ""),
        ("in-process offer_set_create p50", f"{breakdown['offer_set_create_p50_ms']} ms", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'measured':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    if args.fair_share:
        summary = result["fair_share"]
        print(f"\n{'budgets and policy':<24}  {'off':>9}  {'on':>9}  on/off  target")
        for name in ("offer_sets_per_s", "accepts_per_s", "offer_set_p50_ms"):
            row = summary[name]
            target = ">= 0.90" if name.endswith("per_s") else ""
            print(f"{name:<24}  {row['off']:>9}  {row['on']:>9}  {row['ratio']:>6}  {target}")
    print(f"\ngunicorn: 2 workers x {args.threads} thread(s); wrote {out.relative_to(ROOT)}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
