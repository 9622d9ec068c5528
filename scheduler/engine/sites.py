"""A request's share at each site: the pools its items may use, the items, their profiles.

``sites_for`` turns the request (components, datasets and their staging) into one ``Site``
per site where everything has an eligible pool; ``loads_by_pool`` and ``pool_profiles``
give those pools their free-capacity profiles.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from . import packing
from .model import Component, Dataset, Load, Pool, PoolLoad, Reason, Request
from .packing import Item
from .profile import FreeProfile, build_profiles, columns, concatenated
from .times import ceil_step

PLACEMENT_LIMIT = 64


@dataclass
class Site:
    """One site's share of a request: the pools its items may use and the items themselves."""

    name: str
    order: int
    pools: list[Pool]
    prep: list[int]
    items: list[Item]
    reports: list[tuple[str, ...]]
    profiles: list[FreeProfile] = field(default_factory=list)
    # Stacks of its profiles (``feasibility._groups``), shared with its copies: `replace`
    # passes it on.
    stacks: dict = field(default_factory=dict, repr=False, compare=False)
    # Policy limits here (``limits.constrain_sites``): the latest start, the longest duration.
    latest: int | None = None
    longest: int | None = None

    def with_items(self, items: list[Item], profiles: list[FreeProfile]) -> Site:
        return replace(self, items=items, reports=[()] * len(items), profiles=profiles)

    @cached_property
    def groups(self) -> list[list[int]]:
        return packing.group_items(self.items)

    @cached_property
    def plan(self) -> list[KindPlan] | None:
        """How to decide feasibility exactly with array operations, or None if too costly.

        Per kind: the largest group of identical replicas is counted (how many fit on each
        pool), every other item is placed one by one over all its pools.
        """
        plans = []
        kinds: dict[str, list[list[int]]] = {}
        for group in self.groups:
            kinds.setdefault(self.items[group[0]].kind, []).append(group)
        for groups in kinds.values():
            groups = sorted(groups, key=len, reverse=True)
            counted = groups[0] if len(groups[0]) > 1 else None
            singles = [i for g in (groups[1:] if counted else groups) for i in g]
            if math.prod(len(self.items[i].pools) for i in singles) > PLACEMENT_LIMIT:
                return None
            placements = tuple(itertools.product(*(self.items[i].pools for i in singles)))
            lows = [np.array(self.items[i].low, dtype=np.int64)[:, None] for i in singles]
            plans.append(
                KindPlan(
                    singles=tuple(lows),
                    placements=placements,
                    counted=self.items[counted[0]] if counted else None,
                    count=len(counted) if counted else 0,
                )
            )
        return plans


@dataclass(frozen=True)
class KindPlan:
    """One pool kind's exact test: the single items' minimums and every placement of them;
    the group of ``count`` identical replicas counted in what each placement leaves."""

    singles: tuple[np.ndarray, ...]
    placements: tuple[tuple[int, ...], ...]
    counted: Item | None
    count: int


def sites_for(
    *, pools: Sequence[Pool], request: Request, datasets: Sequence[Dataset], step: int
) -> tuple[list[Site], list[Reason], dict[str, tuple[str, ...]]]:
    """Each site where every component and dataset has an eligible pool, with its items;
    also the dimensions the request uses per pool kind (one profile row each)."""
    names = list(dict.fromkeys(pool.site for pool in pools))
    reasons: list[Reason] = []
    if request.site is not None:
        if request.site not in names:
            reason = Reason("no-site", None, None, f"there is no pool at site {request.site!r}")
            return [], [reason], {}
        names = [request.site]
    catalogue = {dataset.slug: dataset for dataset in datasets}
    for slug in request.datasets:
        if slug not in catalogue:
            message = f"dataset {slug!r} is unknown"
            return [], [Reason("dataset", f"dataset:{slug}", None, message)], {}
    kind_dims: dict[str, tuple[str, ...]] = {}
    wants = [(c.kind, dim) for c in request.components for dim in c.amounts]
    if request.datasets:
        wants += [("storage", "size_gib"), ("data", "readers")]
    for kind, dim in wants:
        kind_dims[kind] = tuple(dict.fromkeys((*kind_dims.get(kind, ()), dim)))
    sites = []
    for order, name in enumerate(names):
        local = [pool for pool in pools if pool.site == name]
        site, why = _site(
            name=name,
            order=order,
            local=local,
            every_pool={pool.slug: pool for pool in pools},
            request=request,
            datasets=[catalogue[slug] for slug in request.datasets],
            kind_dims=kind_dims,
            step=step,
        )
        if site is None:
            reasons.extend(why)
        else:
            sites.append(site)
    return sites, reasons, kind_dims


