"""What a project has used, committed and left, now and over time; the usage report (issue 15).

At an instant t, for each lease of the project: *spent* is the sum of its ledger entries
made by t; *used* is the part of that its grants had consumed by t (their cost up to t at the
lease's frozen rates, never more than spent); *committed* is spent less used (booked, not yet
consumed). *Allocated* is the SU of the allocations granted by t (valid_from <= t); *left* =
allocated - committed - used, which at the present is what the ledger says is left.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from bookings.choices import FINAL_PHASES
from bookings.domain.inventory import epoch
from bookings.models import Lease
from projects.choices import EntryKind, Role
from projects.domain.ledger import ZERO, lease_grants
from projects.domain.pricing import rates_from_json
from projects.models import LedgerEntry, Project, SUAllocation
from scheduler import engine

POINTS = 40


@dataclass(frozen=True)
class Point:
    time: datetime
    used: Decimal
    committed: Decimal
    left: Decimal
    allocated: Decimal


@dataclass
class _Lease:
    lease: Lease
    grants: list
    rates: dict
    entries: list[tuple[datetime, Decimal]]

    def spent(self, at: datetime) -> Decimal:
        return sum((su for t, su in self.entries if t <= at), ZERO)

    def used(self, at: datetime) -> Decimal:
        spent = self.spent(at)
        if spent <= 0:
            return ZERO
        return min(spent, engine.grants_cost(self.grants, self.rates, end=epoch(at)))


def _leases(project: Project) -> list[_Lease]:
    entries: dict = {}
    for lease_id, time, su in LedgerEntry.objects.filter(project=project).values_list(
        "lease_id", "time", "su"
    ):
        entries.setdefault(lease_id, []).append((time, su))
    leases = Lease.objects.filter(id__in=list(entries)).prefetch_related("allocations__pool")
    return [
        _Lease(
            lease,
            lease_grants(lease, lease.allocations.all()),
            rates_from_json(lease.rates),
            entries[lease.id],
        )
        for lease in leases
    ]


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _allocated(allocations, at: datetime) -> Decimal:
    return sum((a.su for a in allocations if a.valid_from <= at), ZERO)


def point(leases: list[_Lease], allocations, at: datetime) -> Point:
    used = sum((item.used(at) for item in leases), ZERO)
    spent = sum((item.spent(at) for item in leases), ZERO)
    allocated = _allocated(allocations, at)
    return Point(at, used, spent - used, allocated - spent, allocated)


def project_usage(project: Project, *, now: datetime | None = None, points: int = POINTS) -> dict:
    """The project's balance now, its allocations and leases, and a series over time (from
    its first allocation or charge to its last booked end, past and projected)."""
    now = now or timezone.now()
    allocations = list(project.allocations.select_related("site"))
    leases = _leases(project)
    here = point(leases, allocations, now)
    # From a day before the first charge (or now) to a day after the last booked end; the
    # instants where a band changes slope (charges, grants beginning and ending) are points.
    charges = [t for x in leases for t, _ in x.entries]
    first = min([*charges, now]) - timedelta(days=1)
    last = max([now, *(x.lease.end for x in leases)]) + timedelta(days=1)
    step = (last - first) / (points - 1)
    series = {first + step * i for i in range(points)} | {now} | set(charges)
    series |= {
        instant
        for x in leases
        for g in x.grants
        for instant in (_instant(g.start), _instant(g.end))
        if first <= _instant(g.start) <= last or first <= _instant(g.end) <= last
    }
    series = sorted(t for t in series if first <= t <= last)
    spent = dict(
        LedgerEntry.objects.filter(allocation__project=project)
        .values_list("allocation_id")
        .annotate(s=Sum("su"))
    )
    return {
        "project": project,
        "now": here,
        "allocations": [
            {"allocation": a, "left": a.su - spent.get(a.id, ZERO)} for a in allocations
        ],
        "leases": sorted(
            (
                {
                    "lease": x.lease,
                    "charged": x.spent(now),
                    "used": x.used(now),
                    "committed": x.spent(now) - x.used(now),
                    "live": x.lease.phase not in FINAL_PHASES,
                }
                for x in leases
            ),
            key=lambda row: row["lease"].start,
            reverse=True,
        ),
        "series": [point(leases, allocations, t) for t in series],
    }


def usage_json(usage: dict) -> dict:
    def money(value: Decimal) -> str:
        return str(value.quantize(Decimal("0.01")))

    def point_json(p: Point) -> dict:
        return {
            "time": p.time.isoformat().replace("+00:00", "Z"),
            "allocated_su": money(p.allocated),
            "used_su": money(p.used),
            "committed_su": money(p.committed),
            "left_su": money(p.left),
        }

    project = usage["project"]
    return {
        "project": project.slug,
        "name": project.name,
        **{k: v for k, v in point_json(usage["now"]).items()},
        "allocations": [
            {
                "id": row["allocation"].id,
                "su": money(row["allocation"].su),
                "left_su": money(row["left"]),
                "site": row["allocation"].site.slug if row["allocation"].site_id else None,
                "valid_from": row["allocation"].valid_from.isoformat().replace("+00:00", "Z"),
                "valid_to": row["allocation"].valid_to.isoformat().replace("+00:00", "Z"),
            }
            for row in usage["allocations"]
        ],
        "leases": [
            {
                "id": str(row["lease"].id),
                "name": row["lease"].name,
                "phase": row["lease"].phase,
                "charged_su": money(row["charged"]),
                "used_su": money(row["used"]),
                "committed_su": money(row["committed"]),
            }
            for row in usage["leases"]
        ],
        "series": [point_json(p) for p in usage["series"]],
    }


REPORT_COLUMNS = [
    "project",
    "name",
    "pi",
    "site",
    "allocated_su",
    "charged_su",
    "refunded_su",
    "used_su",
    "committed_su",
    "left_su",
    "leases",
]


def usage_report_csv(projects=None, *, now: datetime | None = None) -> str:
    """One row per project and site, for an allocation committee. `allocated_su` and
    `left_su` are those of the allocations for that site (site "*": for every site);
    `charged_su`, `refunded_su`, `used_su`, `committed_su` and `leases` those of the leases
    that ran there."""
    now = now or timezone.now()
    projects = list(projects if projects is not None else Project.objects.all())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for project in projects:
        pis = ", ".join(
            m.user.get_username()
            for m in project.memberships.filter(role=Role.PI).select_related("user")
        )
        leases = {x.lease.id: x for x in _leases(project)}
        allocated = {
            row["site__slug"] or "*": row["s"]
            for row in SUAllocation.objects.filter(project=project)
            .values("site__slug")
            .annotate(s=Sum("su"))
        }
        entries = (
            LedgerEntry.objects.filter(project=project)
            .values("lease__site__slug")
            .annotate(
                charged=Sum("su", filter=Q(kind=EntryKind.CHARGE)),
                refunded=Sum("su", filter=Q(kind=EntryKind.REFUND)),
                leases=Count("lease", distinct=True),
            )
        )
        by_site = {row["lease__site__slug"]: row for row in entries}
        drawn = {
            row["allocation__site__slug"] or "*": row["s"]
            for row in LedgerEntry.objects.filter(project=project)
            .values("allocation__site__slug")
            .annotate(s=Sum("su"))
        }
        for site in sorted(set(allocated) | set(by_site)):
            row = by_site.get(site, {})
            mine = [x for x in leases.values() if x.lease.site.slug == site]
            used = sum((x.used(now) for x in mine), ZERO)
            spent = sum((x.spent(now) for x in mine), ZERO)
            charged, refunded = row.get("charged") or ZERO, row.get("refunded") or ZERO
            left = (allocated.get(site) or ZERO) - (drawn.get(site) or ZERO)
            writer.writerow(
                [
                    project.slug,
                    project.name,
                    pis,
                    site,
                    allocated.get(site) or ZERO,
                    charged,
                    -refunded,
                    used,
                    spent - used,
                    left,
                    row.get("leases", 0),
                ]
            )
    return out.getvalue()
