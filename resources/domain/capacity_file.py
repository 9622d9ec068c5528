"""The capacity file of DESIGN §7 (`load_capacity FILE.json`): load it all or nothing, dump it.

Sites, pools, datasets and templates are matched by slug and updated in place; capacity
changes by (pool, start, end); leases by `id` when the file gives one. Loading the same file
twice therefore changes nothing, and `capacity_file_dump()` writes back a file that loads to
the same state. Every problem is reported with the path of its entry (``pools[2].capacity:
…``) and nothing is written unless the whole file is good and no pool ends up over capacity.
"""

import re
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.errors import DomainError, FieldError
from bookings.domain.isotime import iso, parse_instant
from bookings.domain.lifecycle import lease_loaded_fields
from bookings.domain.planning.capacity import pools_over_capacity
from bookings.models import Allocation, Lease, LeaseEvent
from resources.choices import DIMENSIONS, DIMENSIONS_BY_KIND, PoolKind
from resources.domain.capacity import ADD, CHANGE, POOL, capacity_edit, capacity_run
from resources.models import CapacityChange, Dataset, DatasetReplica, Pool, Site, Template
from resources.validators import adapter_name_problem

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_SECTIONS = ("sites", "pools", "capacity_changes", "datasets", "templates", "leases")
_TOP_KEYS = set(_SECTIONS)
# The keys an entry of each list must have, and those it may have.
_KEYS = {
    "sites": ({"slug", "name"}, {"timezone", "description"}),
    "pools": (
        {"slug", "site", "kind", "capacity"},
        {"adapter", "adapter_settings", "enabled", "description"},
    ),
    "capacity_changes": ({"pool", "start", "capacity"}, {"end", "reason"}),
    "datasets": ({"slug", "size_gib"}, {"name", "replicas"}),
    "replicas": ({"site", "staging_gib_per_hour"}, {"data_pool"}),
    "templates": ({"slug", "name", "request"}, {"description"}),
    "leases": (
        {"owner", "phase", "start", "end", "allocations"},
        {"id", "name", "expires", "preparation_start"},
    ),
    "allocations": ({"pool", "amounts"}, {"start", "end", "component", "replica"}),
}


