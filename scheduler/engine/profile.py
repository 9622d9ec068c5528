"""Free-capacity step functions per pool and dimension, and window-minimum queries on them.

A profile covers [lo, hi): ``times`` holds its n + 1 breakpoints, ``free[j, k]`` the free
amount of dimension ``dims[j]`` on segment [times[k], times[k + 1]). Free is capacity minus
load, clamped at 0 (an overloaded instant simply has no room); -1 marks a segment blocked for
the rest of one answer (distinct offers), so that even an all-zero demand does not fit there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .model import Grant, Load, Offer, Pool, PoolLoad

BLOCKED = -1


class FreeProfile:
    __slots__ = ("_table", "dims", "free", "times")

    def __init__(self, times: np.ndarray, free: np.ndarray, dims: tuple[str, ...]):
        self.times = times
        self.free = free
        self.dims = dims
        self._table: np.ndarray | None = None

    @property
    def lo(self) -> int:
        return int(self.times[0])

    @property
    def hi(self) -> int:
        return int(self.times[-1])

    def window_min(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Minimum free per dimension over each [starts[i], ends[i]); shape (dims, len(starts)).

        Needs lo <= starts < ends <= hi. Uses a sparse table (built once) so that a whole
        array of candidate windows costs a handful of vectorised operations.
        """
        first = np.searchsorted(self.times, starts, side="right") - 1
        stop = np.searchsorted(self.times, ends, side="left")
        level = np.frexp(stop - first)[1] - 1
        table = self._sparse_table()
        left = table[level, :, first]
        right = table[level, :, stop - (1 << level)]
        return np.minimum(left, right).T

    def window_min_one(self, start: int, end: int) -> list[int]:
        first = int(np.searchsorted(self.times, start, side="right")) - 1
        stop = int(np.searchsorted(self.times, end, side="left"))
        return self.free[:, first:stop].min(axis=1).tolist()

    def rises(self, after: int, until: int) -> np.ndarray:
        """Breakpoints in (after, until] where some dimension's free amount goes up."""
        first, stop = self._breakpoints(after, until)
        up = np.any(self.free[:, first:stop] > self.free[:, first - 1 : stop - 1], axis=0)
        return self.times[first:stop][up]

    def drops(self, after: int, until: int) -> np.ndarray:
        """Breakpoints in (after, until] where some dimension's free amount goes down."""
        first, stop = self._breakpoints(after, until)
        down = np.any(self.free[:, first:stop] < self.free[:, first - 1 : stop - 1], axis=0)
        return self.times[first:stop][down]

    def _breakpoints(self, after: int, until: int) -> tuple[int, int]:
        first = max(1, int(np.searchsorted(self.times, after, side="right")))
        stop = min(len(self.times) - 1, int(np.searchsorted(self.times, until, side="right")))
        return first, max(first, stop)

    def blocked(self, start: int, end: int) -> FreeProfile:
        """A copy in which [start, end) is unusable."""
        start, end = max(start, self.lo), min(end, self.hi)
        if start >= end:
            return self
        times, free = _split(self.times, self.free, start)
        times, free = _split(times, free, end)
        first = int(np.searchsorted(times, start))
        stop = int(np.searchsorted(times, end))
        free = free.copy()
        free[:, first:stop] = BLOCKED
        return FreeProfile(times, free, self.dims)

    def limited(
        self,
        blocked: Sequence[tuple[int, int]] = (),
        caps: Sequence[tuple[int, int, Mapping[str, int]]] = (),
    ) -> FreeProfile:
        """A copy in which the ``blocked`` intervals are unusable and, over each cap's
        [start, end), no dimension has more free than the cap gives it (a policy limit)."""
        cuts = {t for a, b in blocked for t in (a, b)} | {t for a, b, _ in caps for t in (a, b)}
        new = np.array(sorted(t for t in cuts if self.lo < t < self.hi), dtype=np.int64)
        new = new[~np.isin(new, self.times)]
        times = np.sort(np.concatenate((self.times, new))) if len(new) else self.times
        # the segment of the old profile each new segment lies in (a copy: fancy indexing)
        free = self.free[:, np.searchsorted(self.times, times[:-1], side="right") - 1]
        starts, ends = times[:-1], times[1:]
        for a, b in blocked:
            free[:, (starts >= a) & (ends <= b)] = BLOCKED
        for a, b, most in caps:
            inside = (starts >= a) & (ends <= b)
            for j, dim in enumerate(self.dims):
                if dim in most:
                    free[j, inside] = np.minimum(free[j, inside], most[dim])
        return FreeProfile(times, free, self.dims)

    def joined(self, later: FreeProfile) -> FreeProfile:
        """This profile followed by ``later``, which must start where this one ends."""
        times = np.concatenate((self.times[:-1], later.times))
        return _merged(times, np.concatenate((self.free, later.free), axis=1), self.dims)

    def segments(self) -> list[tuple[int, int, dict[str, int]]]:
        times = self.times.tolist()
        columns = self.free.T.tolist()
        return [
            (times[k], times[k + 1], dict(zip(self.dims, column, strict=True)))
            for k, column in enumerate(columns)
        ]

    def _sparse_table(self) -> np.ndarray:
        if self._table is None:
            n = self.free.shape[1]
            levels = max(1, n.bit_length())
            table = np.empty((levels, *self.free.shape), dtype=self.free.dtype)
            table[0] = self.free
            for k in range(1, levels):
                width = 1 << (k - 1)
                table[k] = table[k - 1]
                np.minimum(
                    table[k - 1, :, : n - width],
                    table[k - 1, :, width:],
                    out=table[k, :, : n - width],
                )
            self._table = table
        return self._table


