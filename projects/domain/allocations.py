"""Writing an allocation (admin, the demo seed): checked, and never below what was drawn."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from projects.domain.ledger import ZERO, lock_projects
from projects.models import LedgerEntry, SUAllocation


def allocation_save(allocation: SUAllocation) -> SUAllocation:
    """Validate and save `allocation` under its project's lock (the lock a charge takes):
    its end after its start, its SU not negative and not below what leases already drew from
    it. Raises ValidationError naming the field; nothing is written then."""
    with transaction.atomic():
        lock_projects([allocation.project_id])
        allocation_check(allocation)
        allocation.save()
    return allocation


def allocation_check(allocation: SUAllocation) -> None:
    """What `allocation_save` refuses (ValidationError by field), without writing."""
    allocation.full_clean()
    if allocation.pk:
        drawn = LedgerEntry.objects.filter(allocation_id=allocation.pk).aggregate(s=Sum("su"))
        drawn = drawn["s"] or ZERO
        if allocation.su < drawn:
            raise ValidationError(
                {
                    "su": f"{drawn:,} SU were already drawn from this allocation: it cannot be"
                    " smaller."
                }
            )