# (component, the dimensions its grants report, its eligible pools at a site)
_Wanted = tuple[Component, tuple[str, ...], list[Pool]]
# (label, dimension, amount, eligible pools) of a dataset's reader or copy at a site
_DatasetNeed = tuple[str, str, int, list[Pool]]


def _site(
    *,
    name: str,
    order: int,
    local: list[Pool],
    every_pool: dict[str, Pool],
    request: Request,
    datasets: list[Dataset],
    kind_dims: dict[str, tuple[str, ...]],
    step: int,
) -> tuple[Site | None, list[Reason]]:
    wanted, reasons = _components_at(name, local, request.components)
    staging = 0
    extra: list[_DatasetNeed] = []
    for dataset in datasets:
        seconds, need, why = _dataset_at(name, local, every_pool, dataset, step)
        staging = max(staging, seconds)
        if why is not None:
            reasons.append(why)
        elif need is not None:
            extra.append(need)
    if reasons:
        return None, reasons
    used = {pool.slug for _, _, eligible in wanted for pool in eligible}
    used |= {pool.slug for *_, eligible in extra for pool in eligible}
    chosen = [pool for pool in local if pool.slug in used]
    items, reports = _items(wanted, extra, chosen, kind_dims)
    prep = [pool.setup_seconds + staging for pool in chosen]
    return Site(name, order, chosen, prep, items, reports), []


def _components_at(
    name: str, local: list[Pool], components: Sequence[Component]
) -> tuple[list[_Wanted], list[Reason]]:
    """Each component with the dimensions it reports and its eligible pools at the site."""
    reasons: list[Reason] = []
    wanted: list[_Wanted] = []
    for component in components:
        eligible = [pool for pool in local if pool.kind == component.kind]
        if not eligible:
            message = f"{component.name}: no {component.kind} pool at site {name}"
            reasons.append(Reason("no-eligible-pool", component.name, None, message))
        wanted.append((component, tuple(component.amounts), eligible))
    return wanted, reasons


def _dataset_at(
    name: str, local: list[Pool], every_pool: dict[str, Pool], dataset: Dataset, step: int
) -> tuple[int, _DatasetNeed | None, Reason | None]:
    """What ``dataset`` needs at the site: its staging time, and a reader on the replica's data
    pool or a copy on a storage pool (neither for a replica without a data pool), or why the
    site cannot have it."""
    label = f"dataset:{dataset.slug}"
    here = next((r for r in dataset.replicas if r.site == name), None)
    if here is not None:
        if here.data_pool is None:
            return 0, None, None
        pool = every_pool.get(here.data_pool)
        if pool is None or pool.site != name or pool.kind != "data":
            message = f"{label}: data pool {here.data_pool!r} is not a data pool at {name}"
            return 0, None, Reason("dataset", label, "readers", message)
        return 0, (label, "readers", 1, [pool]), None
    rates = [r.staging_gib_per_hour for r in dataset.replicas if r.staging_gib_per_hour > 0]
    storage = [pool for pool in local if pool.kind == "storage"]
    if not rates:
        message = f"{label}: no replica of {dataset.slug} to copy to {name} from"
        return 0, None, Reason("dataset", label, None, message)
    if not storage:
        message = f"{label}: no storage pool at {name} to copy {dataset.slug} to"
        return 0, None, Reason("no-eligible-pool", label, "size_gib", message)
    staging = ceil_step(math.ceil(dataset.size_gib * 3600 / max(rates)), step)
    return staging, (label, "size_gib", dataset.size_gib, storage), None