class _Checker:
    """Collects every problem of a file, each with its path, before anything is written."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        # Slugs the file defines, even in entries that failed: their uses are not re-reported.
        self.declared: dict[str, set] = {"site": set(), "pool": set()}
        # What each capacity write did (resources.domain.capacity.Impact.as_json).
        self.impacts: list[dict] = []

    def known(self, objects: dict, slug: Any, path: str, what: str) -> Any:
        if slug not in objects and slug not in self.declared[what]:
            self.fail(path, f"unknown {what} {slug!r}")
        return objects.get(slug)

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def entries(self, items: list, kind: str, under: str = "") -> Iterator[tuple[str, dict]]:
        """(path, entry) of each entry of the list `kind` (of the entry at `under`) that has
        the keys such an entry must have and no others."""
        required, optional = _KEYS[kind]
        for i, entry in enumerate(items):
            path = f"{under}.{kind}[{i}]" if under else f"{kind}[{i}]"
            if self.keys(entry, path, required, optional):
                yield path, entry

    def keys(self, entry: Any, path: str, required: set[str], optional: set[str]) -> bool:
        if not isinstance(entry, dict):
            self.fail(path, "must be an object")
            return False
        for key in sorted(required - entry.keys()):
            self.fail(f"{path}.{key}", "is required")
        for key in sorted(entry.keys() - required - optional):
            self.fail(f"{path}.{key}", "is not a known key")
        return required <= entry.keys()

    def slug(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not _SLUG.match(value):
            self.fail(path, f"{value!r} is not a slug (letters, digits, '-' and '_')")
            return None
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return ""
        return value

    def instant(self, value: Any, path: str) -> datetime | None:
        parsed = parse_instant(value)
        if parsed is None:
            self.fail(path, f"{value!r} is not an ISO 8601 date-time with a time zone")
            return None
        return parsed

    def amounts(self, value: Any, path: str, kind: str | None, nullable: bool = False) -> dict:
        if not isinstance(value, dict) or not value:
            self.fail(path, "must be a non-empty object of dimension: amount")
            return {}
        allowed = DIMENSIONS_BY_KIND.get(kind, DIMENSIONS) if kind else DIMENSIONS
        good = {}
        for dim, amount in value.items():
            if dim not in allowed:
                where = f"a {kind} pool" if kind else "a pool"
                known = ", ".join(allowed)
                self.fail(f"{path}.{dim}", f"unknown dimension for {where} (known: {known})")
            elif amount is None and nullable:
                continue
            elif isinstance(amount, bool) or not isinstance(amount, int):
                self.fail(f"{path}.{dim}", f"{amount!r} is not a whole number")
            elif amount < 0:
                self.fail(f"{path}.{dim}", f"{amount} is negative; capacities are ≥ 0")
            else:
                good[dim] = amount
        return good


def capacity_file_load(
    *, data: Any, dry_run: bool = False, impacts: list | None = None
) -> dict[str, int]:
    """Validate and write a capacity file in one transaction; return counts per section.

    Raises DomainError listing every problem (path and reason) and writes nothing on error.
    Each capacity write (a capacity change, a pool's base capacity or `enabled`) goes
    through resources.domain.capacity; what each did is appended to `impacts`. With
    `dry_run` everything is done and then rolled back: the impacts say what loading would
    do.
    """
    check = _Checker()
    sections = _sections(check, data)
    with transaction.atomic():
        counts = _load(check, sections)
        if check.errors:
            transaction.set_rollback(True)
            raise DomainError(
                "The capacity file is not valid; nothing was written.", errors=check.errors
            )
        if counts["leases"]:
            _check_fits()
        if dry_run:
            transaction.set_rollback(True)
    if impacts is not None:
        impacts += check.impacts
    return counts


def _sections(check: _Checker, data: Any) -> dict[str, list]:
    """The file's sections, or DomainError naming what is wrong with its shape."""
    if not isinstance(data, dict):
        raise DomainError("The capacity file must be a JSON object.")
    for key in sorted(data.keys() - _TOP_KEYS):
        check.fail(key, f"is not a known section (known: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("sites", "pools"):
        if key not in data:
            check.fail(key, "is required (it may be an empty list)")
    sections = {}
    for key in _SECTIONS:
        value = data.get(key, [])
        if not isinstance(value, list):
            check.fail(key, "must be a list")
            value = []
        sections[key] = value
    if check.errors:
        raise DomainError("The capacity file is not valid.", errors=check.errors)
    return sections


def _check_fits() -> None:
    """The file's leases fit the capacity (in the transaction: rolled back if not)."""
    overloads = pools_over_capacity()
    if overloads:
        transaction.set_rollback(True)
        raise DomainError(
            "The leases in the file do not fit the capacity; nothing was written.",
            code="over-capacity",
            errors=[
                FieldError(
                    f"leases (pool {o['pool']})",
                    f"{o['load']} {o['dimension']} booked at {o['at']:%Y-%m-%dT%H:%M:%SZ}"
                    f" but the capacity is {o['capacity']}",
                )
                for o in overloads[:10]
            ],
        )


def _load(check: _Checker, sections: dict[str, list]) -> dict[str, int]:
    """Each section in file order; a section sees what the ones before it wrote."""
    sites = _load_sites(check, sections["sites"])
    pools = _load_pools(check, sections["pools"], sites)
    _load_capacity_changes(check, sections["capacity_changes"], pools)
    _load_datasets(check, sections["datasets"], sites, pools)
    _load_templates(check, sections["templates"])
    for path, entry in check.entries(sections["leases"], "leases"):
        _load_lease(check, path, entry, pools)
    return {key: len(value) for key, value in sections.items()}


def _load_sites(check: _Checker, entries: list) -> dict[str, Site]:
    sites = {s.slug: s for s in Site.objects.all()}
    for path, entry in check.entries(entries, "sites"):
        slug = check.slug(entry["slug"], f"{path}.slug")
        check.declared["site"].add(entry["slug"])
        tz = entry.get("timezone", "UTC")
        if tz not in zoneinfo.available_timezones():
            check.fail(f"{path}.timezone", f"{tz!r} is not an IANA time zone")
        if slug and not check.errors:
            sites[slug], _ = Site.objects.update_or_create(
                slug=slug,
                defaults={
                    "name": check.text(entry["name"], f"{path}.name"),
                    "timezone": tz,
                    "description": entry.get("description", ""),
                },
            )
    return sites


def _load_pools(check: _Checker, entries: list, sites: dict[str, Site]) -> dict[str, Pool]:
    pools = {p.slug: p for p in Pool.objects.all()}
    for path, entry in check.entries(entries, "pools"):
        slug = check.slug(entry["slug"], f"{path}.slug")
        check.declared["pool"].add(entry["slug"])
        site = check.known(sites, entry["site"], f"{path}.site", "site")
        kind = entry["kind"]
        if kind not in PoolKind.values:
            check.fail(f"{path}.kind", f"{kind!r} is not one of {', '.join(PoolKind.values)}")
            kind = None
        capacity = check.amounts(entry["capacity"], f"{path}.capacity", kind)
        adapter = entry.get("adapter", "simulated")
        if problem := adapter_name_problem(adapter):
            check.fail(f"{path}.adapter", problem)
        settings = entry.get("adapter_settings", {})
        if not isinstance(settings, dict):
            check.fail(f"{path}.adapter_settings", "must be an object")
        existing = pools.get(slug)
        if existing is not None and kind and existing.kind != kind:
            check.fail(f"{path}.kind", f"{existing.slug} is a {existing.kind} pool; a kind stays")
        if slug and site and kind and not check.errors:
            fields = {
                "site": site,
                "kind": kind,
                "adapter": adapter,
                "adapter_settings": settings,
                "description": entry.get("description", ""),
            }
            enabled = bool(entry.get("enabled", True))
            if existing is None:  # a new pool has no bookings: no guard needed
                pools[slug] = Pool.objects.create(
                    slug=slug,
                    enabled=enabled,
                    **fields,
                    **{d: capacity.get(d, 0) for d in DIMENSIONS},
                )
                continue
            Pool.objects.filter(id=existing.id).update(**fields)
            base = {d: capacity.get(d, 0) for d in DIMENSIONS_BY_KIND[kind]}
            if enabled != existing.enabled or base != existing.capacity():
                # capacity is written by the guarded service, with its re-plan
                _apply(
                    check,
                    path,
                    action=POOL,
                    pool=existing,
                    data={"capacity": base, "enabled": enabled},
                )
            pools[slug] = Pool.objects.get(id=existing.id)
    return pools


def _load_capacity_changes(check: _Checker, entries: list, pools: dict[str, Pool]) -> None:
    for path, entry in check.entries(entries, "capacity_changes"):
        pool = check.known(pools, entry["pool"], f"{path}.pool", "pool")
        start = check.instant(entry["start"], f"{path}.start")
        end = check.instant(entry["end"], f"{path}.end") if entry.get("end") else None
        if start and end and end <= start:
            check.fail(f"{path}.end", "must be after the start")
        capacity = check.amounts(entry["capacity"], f"{path}.capacity", pool and pool.kind, True)
        if pool and start and capacity and not check.errors:
            change = CapacityChange.objects.filter(pool=pool, start=start, end=end).first()
            data = {
                "start": start,
                "end": end,
                "reason": entry.get("reason", ""),
                "capacity": {d: capacity.get(d) for d in DIMENSIONS_BY_KIND[pool.kind]},
            }
            _apply(
                check, path, action=CHANGE if change else ADD, pool=pool, change=change, data=data
            )


def _apply(check: _Checker, path: str, **edit) -> None:
    """One capacity write through the guarded service (resources.domain.capacity): the
    impact is planned (greedy and CP-SAT: a command is no request) and applied; refusals
    are reported under the entry's path."""
    try:
        check.impacts.append(capacity_run(capacity_edit(**edit), apply=True, actor=None))
    except DomainError as error:
        for item in error.errors or [FieldError("", error.title)]:
            check.fail(f"{path}.{item.path}" if item.path else path, item.message)


def _load_datasets(
    check: _Checker, entries: list, sites: dict[str, Site], pools: dict[str, Pool]
) -> None:
    for path, entry in check.entries(entries, "datasets"):
        slug = check.slug(entry["slug"], f"{path}.slug")
        size = entry["size_gib"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            check.fail(f"{path}.size_gib", f"{size!r} is not a whole number ≥ 0")
        replicas = entry.get("replicas", [])
        if not isinstance(replicas, list):
            check.fail(f"{path}.replicas", "must be a list")
            replicas = []
        if not (slug and not check.errors):
            continue
        dataset, _ = Dataset.objects.update_or_create(
            slug=slug, defaults={"size_gib": size, "name": entry.get("name", "")}
        )
        for rpath, replica in check.entries(replicas, "replicas", under=path):
            _load_replica(check, rpath, replica, dataset, sites, pools)


def _load_replica(
    check: _Checker,
    path: str,
    replica: dict,
    dataset: Dataset,
    sites: dict[str, Site],
    pools: dict[str, Pool],
) -> None:
    site = check.known(sites, replica["site"], f"{path}.site", "site")
    rate = replica["staging_gib_per_hour"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        check.fail(f"{path}.staging_gib_per_hour", f"{rate!r} is not a positive number")
    data_pool = None
    if replica.get("data_pool"):
        data_pool = pools.get(replica["data_pool"])
        if data_pool is None or data_pool.kind != PoolKind.DATA:
            check.fail(f"{path}.data_pool", f"{replica['data_pool']!r} is no data pool")
        elif data_pool.site_id != (site and site.id):
            check.fail(f"{path}.data_pool", "must be at the replica's site")
    if site and not check.errors:
        DatasetReplica.objects.update_or_create(
            dataset=dataset,
            site=site,
            defaults={"staging_gib_per_hour": rate, "data_pool": data_pool},
        )


def _load_templates(check: _Checker, entries: list) -> None:
    for path, entry in check.entries(entries, "templates"):
        slug = check.slug(entry["slug"], f"{path}.slug")
        if not isinstance(entry["request"], dict):
            check.fail(f"{path}.request", "must be an object (a request, DESIGN §4)")
        if slug and not check.errors:
            Template.objects.update_or_create(
                slug=slug,
                defaults={
                    "name": check.text(entry["name"], f"{path}.name"),
                    "request": entry["request"],
                    "description": entry.get("description", ""),
                },
            )


@dataclass(frozen=True)
class _LoadedAllocation:
    pool: Pool
    amounts: dict[str, int]
    start: datetime | None
    end: datetime | None
    component: str
    replica: int


def _load_lease(check: _Checker, path: str, entry: dict, pools: dict[str, Pool]) -> None:
    start, end, expires, lease_id = _lease_header(check, path, entry)
    rows = _lease_allocations(check, path, entry["allocations"], pools, start, end)
    sites = {row.pool.site_id for row in rows}
    if len(sites) > 1:
        check.fail(f"{path}.allocations", "all allocations of a lease must be at one site")
    if check.errors or not (start and end):
        return
    prep = min([start, *(row.start for row in rows)])
    if "preparation_start" in entry:
        prep = check.instant(entry["preparation_start"], f"{path}.preparation_start") or prep
    fields = {
        "phase": entry["phase"],
        "name": entry.get("name", ""),
        "site_id": sites.pop(),
        "start": start,
        "end": end,
        "preparation_start": prep,
        "expires": expires,
    }
    _lease_write(lease_id=lease_id, owner_name=entry["owner"], fields=fields, rows=rows)


def _lease_header(check: _Checker, path: str, entry: dict) -> tuple:
    """(start, end, expires, id) of a lease entry, each None where it is not good."""
    if entry["phase"] not in Phase.values:
        check.fail(f"{path}.phase", f"{entry['phase']!r} is not a lease phase")
    start = check.instant(entry["start"], f"{path}.start")
    end = check.instant(entry["end"], f"{path}.end")
    if start and end and end <= start:
        check.fail(f"{path}.end", "must be after the start")
    expires = check.instant(entry["expires"], f"{path}.expires") if "expires" in entry else None
    if entry["phase"] == Phase.OFFERED and expires is None:
        check.fail(f"{path}.expires", "is required for an OFFERED lease")
    lease_id = None
    if "id" in entry:
        try:
            lease_id = uuid.UUID(str(entry["id"]))
        except ValueError:
            check.fail(f"{path}.id", f"{entry['id']!r} is not a UUID")
    owner_name = entry["owner"]
    if not isinstance(owner_name, str) or not owner_name:
        check.fail(f"{path}.owner", "must be a user name")
    return start, end, expires, lease_id


def _lease_allocations(
    check: _Checker,
    path: str,
    allocations: Any,
    pools: dict[str, Pool],
    start: datetime | None,
    end: datetime | None,
) -> list[_LoadedAllocation]:
    """The good allocations of a lease entry; an interval left out is the lease's."""
    if not isinstance(allocations, list) or not allocations:
        check.fail(f"{path}.allocations", "must be a non-empty list")
        return []
    rows = []
    for apath, alloc in check.entries(allocations, "allocations", under=path):
        pool = check.known(pools, alloc["pool"], f"{apath}.pool", "pool")
        if pool is None:
            continue
        amounts = check.amounts(alloc["amounts"], f"{apath}.amounts", pool.kind)
        a_start = check.instant(alloc["start"], f"{apath}.start") if "start" in alloc else start
        a_end = check.instant(alloc["end"], f"{apath}.end") if "end" in alloc else end
        if a_start and a_end and a_end <= a_start:
            check.fail(f"{apath}.end", "must be after the start")
        rows.append(
            _LoadedAllocation(
                pool, amounts, a_start, a_end, alloc.get("component", ""), alloc.get("replica", 0)
            )
        )
    return rows


def _lease_write(
    *, lease_id: uuid.UUID | None, owner_name: str, fields: dict, rows: list[_LoadedAllocation]
) -> None:
    """The lease as its phase leaves it (lifecycle.lease_loaded_fields), its allocations
    replaced, and an event saying it came from a file."""
    owner, _ = get_user_model().objects.get_or_create(username=owner_name)
    fields = {
        "owner": owner,
        **fields,
        **lease_loaded_fields(
            phase=fields["phase"],
            preparation_start=fields["preparation_start"],
            end=fields["end"],
            now=timezone.now(),
        ),
    }
    if lease_id:
        lease, created = Lease.objects.update_or_create(id=lease_id, defaults=fields)
        lease.allocations.all().delete()
    else:
        lease, created = Lease.objects.create(**fields), True
    Allocation.objects.bulk_create(
        Allocation(
            lease=lease,
            pool=row.pool,
            component=row.component,
            replica=row.replica,
            period=DateTimeTZRange(row.start, row.end, "[)"),
            **{d: row.amounts.get(d, 0) for d in DIMENSIONS},
        )
        for row in rows
    )
    LeaseEvent.objects.create(
        lease=lease,
        to_phase=lease.phase,
        actor_kind=ActorKind.OPERATOR,
        message="loaded from a capacity file" if created else "updated from a capacity file",
    )


def capacity_file_dump() -> dict[str, list]:
    """The whole inventory, and every lease, in the capacity-file format."""
    return {
        "sites": [
            {"slug": s.slug, "name": s.name, "timezone": s.timezone, "description": s.description}
            for s in Site.objects.all()
        ],
        "pools": [
            {
                "slug": p.slug,
                "site": p.site.slug,
                "kind": p.kind,
                "capacity": p.capacity(),
                "adapter": p.adapter,
                "adapter_settings": p.adapter_settings,
                "enabled": p.enabled,
                "description": p.description,
            }
            for p in Pool.objects.select_related("site")
        ],
        "capacity_changes": [
            {
                "pool": c.pool.slug,
                "start": iso(c.start),
                "end": iso(c.end) if c.end else None,
                "capacity": c.capacity(),
                "reason": c.reason,
            }
            for c in CapacityChange.objects.select_related("pool").order_by("pool__slug", "start")
        ],
        "datasets": [
            {
                "slug": d.slug,
                "name": d.name,
                "size_gib": d.size_gib,
                "replicas": [
                    {
                        "site": r.site.slug,
                        "staging_gib_per_hour": r.staging_gib_per_hour,
                        **({"data_pool": r.data_pool.slug} if r.data_pool else {}),
                    }
                    for r in d.replicas.select_related("site", "data_pool")
                ],
            }
            for d in Dataset.objects.all()
        ],
        "templates": [
            {"slug": t.slug, "name": t.name, "description": t.description, "request": t.request}
            for t in Template.objects.all()
        ],
        "leases": [
            {
                "id": str(lease.id),
                "owner": lease.owner.username,
                "phase": lease.phase,
                "name": lease.name,
                "start": iso(lease.start),
                "end": iso(lease.end),
                "preparation_start": iso(lease.preparation_start),
                **({"expires": iso(lease.expires)} if lease.expires else {}),
                "allocations": [
                    {
                        "pool": a.pool.slug,
                        "amounts": a.amounts(nonzero=True),
                        "start": iso(a.start),
                        "end": iso(a.end),
                        "component": a.component,
                        "replica": a.replica,
                    }
                    for a in lease.allocations.select_related("pool").order_by("id")
                ],
            }
            for lease in Lease.objects.select_related("owner").order_by("start", "id")
        ],
    }
