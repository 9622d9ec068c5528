"""The capacity invariant: every (pool, instant) where counting load exceeds capacity.

Takes the load rule as parameters (`%(phases)s`, `%(offered)s`, `%(now)s`, as sql.load) and
`%(pool_ids)s` (NULL: every pool) and `%(since)s` (NULL: all time; else only allocations
that end after it). Only column names are composed, from `DIMENSIONS`.
"""

from resources.choices import DIMENSIONS


def _capacity_at(dim: str) -> str:
    # Per dimension, the covering change with the latest start wins; none: the base capacity.
    return f"""COALESCE((
        SELECT c.{dim} FROM resources_capacitychange c
        WHERE c.pool_id = pts.pool_id AND c.{dim} IS NOT NULL
          AND c.start <= pts.t AND (c."end" IS NULL OR c."end" > pts.t)
        ORDER BY c.start DESC, c.id DESC LIMIT 1), p.{dim})"""


# Load and capacity are step functions that only change at allocation bounds and capacity
# change bounds, so checking those instants checks every instant.
OVER_CAPACITY = f"""
    WITH ld AS (
        SELECT a.* FROM bookings_allocation a JOIN bookings_lease l ON l.id = a.lease_id
        WHERE l.phase = ANY(%(phases)s)
          AND (l.phase <> %(offered)s OR l.expires > %(now)s)
          AND (%(since)s::timestamptz IS NULL OR upper(a.period) > %(since)s::timestamptz)
    ),
    pts AS (
        SELECT a.pool_id, lower(a.period) AS t FROM ld a
          WHERE %(pool_ids)s::bigint[] IS NULL OR a.pool_id = ANY(%(pool_ids)s::bigint[])
        UNION
        SELECT c.pool_id, c.start FROM resources_capacitychange c
          WHERE c.pool_id IN (SELECT pool_id FROM ld)
        UNION
        SELECT c.pool_id, c."end" FROM resources_capacitychange c
          WHERE c."end" IS NOT NULL AND c.pool_id IN (SELECT pool_id FROM ld)
    ),
    sums AS (
        SELECT pts.pool_id, pts.t, {", ".join(f"SUM(ld.{d}) AS load_{d}" for d in DIMENSIONS)}
        FROM pts JOIN ld ON ld.pool_id = pts.pool_id AND ld.period @> pts.t
        GROUP BY pts.pool_id, pts.t
    )
    SELECT pts.pool_id, p.slug, pts.t, {", ".join(f"pts.load_{d}" for d in DIMENSIONS)},
           {", ".join(f"{_capacity_at(d)} AS cap_{d}" for d in DIMENSIONS)}
    FROM sums pts JOIN resources_pool p ON p.id = pts.pool_id
    ORDER BY pts.pool_id, pts.t
"""