def _items(
    wanted: list[_Wanted],
    extra: list[_DatasetNeed],
    chosen: list[Pool],
    kind_dims: dict[str, tuple[str, ...]],
) -> tuple[list[Item], list[tuple[str, ...]]]:
    """One item per replica and per dataset need, with the dimensions each reports."""
    index = {pool.slug: p for p, pool in enumerate(chosen)}
    items, reports = [], []
    for component, report, eligible in wanted:
        kd = kind_dims[component.kind]
        low = tuple(component.amounts[d].min if d in component.amounts else 0 for d in kd)
        high = tuple(component.amounts[d].max if d in component.amounts else 0 for d in kd)
        allowed = tuple(index[pool.slug] for pool in eligible)
        for replica in range(component.replicas):
            items.append(Item(component.name, replica, component.kind, kd, low, high, allowed))
            reports.append(report)
    for label, dim, amount, eligible in extra:
        kind = eligible[0].kind
        kd = kind_dims[kind]
        low = tuple(amount if d == dim else 0 for d in kd)
        allowed = tuple(index[pool.slug] for pool in eligible)
        items.append(Item(label, 0, kind, kd, low, low, allowed))
        reports.append((dim,))
    return items, reports


def loads_by_pool(
    sites: list[Site], load: Sequence[Load | PoolLoad], lo: int, hi: int
) -> dict[str, list[Load] | PoolLoad]:
    """The load on each pool the request may use that overlaps [lo, hi): a list of ``Load``s,
    or one ``PoolLoad`` where the caller gave columns (joined with any ``Load``s)."""
    wanted: dict[str, list] = {pool.slug: [] for site in sites for pool in site.pools}
    get = wanted.get
    columnar: dict[str, list[PoolLoad]] = {}
    for item in load:
        bucket = get(item.pool)
        if bucket is None:
            continue
        if isinstance(item, PoolLoad):
            columnar.setdefault(item.pool, []).append(item)
        elif item.start < hi and item.end > lo:
            bucket.append(item)
    for slug, parts in columnar.items():
        if wanted[slug]:
            names = set().union(*(part.amounts for part in parts))
            parts = [*parts, columns(slug, wanted[slug], names)]
        wanted[slug] = parts[0] if len(parts) == 1 else _joined(slug, parts)
    return wanted


def _joined(slug: str, parts: list[PoolLoad]) -> PoolLoad:
    names = set().union(*(part.amounts for part in parts))
    return PoolLoad(
        pool=slug,
        starts=np.concatenate([part.starts for part in parts]),
        ends=np.concatenate([part.ends for part in parts]),
        amounts={dim: concatenated(parts, dim) for dim in names},
    )


def pool_profiles(
    sites: list[Site],
    dims: dict[str, tuple[str, ...]],
    loads: dict[str, list[Load] | PoolLoad],
    lo: int,
    hi: int,
    not_before: int | None,
) -> dict[str, FreeProfile]:
    """One free profile per pool the request may use, over [lo, hi); nothing before
    ``not_before`` is usable (preparation cannot happen in the past)."""
    by_kind: dict[str, dict[str, Pool]] = {}
    for site in sites:
        for pool in site.pools:
            by_kind.setdefault(pool.kind, {})[pool.slug] = pool
    profiles = {}
    for kind, pools in by_kind.items():
        built = build_profiles(
            pools=list(pools.values()), loads=loads, lo=lo, hi=hi, dims=dims[kind]
        )
        for slug, profile in zip(pools, built, strict=True):
            if not_before is not None:
                profile = profile.blocked(lo, not_before)
            profiles[slug] = profile
    return profiles


def attach_profiles(sites: list[Site], profiles: dict[str, FreeProfile]) -> None:
    for site in sites:
        site.profiles = [profiles[pool.slug] for pool in site.pools]
