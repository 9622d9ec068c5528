"""A per-process copy of the counting load, brought up to date with one small query per plan.

Planning an offer set needs the load of every eligible pool over the request's window: a few
thousand allocation rows at 10k active leases, read, joined with their leases and turned into
engine loads on every request. Here they are read once per process and afterwards only what
changed (bench/api.py measures what it pays; DESIGN §4 asks for that before caching):

- triggers (migration 0005) stamp an allocation with the id of the transaction that last wrote
  it or changed its lease's phase or hold expiry (`load_xid`);
- each refresh remembers the oldest transaction still running when it read
  (`pg_snapshot_xmin`): any later change was made by that transaction or a newer one, so the
  next refresh asks for `load_xid >= it` and misses nothing, whatever the commit order
  (minus the transactions it has read already: all of a transaction's rows appear at once);
- deleting or truncating allocations leaves no row to find: the trigger then changes the one
  `bookings_loadgeneration` uuid, and every process starts again from scratch;
- a hold counts until it expires: rows keep their expiry and the selection checks it.

The copy only steers the planner, outside any lock. The guard (planning.guard) still
re-verifies every offer against the database under the pool locks, so even a wrong copy could
not over-book; it could only make offers that are then re-planned. Inside a transaction the
copy is not used (it could hold rows that are rolled back later), nor for windows before
`floor` (history is not kept).
"""

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection

from bookings.domain.planning.load import LOAD_RULE
from bookings.domain.sql.load import DELTA, FULL, STAMP
from resources.choices import DIMENSIONS
from scheduler import engine

# History older than this before the first use is not kept; the floor moves on when it is
# twice as old, so a long-running process does not accumulate the past.
KEEP = timedelta(days=1)
# "Counts until" of the rows that count for ever (the load phases but a hold).
FOREVER = 2**62
SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micro(value: datetime | timedelta) -> int:
    """Microseconds since the epoch (or in a span), exactly: times are compared at the
    database's precision, so a hold expiring within the second is not miscounted."""
    if isinstance(value, datetime):
        value = value - _EPOCH
    return value // timedelta(microseconds=1)


_WIDTH = 3 + len(DIMENSIONS)  # start, end, counts until, amounts
_DEAD = np.array([0, 0, 0] + [0] * len(DIMENSIONS), dtype=np.int64)  # overlaps nothing


