"""Projects, their SU allocations, the ledger, pool rates and policy limits (issue 15).

The ledger is append-only: a `LedgerEntry` per change of what a lease owes, drawn from one
allocation (a charge is positive, a refund negative). What a lease owes is a function of its
phase, its price and its times (`projects.domain.ledger.lease_due`); `Lease.charged_su` is
the sum of its entries, kept beside it in the same statement. An allocation's balance is its
amount less the sum of the entries drawn from it.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from projects.choices import EntryKind, Role
from resources.models import Pool, Site

SU = {"max_digits": 14, "decimal_places": 2}


class Project(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    default = models.BooleanField(
        default=False, help_text="The project this user's requests charge unless they name one."
    )

    class Meta:
        ordering = ["project", "user"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
            models.UniqueConstraint(
                fields=["user"], condition=Q(default=True), name="membership_one_default"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.get_role_display()})"


class SUAllocation(models.Model):
    """An amount of service units a project may spend on leases that start within
    [valid_from, valid_to), at one site or (site empty) everywhere."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="allocations")
    su = models.DecimalField("SU", validators=[MinValueValidator(Decimal(0))], **SU)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField()
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, help_text="Empty: every site."
    )
    note = models.CharField(max_length=200, blank=True)
    # The sum of the ledger entries drawn from it, kept by projects.domain.ledger in the
    # statement that writes them: a charge reads it from the row it locks.
    spent_su = models.DecimalField("SU drawn", default=0, editable=False, **SU)

    class Meta:
        verbose_name = "allocation"
        ordering = ["project", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gt=F("valid_from")),
                name="allocation_ends_after_start",
                violation_error_message="An allocation must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(su__gte=0),
                name="allocation_su_not_negative",
                violation_error_message="An allocation cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        where = self.site.slug if self.site_id else "every site"
        period = f"{self.valid_from:%Y-%m-%d} to {self.valid_to:%Y-%m-%d}"
        return f"{self.project}: {self.su} SU, {where}, {period}"


class LedgerEntry(models.Model):
    """One change of what a lease owes, drawn from (or given back to) one allocation."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="entries")
    allocation = models.ForeignKey(
        SUAllocation, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    lease = models.ForeignKey(
        "bookings.Lease", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    su = models.DecimalField("SU", **SU)
    time = models.DateTimeField()
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["time", "id"]
        indexes = [models.Index(fields=["project", "time"]), models.Index(fields=["allocation"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=EntryKind.CHARGE) & Q(su__gt=0))
                | (Q(kind=EntryKind.REFUND) & Q(su__lt=0)),
                name="entry_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.su} SU ({self.project})"


class Rate(models.Model):
    """A pool's price: SU per unit and hour of each dimension, times `peak_factor` during its
    site's peak hours (local time; weekdays only unless `peak_weekends`). A change prices
    new offers; accepted leases keep the rates they were priced at."""

    pool = models.OneToOneField(Pool, on_delete=models.CASCADE, related_name="rate")
    cores = models.DecimalField("SU per core-hour", max_digits=10, decimal_places=4, default=0)
    memory_gib = models.DecimalField(
        "SU per GiB-hour of memory", max_digits=10, decimal_places=4, default=0
    )
    gpus = models.DecimalField("SU per GPU-hour", max_digits=10, decimal_places=4, default=0)
    size_gib = models.DecimalField(
        "SU per GiB-hour of storage", max_digits=10, decimal_places=4, default=0
    )
    readers = models.DecimalField("SU per reader-hour", max_digits=10, decimal_places=4, default=0)
    peak_factor = models.DecimalField(
        max_digits=6, decimal_places=3, default=1, validators=[MinValueValidator(Decimal(1))]
    )
    peak_start = models.TimeField(null=True, blank=True, help_text="Site's local time.")
    peak_end = models.TimeField(null=True, blank=True, help_text="Site's local time.")
    peak_weekends = models.BooleanField(default=False)

    class Meta:
        ordering = ["pool"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    cores__gte=0, memory_gib__gte=0, gpus__gte=0, size_gib__gte=0, readers__gte=0
                ),
                name="rate_not_negative",
                violation_error_message="A rate cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"rate of {self.pool}"


class PolicyLimit(models.Model):
    """Limits for leases at one site and/or of one project (empty: every one). The limit in
    force is the strictest of the settings' default and every row that applies."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, blank=True)
    max_concurrent_leases = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per user, at any instant."
    )
    max_future_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per user: booked hours ahead of now."
    )
    max_lead = models.DurationField(
        null=True, blank=True, help_text="How far ahead a lease starts."
    )
    max_duration = models.DurationField(null=True, blank=True)
    max_extension = models.DurationField(null=True, blank=True, help_text="Per extension.")
    max_pool_share = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Percent of a pool one project may hold at any instant.",
    )
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="No lease holds resources from (site's local time)…"
    )
    quiet_end = models.TimeField(null=True, blank=True, help_text="…until (local time).")

    class Meta:
        verbose_name = "policy limit"
        constraints = [
            models.UniqueConstraint(
                fields=["site", "project"], name="policy_one_per_scope", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="policy_quiet_hours_both",
                violation_error_message="Quiet hours need a start and an end.",
            ),
        ]

    def __str__(self) -> str:
        site = self.site.slug if self.site_id else "every site"
        project = self.project.slug if self.project_id else "every project"
        return f"policy for {project} at {site}"
