"""Sites, pools and their capacity timelines, datasets and booking templates (DESIGN §3).

Capacity is stored as one integer column per dimension rather than a JSON map, so that the
database itself enforces "never negative" and "only the dimensions of the pool's kind".
"""

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from resources.choices import DIMENSIONS, DIMENSIONS_BY_KIND, PoolKind
from resources.validators import validate_adapter_name


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).")


def _only_dimensions_of(kind: str) -> Q:
    """Q: the row is of `kind` and every dimension that kind lacks is zero."""
    zeros = {dim: 0 for dim in DIMENSIONS if dim not in DIMENSIONS_BY_KIND[kind]}
    return Q(kind=kind, **zeros)


class Dimensions(models.Model):
    """One non-negative integer column per capacity dimension."""

    cores = models.PositiveIntegerField(default=0)
    memory_gib = models.PositiveIntegerField("memory (GiB)", default=0)
    gpus = models.PositiveIntegerField(default=0)
    size_gib = models.PositiveBigIntegerField("size (GiB)", default=0)
    readers = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def amounts(self, *, nonzero: bool = False) -> dict[str, int]:
        values = {dim: getattr(self, dim) for dim in DIMENSIONS}
        return {d: v for d, v in values.items() if v or not nonzero}


class Site(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Pool(Dimensions):
    """A homogeneous group of resources at a site; a request replica must fit in one pool."""

    slug = models.SlugField(unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="pools")
    kind = models.CharField(max_length=16, choices=PoolKind.choices)
    adapter = models.CharField(
        max_length=64, default="simulated", validators=[validate_adapter_name]
    )
    adapter_settings = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["site__slug", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=_only_dimensions_of(PoolKind.COMPUTE)
                | _only_dimensions_of(PoolKind.STORAGE)
                | _only_dimensions_of(PoolKind.DATA),
                name="pool_dimensions_match_kind",
                violation_error_message="A pool may only have the dimensions of its kind.",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    def capacity(self) -> dict[str, int]:
        return {dim: getattr(self, dim) for dim in DIMENSIONS_BY_KIND[self.kind]}


class CapacityChange(models.Model):
    """From `start` to `end` (open-ended when empty) the listed dimensions have a new capacity.

    A dimension left empty keeps the pool's base capacity; 0 everywhere is a maintenance window.
    """

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="capacity_changes")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    cores = models.PositiveIntegerField(null=True, blank=True)
    memory_gib = models.PositiveIntegerField("memory (GiB)", null=True, blank=True)
    gpus = models.PositiveIntegerField(null=True, blank=True)
    size_gib = models.PositiveBigIntegerField("size (GiB)", null=True, blank=True)
    readers = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["pool", "start"]
        indexes = [models.Index(fields=["pool", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gt=models.F("start")),
                name="capacity_change_end_after_start",
                violation_error_message="The end must be after the start.",
            ),
            models.CheckConstraint(
                condition=~Q(
                    cores__isnull=True,
                    memory_gib__isnull=True,
                    gpus__isnull=True,
                    size_gib__isnull=True,
                    readers__isnull=True,
                ),
                name="capacity_change_sets_a_dimension",
                violation_error_message="A capacity change must set at least one dimension.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pool} from {self.start:%Y-%m-%d %H:%M}: {self.reason or 'change'}"

    def capacity(self) -> dict[str, int]:
        return {d: getattr(self, d) for d in DIMENSIONS if getattr(self, d) is not None}

    def clean(self) -> None:
        if self.pool_id is None:
            return
        foreign = [d for d in self.capacity() if d not in DIMENSIONS_BY_KIND[self.pool.kind]]
        if foreign:
            raise ValidationError(
                {d: f"a {self.pool.kind} pool has no dimension {d!r}" for d in foreign}
            )


class Dataset(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    size_gib = models.PositiveBigIntegerField("size (GiB)")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class DatasetReplica(models.Model):
    """A copy of a dataset at a site; `data_pool.readers` bounds concurrent readers."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="replicas")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="replicas")
    staging_gib_per_hour = models.FloatField(help_text="Rate at which it copies to other sites.")
    data_pool = models.ForeignKey(
        Pool,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        limit_choices_to={"kind": PoolKind.DATA},
        related_name="replicas",
    )

    class Meta:
        ordering = ["dataset", "site"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "site"], name="one_replica_per_site"),
            models.CheckConstraint(
                condition=Q(staging_gib_per_hour__gt=0),
                name="replica_staging_rate_positive",
                violation_error_message="The staging rate must be positive.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} at {self.site.slug}"


class Template(models.Model):
    """A named, reusable request (DESIGN §4) for the booking form."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    request = models.JSONField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