class _PoolLoads:
    """One pool's rows in a numpy table (start, end and "counts until" in microseconds, then
    the amounts), written in place as rows change: a changed allocation costs a row write,
    not a rebuild of the pool's table. Freed slots are reused; the table doubles when full."""

    def __init__(self):
        self.slots: dict = {}  # allocation id -> row of `table`
        self.free: list[int] = []
        self.table = np.zeros((16, _WIDTH), dtype=np.int64)
        self.seconds = np.zeros((16, 2), dtype=np.int64)
        self.used = 0

    def __len__(self) -> int:
        return len(self.slots)

    def put(self, allocation_id, row: tuple) -> None:
        slot = self.slots.get(allocation_id)
        if slot is None:
            slot = self.slots[allocation_id] = self._slot()
        self.table[slot] = row
        # whole seconds, floored, as planning.load.engine_load gives them
        self.seconds[slot] = (row[0] // SECOND, row[1] // SECOND)

    def drop(self, allocation_id) -> None:
        slot = self.slots.pop(allocation_id)
        self.table[slot] = _DEAD
        self.free.append(slot)

    def _slot(self) -> int:
        if self.free:
            return self.free.pop()
        if self.used == len(self.table):
            self.table = np.concatenate((self.table, np.zeros_like(self.table)))
            self.seconds = np.concatenate((self.seconds, np.zeros_like(self.seconds)))
        self.used += 1
        return self.used - 1

    def select(self, slug: str, start: int, end: int, now: int) -> engine.PoolLoad | None:
        table = self.table[: self.used]
        # The hold rule of planning.load, in columns: a row counts while "counts until" > now.
        live = (table[:, 0] < end) & (table[:, 1] > start) & (table[:, 2] > now)
        if not live.any():
            return None
        seconds = self.seconds[: self.used][live]
        amounts = table[live, 3:]
        return engine.PoolLoad(
            pool=slug,
            starts=seconds[:, 0],
            ends=seconds[:, 1],
            amounts={d: amounts[:, j] for j, d in enumerate(DIMENSIONS)},
        )


class LoadCache:
    """The copy: rows per pool, and where the next refresh starts (see the module)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.refreshes = {"full": 0, "delta": 0, "rows": 0}
        self.clear()

    def clear(self) -> None:
        self.generation = None
        self.since = 0
        self.seen: set[int] = set()
        self.floor = 0
        self.pools: dict[int, _PoolLoads] = {}
        self.where: dict = {}  # allocation id -> pool id

    def load(self, *, pools, start: datetime, end: datetime, now: datetime) -> list | None:
        """`refresh`, then `select`."""
        if self.refresh(now) is None:
            return None
        return self.select(pools=pools, start=start, end=end, now=now)

    def refresh(self, now: datetime):
        """Bring the copy up to date with one query; returns the pools generation read in the
        same statement, or None when the copy cannot be used (in a transaction)."""
        if connection.in_atomic_block:
            return None
        with self._lock:
            return self._refresh(now)

    def select(self, *, pools, start: datetime, end: datetime, now: datetime) -> list | None:
        """The counting load of `pools` (model instances) over [start, end) at `now`, as
        `planning.load.engine_load` gives it but in columns (one `engine.PoolLoad` per pool with
        load), as of the last `refresh`; None when the copy cannot answer (see the module)."""
        if connection.in_atomic_block:
            return None
        with self._lock:
            lo, hi, at = micro(start), micro(end), micro(now)
            if self.generation is None or lo < self.floor:
                return None
            result = []
            for pool in pools:
                entry = self.pools.get(pool.id)
                if entry is not None and len(entry):
                    columns = entry.select(pool.slug, lo, hi, at)
                    if columns is not None:
                        result.append(columns)
            return result

    def _refresh(self, now: datetime):
        # The hold rule is applied at `select` time, to the "counts until" column.
        rule = {**LOAD_RULE, "forever": FOREVER}
        with connection.cursor() as cursor:
            if self.generation is not None:
                cursor.execute(DELTA, {**rule, "since": self.since, "seen": sorted(self.seen)})
                rows = cursor.fetchall()
                since, generation, pools_generation = rows[0][:3]
                if generation == self.generation and micro(now) - self.floor < 2 * micro(KEEP):
                    changed = [row[3:-1] for row in rows if row[3] is not None]
                    self.since = since
                    self.seen = {x for x in self.seen if x >= since}
                    self.seen.update(row[-1] for row in rows if row[3] is not None)
                    self.refreshes["delta"] += 1
                    self.refreshes["rows"] += len(changed)
                    self._apply(changed)
                    return pools_generation
            self.clear()
            cursor.execute(STAMP)
            self.since, generation, pools_generation = cursor.fetchone()
            floor = micro(now - KEEP)
            cursor.execute(FULL, {**rule, "floor": now - KEEP})
            rows = cursor.fetchall()
            self.floor = floor
            self.generation = generation
            self.refreshes["full"] += 1
            self.refreshes["rows"] += len(rows)
            self._apply(rows)
            return pools_generation

    def _apply(self, rows) -> None:
        for allocation_id, pool_id, lo, hi, expires, *amounts in rows:
            old = self.where.pop(allocation_id, None)
            if old is not None and (old != pool_id or expires is None or hi <= self.floor):
                self.pools[old].drop(allocation_id)
            if expires is None or hi <= self.floor or lo >= hi:
                continue  # no longer counts (or is history)
            entry = self.pools.get(pool_id)
            if entry is None:
                entry = self.pools[pool_id] = _PoolLoads()
            entry.put(allocation_id, (lo, hi, expires, *amounts))
            self.where[allocation_id] = pool_id


load_cache = LoadCache()
