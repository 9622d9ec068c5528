"""The capacity invariant of DESIGN §4, checked against the database."""

from django.db import connection
from django.utils import timezone

from bookings.domain.planning.load import rule_params
from bookings.domain.sql.capacity import OVER_CAPACITY
from resources.choices import DIMENSIONS


def pools_over_capacity(*, pool_ids: list[int] | None = None, since=None) -> list[dict]:
    """Every (pool, instant, dimension) where counting load exceeds capacity, on `pool_ids`
    (None: every pool), among the allocations that end after `since` (None: all). Empty
    means the invariant holds."""
    params = {**rule_params(timezone.now()), "pool_ids": pool_ids, "since": since}
    with connection.cursor() as cursor:
        cursor.execute(OVER_CAPACITY, params)
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return [
        {
            "pool": row["slug"],
            "at": row["t"],
            "dimension": dim,
            "load": row[f"load_{dim}"],
            "capacity": row[f"cap_{dim}"],
        }
        for row in rows
        for dim in DIMENSIONS
        if row[f"load_{dim}"] > row[f"cap_{dim}"]
    ]
