"""The ledger: what a lease owes, and the entries that record each change of it (issue 15).

**The model.** A lease owes, by its phase:

- nothing while it is an offer, and nothing once REJECTED, EXPIRED or FAILED (a failed
  lease is refunded in full), nor once CANCELLED before its preparation began;
- its price (`Lease.cost_su`, quoted with the offer at the pool rates of that moment and
  frozen on the lease with those rates) while accepted and until it completes;
- the used part once released early or cancelled while preparing or later: the cost of its
  grants up to that instant, but at least of their first `BUDGET_MINIMUM_MINUTES`;
- an extension adds the extension's cost at the frozen rates, shortening takes the cut off.

`Lease.charged_su` is what its entries sum to. `leases_write` asks `lease_target` what each
change makes the lease owe and `ledger_entries` for the entries of the difference: a charge
(positive) drawn from the project's allocations that apply (its site's first, then every
site's; earliest to lapse first), a refund (negative) given back to the allocations it was
drawn from, last drawn first. A charge locks the project row first and fails with 409 naming
the project when the allocations left cannot pay it: two accepts racing for the last SU
serialise on that lock, and the second sees the first's entry. The entries are written in
the statement that writes the leases (their outbox rows too), so a change rolled back
leaves no entry.

Balance of an allocation = its SU less the sum of the entries drawn from it; of a project,
over its allocations = allocated - committed - used (projects.domain.usage splits the
charged part of live leases into used and committed at an instant).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bookings.choices import Phase
from bookings.domain.errors import DomainError
from bookings.domain.inventory import epoch
from projects.choices import EntryKind
from projects.domain.pricing import rates_from_json
from projects.models import LedgerEntry, Project, SUAllocation
from scheduler import engine

ZERO = Decimal("0.00")
NOTHING_OWED = frozenset({Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED, Phase.FAILED})
BEFORE_PREPARATION = frozenset({Phase.OFFERED, Phase.ACCEPTED, Phase.WAITING})


def lease_grants(lease, allocations=None) -> list[engine.Grant]:
    """The lease's allocations as engine grants (priced with `lease.rates`)."""
    if allocations is None:
        allocations = lease.allocations.select_related("pool")
    return [
        engine.Grant(
            component=a.component,
            replica=a.replica,
            pool=a.pool.slug,
            amounts=a.amounts(nonzero=True),
            start=epoch(a.start),
            end=epoch(a.end),
        )
        for a in allocations
    ]


def used_cost(lease, grants: Iterable[engine.Grant], at: datetime) -> Decimal:
    """What `grants` of `lease` cost up to `at`, but at least for their first
    `BUDGET_MINIMUM_MINUTES` (never more than all of them)."""
    grants = list(grants)
    if not grants:
        return ZERO
    first = min(g.start for g in grants)
    until = max(epoch(at), first + settings.BUDGET_MINIMUM_MINUTES * 60)
    return engine.grants_cost(grants, rates_from_json(lease.rates), end=until)


def lease_target(change, *, from_phase: str, now: datetime) -> Decimal | None:
    """What `change` (already applied to its lease) makes the lease owe; None: unchanged.
    A service that knows better (an extension, a release early) sets `charged_su` itself."""
    lease = change.lease
    if lease.project_id is None or "charged_su" in change.fields:
        return None
    if change.to is None:
        return None
    if change.to in NOTHING_OWED:
        return ZERO
    if change.to == Phase.ACCEPTED:
        return lease.cost_su or ZERO
    if change.to == Phase.CANCELLED:
        if from_phase in BEFORE_PREPARATION:
            return ZERO
        return min(lease.charged_su, used_cost(lease, lease_grants(lease), now))
    return None


@dataclass(frozen=True)
class Debit:
    lease: object
    su: Decimal  # what it owes more (positive) or less (negative)
    message: str


def ledger_entries(debits: list[Debit], *, now: datetime) -> tuple[list[LedgerEntry], list]:
    """The entries for `debits`, with the projects they charge locked first (in id order),
    and the (lease, message) budget warnings the charges cause; raises 409 before anything
    is written when a project's allocations cannot pay."""
    debits = [d for d in debits if d.su]
    if not debits:
        return [], []
    charged = sorted({d.lease.project_id for d in debits if d.su > 0})
    allocations = lock_allocations(charged) if charged else []
    entries: list[LedgerEntry] = []
    warnings = []
    # Refunds first: a fresh offer accepted for a displaced lease may spend what the lease
    # it replaces gives back in the same write.
    for debit in debits:
        if debit.su < 0:
            entries += _refund(debit, now)
    given = {}
    for entry in entries:
        given[entry.allocation_id] = given.get(entry.allocation_id, ZERO) - entry.su
    for debit in debits:
        if debit.su > 0:
            made, warning = _charge(debit, now, given, allocations)
            entries += made
            if warning:
                warnings.append((debit.lease, warning))
    return entries, warnings


