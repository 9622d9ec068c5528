"""Plain dataclasses the engine takes and returns (see the package docstring for semantics).

Times are integer seconds since the Unix epoch (UTC); amounts are non-negative integers;
dimensions are strings ("cores", "memory_gib", "gpus", "size_gib", "readers").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

YES = "YES"
NO = "NO"


@dataclass(frozen=True)
class CapacityChange:
    """Replaces the listed dimensions' capacity for [start, end); end None is open-ended."""

    start: int
    end: int | None
    capacity: Mapping[str, int]


@dataclass(frozen=True)
class Pool:
    slug: str
    site: str
    kind: str
    base: Mapping[str, int]
    changes: Sequence[CapacityChange] = ()
    setup_seconds: int = 0


@dataclass(frozen=True)
class Load:
    """An existing allocation on a pool over [start, end)."""

    pool: str
    start: int
    end: int
    amounts: Mapping[str, int]


@dataclass(frozen=True, eq=False)
class PoolLoad:
    """The load of one pool in columns: item i uses ``amounts[dim][i]`` over
    [``starts[i]``, ``ends[i]``). The same as one ``Load`` per item, for callers that keep
    their load in arrays (numpy int64, all of one length; a dimension left out is 0)."""

    pool: str
    starts: np.ndarray
    ends: np.ndarray
    amounts: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Range:
    min: int
    max: int


@dataclass(frozen=True)
class Component:
    name: str
    kind: str
    amounts: Mapping[str, Range]
    replicas: int = 1


@dataclass(frozen=True)
class DatasetReplica:
    """A copy of a dataset at a site; data_pool's "readers" bound concurrent readers there."""

    site: str
    staging_gib_per_hour: float
    data_pool: str | None = None


@dataclass(frozen=True)
class Dataset:
    slug: str
    size_gib: int
    replicas: Sequence[DatasetReplica]


@dataclass(frozen=True)
class Request:
    components: Sequence[Component]
    duration: Range
    start_earliest: int
    start_latest: int
    datasets: Sequence[str] = ()
    site: str | None = None
    max_offers: int = 4


EVERY_SITE = "*"


@dataclass(frozen=True)
class Limit:
    """One policy limit on a request (fair share, DESIGN §8a), already turned into instants
    and amounts by the caller. ``message`` names it ("at most 2 concurrent leases per user");
    a NO it causes carries a Reason of kind ``kind`` with that message.

    - ``blocked``: site → [start, end) intervals no grant of the lease (its preparation
      included) may overlap (quiet hours, a user's concurrent-lease limit);
    - ``caps``: pool → (start, end, {dim: most}) segments: the most the request may use of
      that pool then, beside the pool's free capacity (a project's share of a pool);
    - ``latest_start`` and ``longest``: site (or ``EVERY_SITE``) → the latest start, the
      longest duration there (lead time, duration, booked hours ahead).
    """

    kind: str
    message: str
    blocked: Mapping[str, Sequence[tuple[int, int]]] = field(default_factory=dict)
    caps: Mapping[str, Sequence[tuple[int, int, Mapping[str, int]]]] = field(default_factory=dict)
    latest_start: Mapping[str, int] = field(default_factory=dict)
    longest: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Rate:
    """Service units per unit and hour of each dimension on one pool; during the peak hours
    ([``peak_start``, ``peak_end``) minutes of the day in ``zone``, on ``peak_weekdays``, 0 =
    Monday) every rate is ``peak_factor`` times higher."""

    per_hour: Mapping[str, Decimal]
    peak_factor: Decimal = Decimal(1)
    peak_start: int = 0
    peak_end: int = 0
    zone: str = "UTC"
    peak_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Budget:
    """What the request may cost: ``remaining`` SU (None: no limit, prices only), or
    ``by_site`` where a site has its own, at the ``rates`` of the pools (a pool not listed
    is free). Offers are priced and sized to it; a NO names it (kind "budget")."""

    remaining: Decimal | None
    rates: Mapping[str, Rate]
    by_site: Mapping[str, Decimal] = field(default_factory=dict)

    def left(self, site: str) -> Decimal | None:
        return self.by_site.get(site, self.remaining)


@dataclass(frozen=True)
class Policy:
    """``solver_time_limit`` is CP-SAT's budget for a whole call; ``horizon_after_window`` how
    far past the window a NO answer looks for a later start; with ``not_before`` (usually
    now) no grant, preparation included, starts earlier. ``limits`` and ``budget`` are the
    fair-share constraints every offer (and every suggestion) keeps."""

    step: int = 60
    max_offers: int = 10
    solver_time_limit: float = 0.05
    horizon_after_window: int = 7 * 86400
    not_before: int | None = None
    limits: tuple[Limit, ...] = ()
    budget: Budget | None = None


@dataclass(frozen=True)
class Grant:
    component: str
    replica: int
    pool: str
    amounts: Mapping[str, int]
    start: int
    end: int


@dataclass(frozen=True)
class Offer:
    site: str
    start: int
    end: int
    preparation_start: int
    grants: tuple[Grant, ...]
    # Its price in SU at the budget's rates (None: no budget given).
    cost: Decimal | None = None


@dataclass(frozen=True)
class Reason:
    kind: str
    component: str | None
    dimension: str | None
    message: str


@dataclass(frozen=True)
class Suggestion:
    kind: str
    message: str
    request: Request
    offer: Offer


@dataclass(frozen=True)
class Answer:
    result: str
    offers: tuple[Offer, ...]
    reasons: tuple[Reason, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()


def validate(*, pools: Sequence[Pool], request: Request, policy: Policy) -> None:
    """Raise ValueError for malformed input; unsatisfiable input is a NO answer instead."""
    if policy.step <= 0:
        raise ValueError("policy.step must be positive")
    if policy.max_offers < 1 or request.max_offers < 1:
        raise ValueError("max_offers must be at least 1")
    _check_pools(pools)
    _check_request(request)


def _check_pools(pools: Sequence[Pool]) -> None:
    slugs = [p.slug for p in pools]
    if len(set(slugs)) != len(slugs):
        raise ValueError("pool slugs must be unique")
    for pool in pools:
        if pool.setup_seconds < 0 or any(v < 0 for v in pool.base.values()):
            raise ValueError(f"pool {pool.slug}: negative capacity or setup time")
        for change in pool.changes:
            if any(v < 0 for v in change.capacity.values()):
                raise ValueError(f"pool {pool.slug}: negative capacity change")


def _check_request(request: Request) -> None:
    _check_range(request.duration, "duration")
    if request.duration.min <= 0:
        raise ValueError("duration.min must be positive")
    if not request.components:
        raise ValueError("a request needs at least one component")
    names = [c.name for c in request.components]
    if len(set(names)) != len(names):
        raise ValueError("component names must be unique")
    for component in request.components:
        if component.replicas < 1:
            raise ValueError(f"component {component.name}: replicas must be at least 1")
        if not component.amounts:
            raise ValueError(f"component {component.name}: amounts must list a dimension")
        for dim, amount in component.amounts.items():
            _check_range(amount, f"component {component.name} {dim}")


def _check_range(value: Range, what: str) -> None:
    if value.min < 0 or value.max < value.min:
        raise ValueError(f"{what}: need 0 <= min <= max, got {value.min}..{value.max}")