class Stack:
    """Several profiles with the same dimensions side by side (pool p's times offset by p
    times the span), so that one window-minimum query answers for all of them at once."""

    __slots__ = ("_rises", "_span", "_table", "count", "keys", "lo", "profiles")

    def __init__(self, profiles: Sequence[FreeProfile]):
        self.profiles = tuple(profiles)
        self.count = len(profiles)
        self.lo = min(p.lo for p in profiles)
        self._span = max(p.hi for p in profiles) - self.lo + 1
        self.keys = np.concatenate(
            [p.times - self.lo + k * self._span for k, p in enumerate(profiles)]
        )
        # segment j is [keys[j], keys[j + 1]); the one between two profiles is never queried
        filler = np.zeros((profiles[0].free.shape[0], 1), dtype=profiles[0].free.dtype)
        frees = []
        for profile in profiles:
            frees += [profile.free, filler]
        self._table = FreeProfile(self.keys, np.concatenate(frees[:-1], axis=1), ())
        self._rises: tuple[np.ndarray, np.ndarray] | None = None

    def rises(self) -> tuple[np.ndarray, np.ndarray]:
        """Every profile's ``rises`` over its whole span, at once: (times, profile index)."""
        if self._rises is None:
            free = self._table.free
            up = np.zeros(free.shape[1], dtype=bool)
            up[1:] = np.any(free[:, 1:] > free[:, :-1], axis=0)
            # a profile's first segment follows the filler (or nothing), and the filler after
            # its last breakpoint is not one of its segments: neither is ever a rise
            sizes = np.array([len(p.times) for p in self.profiles])
            ends = np.cumsum(sizes)
            up[ends - sizes] = False
            up[ends[:-1] - 1] = False
            found = np.flatnonzero(up)
            owner = np.searchsorted(ends, found, side="right")
            times = self.keys[found] + self.lo - owner * self._span
            self._rises = (times, owner)
        return self._rises

    def window_min(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """``FreeProfile.window_min`` of every profile: ``starts`` and ``ends`` have shape
        (profiles, candidates); the answer has shape (dims, profiles, candidates)."""
        offsets = (np.arange(self.count, dtype=np.int64) * self._span - self.lo)[:, None]
        lows = (starts + offsets).ravel()
        highs = (ends + offsets).ravel()
        found = self._table.window_min(lows, highs)  # (dims, profiles x candidates)
        return found.reshape(-1, self.count, starts.shape[1])


def _split(times: np.ndarray, free: np.ndarray, at: int) -> tuple[np.ndarray, np.ndarray]:
    k = int(np.searchsorted(times, at))
    if k < len(times) and times[k] == at:
        return times, free
    return np.insert(times, k, at), np.insert(free, k - 1, free[:, k - 1], axis=1)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique without its hashing path, which is several times slower on these sizes."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def pool_dims(pool: Pool) -> tuple[str, ...]:
    dims = dict.fromkeys(pool.base)
    for change in pool.changes:
        dims.update(dict.fromkeys(change.capacity))
    return tuple(dims)


def columns(
    pool: str,
    loads: Sequence[Load] | PoolLoad,
    dims: Iterable[str],
    lo: int | None = None,
    hi: int | None = None,
) -> PoolLoad:
    """``loads`` of one pool as a ``PoolLoad`` with (at least) the dimensions ``dims``; a
    list of ``Load``s keeps only those overlapping [lo, hi) if given (columns keep all)."""
    if isinstance(loads, PoolLoad):
        return loads
    if lo is not None:
        loads = [x for x in loads if x.start < hi and x.end > lo and x.start < x.end]
    count = len(loads)
    return PoolLoad(
        pool=pool,
        starts=np.fromiter((load.start for load in loads), np.int64, count),
        ends=np.fromiter((load.end for load in loads), np.int64, count),
        amounts={
            dim: np.fromiter((load.amounts.get(dim, 0) for load in loads), np.int64, count)
            for dim in dims
        },
    )


def concatenated(parts: Sequence[PoolLoad], dim: str) -> np.ndarray:
    """The ``dim`` amounts of ``parts`` one after the other (0 where a part lacks ``dim``)."""
    return np.concatenate([part.amounts.get(dim, np.zeros_like(part.starts)) for part in parts])


def build_profile(
    *,
    pool: Pool,
    loads: Sequence[Load] | PoolLoad,
    lo: int,
    hi: int,
    dims: tuple[str, ...],
    clamp: bool = True,
) -> FreeProfile:
    """Capacity (base plus changes, later changes win) minus load on [lo, hi), per dimension.

    ``loads`` (a list of ``Load``s or one ``PoolLoad``) may include loads outside [lo, hi) or
    of other dimensions; they are ignored. With ``clamp`` False, overloaded segments keep their
    negative free amount (for ``fits``).
    """
    (profile,) = build_profiles(
        pools=[pool], loads={pool.slug: loads}, lo=lo, hi=hi, dims=dims, clamp=clamp
    )
    return profile


def build_profiles(
    *,
    pools: Sequence[Pool],
    loads: Mapping[str, Sequence[Load] | PoolLoad],
    lo: int,
    hi: int,
    dims: tuple[str, ...],
    clamp: bool = True,
) -> list[FreeProfile]:
    """``build_profile`` for several pools with the same dimensions at once, with one pass of
    array operations over all their breakpoints (each pool's times are offset by its index
    times the span, so one sort orders them all) instead of a few dozen numpy calls per
    pool. Adjacent equal segments are merged."""
    count = len(pools)
    if count == 0:
        return []
    span = hi - lo + 1
    parts = [columns(pool.slug, loads.get(pool.slug, ()), dims, lo, hi) for pool in pools]
    lengths = [len(part.starts) for part in parts]
    owner = np.repeat(np.arange(count, dtype=np.int64), lengths)
    starts = np.concatenate([part.starts for part in parts])
    ends = np.concatenate([part.ends for part in parts])
    live = (starts < hi) & (ends > lo) & (starts < ends)
    owner = owner[live] * span
    starts = owner + np.maximum(starts[live], lo) - lo
    ends = owner + np.minimum(ends[live], hi) - lo
    keys = sorted_unique(np.concatenate((*_bounds(pools, lo, hi, span), starts, ends)))
    free = _capacity(pools, keys, lo, hi, span, dims)
    if len(starts):
        amounts = [concatenated(parts, dim)[live] for dim in dims]
        _subtract_load(free, keys, starts, ends, amounts)
    if clamp:
        np.maximum(free, 0, out=free)
    return _cut(keys, free, count, lo, hi, span, dims)


def _bounds(pools: Sequence[Pool], lo: int, hi: int, span: int) -> list[np.ndarray]:
    """The breakpoints every profile has: pool p's lo and hi, and its capacity changes inside,
    offset by p times the span."""
    count = len(pools)
    bounds = [np.arange(count, dtype=np.int64) * span, np.arange(count) * span + (hi - lo)]
    for p, pool in enumerate(pools):
        if pool.changes:
            times = [
                p * span + t - lo
                for change in pool.changes
                for t in (change.start, change.end)
                if t is not None and lo < t < hi
            ]
            bounds.append(np.array(times, dtype=np.int64))
    return bounds


def _capacity(
    pools: Sequence[Pool], keys: np.ndarray, lo: int, hi: int, span: int, dims: tuple[str, ...]
) -> np.ndarray:
    """Capacity per dimension on each segment [keys[k], keys[k + 1]): base, then the changes in
    their order (a later one wins)."""
    pool_of = keys[:-1] // span
    base = np.array([[pool.base.get(dim, 0) for pool in pools] for dim in dims], dtype=np.int64)
    free = base[:, pool_of]
    for p, pool in enumerate(pools):
        if not pool.changes:
            continue
        last = int(np.searchsorted(keys, p * span + hi - lo))
        for change in pool.changes:
            first = int(np.searchsorted(keys, p * span + min(max(change.start, lo), hi) - lo))
            stop = last
            if change.end is not None:
                stop = int(np.searchsorted(keys, p * span + min(max(change.end, lo), hi) - lo))
            for j, dim in enumerate(dims):
                if dim in change.capacity and first < stop:
                    free[j, first:stop] = change.capacity[dim]
    return free


def _subtract_load(
    free: np.ndarray,
    keys: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    amounts: list[np.ndarray],
) -> None:
    """``free[j]`` minus the load on each segment, ``amounts[j]`` over [starts, ends)."""
    n = len(keys) - 1
    first = np.searchsorted(keys, starts)
    stop = np.searchsorted(keys, ends)
    for j, column in enumerate(amounts):
        # float64 weights are exact for integer sums below 2**53
        weights = column.astype(np.float64)
        if not weights.any():
            continue
        # each pool's loads end by its last breakpoint: the running sum is 0 between pools
        delta = np.bincount(first, weights, n + 1) - np.bincount(stop, weights, n + 1)
        free[j] -= np.cumsum(delta[:n]).round().astype(np.int64)


def _cut(
    keys: np.ndarray,
    free: np.ndarray,
    count: int,
    lo: int,
    hi: int,
    span: int,
    dims: tuple[str, ...],
) -> list[FreeProfile]:
    """The offset segments cut back into one profile per pool, adjacent equal ones merged."""
    n = len(keys) - 1
    pool_of = keys[:-1] // span
    # a segment starts each pool or differs from the one before; none spans two pools
    keep = np.ones(n, dtype=bool)
    keep[1:] = np.any(free[:, 1:] != free[:, :-1], axis=0) | (pool_of[1:] != pool_of[:-1])
    keep &= (keys[1:] // span) == pool_of
    kept = np.flatnonzero(keep)
    cuts = np.searchsorted(kept, np.searchsorted(keys, np.arange(count + 1) * span))
    times = keys % span + lo
    end = np.array([hi], dtype=np.int64)
    profiles = []
    for p in range(count):
        segments = kept[cuts[p] : cuts[p + 1]]
        profiles.append(
            FreeProfile(np.concatenate((times[segments], end)), free[:, segments], dims)
        )
    return profiles


def _merged(times: np.ndarray, free: np.ndarray, dims: tuple[str, ...]) -> FreeProfile:
    if free.shape[1] > 1:
        change = np.any(free[:, 1:] != free[:, :-1], axis=0)
        if not change.all():
            keep = np.concatenate(([True], change))
            times = np.concatenate((times[:-1][keep], times[-1:]))
            free = free[:, keep]
    return FreeProfile(times, free, dims)


def free_profile(
    *, pool: Pool, load: Sequence[Load], start: int, end: int
) -> list[tuple[int, int, dict[str, int]]]:
    """The pool's free capacity on [start, end) as [(start, end, {dim: free})], clamped at 0.

    ``load`` may hold loads of any pool; only this pool's count. Adjacent equal segments are
    merged. Every dimension the pool lists (in its base or its changes) is reported.
    """
    if start >= end:
        return []
    own = [item for item in load if item.pool == pool.slug]
    profile = build_profile(pool=pool, loads=own, lo=start, hi=end, dims=pool_dims(pool))
    return profile.segments()


def fits(*, pools: Iterable[Pool], load: Sequence[Load], offer: Offer) -> bool:
    """True iff every grant of the offer fits on its pool over its interval, given ``load``.

    Grants of the offer that share a pool share its capacity. A grant only needs room in the
    dimensions where it asks for a positive amount.
    """
    by_slug = {pool.slug: pool for pool in pools}
    if not all(_well_formed(grant, by_slug) for grant in offer.grants):
        return False
    used: dict[str, list[Load]] = {grant.pool: [] for grant in offer.grants}
    for item in load:
        if item.pool in used:
            used[item.pool].append(item)
    return all(
        _fits_on_pool(by_slug[slug], loads, [g for g in offer.grants if g.pool == slug])
        for slug, loads in used.items()
    )


def _well_formed(grant: Grant, by_slug: Mapping[str, Pool]) -> bool:
    return (
        grant.pool in by_slug
        and grant.start < grant.end
        and all(v >= 0 for v in grant.amounts.values())
    )


def _fits_on_pool(pool: Pool, loads: list[Load], grants: list[Grant]) -> bool:
    """The grants on ``pool``, together, over ``loads``: room in each dimension a grant asks
    a positive amount of."""
    lo = min(g.start for g in grants)
    hi = max(g.end for g in grants)
    dims = tuple(dict.fromkeys(d for g in grants for d, v in g.amounts.items() if v > 0))
    if not dims:
        return True
    extra = [Load(pool=pool.slug, start=g.start, end=g.end, amounts=g.amounts) for g in grants]
    profile = build_profile(pool=pool, loads=[*loads, *extra], lo=lo, hi=hi, dims=dims, clamp=False)
    for grant in grants:
        lowest = profile.window_min_one(grant.start, grant.end)
        for dim, value in zip(dims, lowest, strict=True):
            if grant.amounts.get(dim, 0) > 0 and value < 0:
                return False
    return True