def lock_allocations(project_ids: list[int]) -> list[tuple]:
    """Lock every allocation of the projects `project_ids` (in id order) and read them as
    they are once locked: (id, project, site, valid from, valid to, SU, SU drawn). Charges
    and allocation writes of a project serialise on these rows, and each reads what the one
    before it committed (PostgreSQL re-reads a row it waited for)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, project_id, site_id, valid_from, valid_to, su, spent_su"
            f" FROM {SUAllocation._meta.db_table} WHERE project_id = ANY(%s)"
            " ORDER BY id FOR UPDATE",
            [project_ids],
        )
        return cursor.fetchall()


def allocations_left(allocations, *, project_id: int, site_id: int, start: datetime) -> list:
    """(allocation id, SU allocated, SU left) of the locked `allocations` a lease of
    `project_id` at `site_id` starting at `start` draws from, in the order it draws (its
    site's first, then every site's; the soonest to lapse first)."""
    applying = [
        row
        for row in allocations
        if row[1] == project_id and row[2] in (None, site_id) and row[3] <= start < row[4]
    ]
    applying.sort(key=lambda row: (row[2] is None, row[4], row[0]))
    return [
        (id, Decimal(su), Decimal(su) - Decimal(spent)) for id, _, _, _, _, su, spent in applying
    ]


def _charge(
    debit: Debit, now: datetime, given: dict, allocations: list
) -> tuple[list[LedgerEntry], str]:
    """The entries of a charge; `given`: what refunds in the same write give back to each
    allocation (not yet in the table), spent here first-come."""
    lease = debit.lease
    left = [
        (id, su, value + given.get(id, ZERO))
        for id, su, value in allocations_left(
            allocations, project_id=lease.project_id, site_id=lease.site_id, start=lease.start
        )
    ]
    available = sum((max(ZERO, v) for _, _, v in left), ZERO)
    if available < debit.su:
        project = Project.objects.get(id=lease.project_id)
        raise DomainError(
            f"Project {project.slug!r} cannot pay for this: it needs {debit.su:,} SU and"
            f" {available:,} are left in the allocations that apply.",
            status=409,
            code="over-budget",
            extra={"project": project.slug, "needs_su": str(debit.su), "left_su": str(available)},
        )
    entries, due = [], debit.su
    for allocation_id, _, value in left:
        if due <= 0:
            break
        take = min(due, max(ZERO, value))
        if take > 0:
            entries.append(_entry(lease, allocation_id, EntryKind.CHARGE, take, debit, now))
            given[allocation_id] = given.get(allocation_id, ZERO) - take
            due -= take
    allocated = sum((su for _, su, _ in left), ZERO)
    after = available - debit.su
    warning = ""
    if allocated and after * 100 < allocated * settings.BUDGET_WARNING_PERCENT:
        warning = (
            f"After this booking {after:,} SU of {allocated:,} are left in the allocations"
            f" it draws from (under {settings.BUDGET_WARNING_PERCENT} %)."
        )
    return entries, warning


def _refund(debit: Debit, now: datetime) -> list[LedgerEntry]:
    lease = debit.lease
    drawn: dict[int | None, Decimal] = {}
    order: list[int | None] = []
    for allocation_id, su in (
        LedgerEntry.objects.filter(lease=lease)
        .order_by("time", "id")
        .values_list("allocation_id", "su")
    ):
        if allocation_id not in drawn:
            order.append(allocation_id)
        drawn[allocation_id] = drawn.get(allocation_id, ZERO) + su
    entries, due = [], -debit.su
    for allocation_id in reversed(order):
        if due <= 0:
            break
        give = min(due, drawn[allocation_id])
        if give > 0:
            entries.append(_entry(lease, allocation_id, EntryKind.REFUND, -give, debit, now))
            due -= give
    return entries


def _entry(lease, allocation_id, kind, su: Decimal, debit: Debit, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        project_id=lease.project_id,
        allocation_id=allocation_id,
        lease=lease,
        kind=kind,
        su=su,
        time=now,
        message=debit.message[:300],
    )


def project_left(project_id: int) -> tuple[Decimal, Decimal]:
    """(SU allocated in the allocations valid now or later, SU left in them)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COALESCE(SUM(su), 0), COALESCE(SUM(su - spent_su), 0)
                FROM {SUAllocation._meta.db_table}
                WHERE project_id = %s AND valid_to > %s""",
            [project_id, now],
        )
        allocated, left = cursor.fetchone()
    return Decimal(allocated), Decimal(left)


def minimum_window() -> timedelta:
    return timedelta(minutes=settings.BUDGET_MINIMUM_MINUTES)
