"""Reusable read queries over allocations: load that counts, and the capacity invariant."""

from django.db import connection

from bookings.choices import LOAD_PHASES, Phase
from resources.choices import DIMENSIONS


def phases_sql(phases) -> str:
    """Phases as the items of an SQL `IN (…)` list (they are our own constants, not input)."""
    return ", ".join(f"'{p}'" for p in sorted(phases))


_LOAD_PHASES_SQL = phases_sql(LOAD_PHASES)


def counting_allocations_sql() -> str:
    """Allocations that consume capacity now: load phases, live holds only."""
    return f"""
        SELECT a.* FROM bookings_allocation a JOIN bookings_lease l ON l.id = a.lease_id
        WHERE l.phase IN ({_LOAD_PHASES_SQL})
          AND (l.phase <> '{Phase.OFFERED}' OR l.expires > now())
    """


def _capacity_at(dim: str) -> str:
    # Per dimension, the covering change with the latest start wins; none: the base capacity.
    return f"""COALESCE((
        SELECT c.{dim} FROM resources_capacitychange c
        WHERE c.pool_id = pts.pool_id AND c.{dim} IS NOT NULL
          AND c.start <= pts.t AND (c."end" IS NULL OR c."end" > pts.t)
        ORDER BY c.start DESC, c.id DESC LIMIT 1), p.{dim})"""


def pools_over_capacity(*, pool_ids: list[int] | None = None) -> list[dict]:
    """Every (pool, instant, dimension) where counting load exceeds capacity.

    Load and capacity are step functions that only change at allocation bounds and capacity
    change bounds, so checking those instants checks every instant. Empty means the invariant
    of DESIGN §4 holds.
    """
    pool_filter = "AND a.pool_id = ANY(%(pool_ids)s)" if pool_ids is not None else ""
    load_sums = ", ".join(f"SUM(ld.{d}) AS load_{d}" for d in DIMENSIONS)
    capacities = ", ".join(f"{_capacity_at(d)} AS cap_{d}" for d in DIMENSIONS)
    sql = f"""
        WITH ld AS ({counting_allocations_sql()}),
        pts AS (
            SELECT a.pool_id, lower(a.period) AS t FROM ld a WHERE TRUE {pool_filter}
            UNION
            SELECT c.pool_id, c.start FROM resources_capacitychange c
              WHERE c.pool_id IN (SELECT pool_id FROM ld)
            UNION
            SELECT c.pool_id, c."end" FROM resources_capacitychange c
              WHERE c."end" IS NOT NULL AND c.pool_id IN (SELECT pool_id FROM ld)
        ),
        sums AS (
            SELECT pts.pool_id, pts.t, {load_sums}
            FROM pts JOIN ld ON ld.pool_id = pts.pool_id AND ld.period @> pts.t
            GROUP BY pts.pool_id, pts.t
        )
        SELECT pts.pool_id, p.slug, pts.t, {", ".join(f"pts.load_{d}" for d in DIMENSIONS)},
               {capacities}
        FROM sums pts JOIN resources_pool p ON p.id = pts.pool_id
        ORDER BY pts.pool_id, pts.t
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"pool_ids": pool_ids})
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    violations = []
    for row in rows:
        for dim in DIMENSIONS:
            if row[f"load_{dim}"] > row[f"cap_{dim}"]:
                violations.append(
                    {
                        "pool": row["slug"],
                        "at": row["t"],
                        "dimension": dim,
                        "load": row[f"load_{dim}"],
                        "capacity": row[f"cap_{dim}"],
                    }
                )
    return violations
