"""Writing an allocation (admin, the demo seed): checked, and never below what was drawn."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from projects.domain.ledger import ZERO, lock_allocations
from projects.models import LedgerEntry, SUAllocation

# What an allocation write may change: never what the ledger keeps (`spent_su`).
FIELDS = ["project", "su", "site", "valid_from", "valid_to", "note"]


def allocation_save(allocation: SUAllocation) -> SUAllocation:
    """Validate and save `allocation` with its project's allocations locked (as a charge
    locks them):
    its end after its start, its SU not negative and not below what leases already drew from
    it. Raises ValidationError naming the field; nothing is written then."""
    with transaction.atomic():
        locked = {row[0]: row for row in lock_allocations([allocation.project_id])}
        allocation_check(allocation)
        if allocation.pk in locked and allocation.su < locked[allocation.pk][6]:
            raise ValidationError(
                {
                    "su": f"{locked[allocation.pk][6]:,} SU were already drawn from this"
                    " allocation: it cannot be smaller."
                }
            )
        allocation.save(update_fields=None if allocation._state.adding else FIELDS)
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
