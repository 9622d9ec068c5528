"""Pool kinds and the capacity dimensions each kind has (DESIGN §3)."""

from django.db import models


class PoolKind(models.TextChoices):
    COMPUTE = "compute", "Compute"
    STORAGE = "storage", "Storage"
    DATA = "data", "Data"


DIMENSIONS = ("cores", "memory_gib", "gpus", "size_gib", "readers")

DIMENSIONS_BY_KIND: dict[str, tuple[str, ...]] = {
    PoolKind.COMPUTE: ("cores", "memory_gib", "gpus"),
    PoolKind.STORAGE: ("size_gib",),
    PoolKind.DATA: ("readers",),
}
