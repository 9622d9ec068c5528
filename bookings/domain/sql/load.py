"""The counting load, and the reads that keep a process's copy of it current.

Every statement takes the load rule as parameters (bookings.domain.planning.load.rule_params):
`%(phases)s` the phases that count, `%(offered)s` the phase that counts only while its hold is
live (`expires > %(now)s`). Only column names are composed, from `DIMENSIONS`.
"""

from resources.choices import DIMENSIONS

_AMOUNTS = ", ".join(f"a.{d}" for d in DIMENSIONS)

# The counting load of the pools named `%(slugs)s` over [`%(start)s`, `%(end)s`), as (pool id,
# epoch start, epoch end, amounts…) rows, without the lease `%(exclude)s` and the offer set
# `%(exclude_offer_set)s` (NULL: none). PostgreSQL turns the bounds into epoch seconds: parsing
# thousands of tstzrange values in Python was most of an offer set's time (bench/api.py).
# One GiST probe on (pool, period) per pool: `pool_id = ANY(…)` cannot use the GiST index's
# pool column, and the planner combined the period alone with the pool's B-tree (65k entries).
LOAD = f"""
    SELECT a.pool_id,
           floor(extract(epoch from lower(a.period)))::bigint,
           floor(extract(epoch from upper(a.period)))::bigint,
           {_AMOUNTS}
    FROM unnest(%(slugs)s::text[]) AS s(slug)
    JOIN resources_pool p ON p.slug = s.slug
    JOIN bookings_allocation a
      ON a.pool_id = p.id AND a.period && tstzrange(%(start)s, %(end)s, '[)')
    JOIN bookings_lease l ON l.id = a.lease_id
    WHERE l.phase = ANY(%(phases)s)
      AND (l.phase <> %(offered)s OR l.expires > %(now)s)
      AND (%(exclude)s::uuid IS NULL OR a.lease_id <> %(exclude)s::uuid)
      AND (%(exclude_offer_set)s::uuid IS NULL
           OR l.offer_set_id IS DISTINCT FROM %(exclude_offer_set)s::uuid)
"""

# The pools generation (migration 0008): planning pools are cached under it.
POOLS_GENERATION = "SELECT generation FROM bookings_poolsgeneration"

# Where the copy's next read starts: the oldest running transaction, the load generation
# (changes when allocations are deleted) and the pools generation, from one snapshot.
STAMP = """
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
           (SELECT generation FROM bookings_loadgeneration),
           (SELECT generation FROM bookings_poolsgeneration)
"""

# Until when a row counts, in microseconds since the epoch: a hold until it expires, the
# other load phases for ever (`%(forever)s`), the rest never (NULL).
_COUNTS_UNTIL = """
    CASE WHEN l.phase = %(offered)s
         THEN floor(extract(epoch from l.expires) * 1000000)::bigint
         WHEN l.phase = ANY(%(phases)s) THEN %(forever)s::bigint END
"""
_ALLOCATION = """
    a.id, a.pool_id,
    floor(extract(epoch from lower(a.period)) * 1000000)::bigint,
    floor(extract(epoch from upper(a.period)) * 1000000)::bigint
"""

# Everything that may count from `%(floor)s` on; read after STAMP (its snapshot is the older).
FULL = f"""
    SELECT {_ALLOCATION}, {_COUNTS_UNTIL}, {_AMOUNTS}
    FROM bookings_allocation a JOIN bookings_lease l ON l.id = a.lease_id
    WHERE upper(a.period) > %(floor)s
      AND l.phase = ANY(%(phases)s)
"""

# What changed since `%(since)s`, with the stamp of this read, in one statement (one snapshot).
# `%(seen)s`: the transactions whose rows an earlier read returned. A transaction's rows all
# become visible at once, when it commits, so once one of them was read all were: without
# this, a long transaction anywhere in the cluster (which holds xmin back) would make every
# read return every change since it began.
# The lease is looked up per changed row (a correlated subquery): a join let the planner
# choose a hash join over every lease when its estimate of the changed rows was off.
DELTA = f"""
    WITH stamp AS ({STAMP})
    SELECT stamp.*, changed.*
    FROM stamp LEFT JOIN (
        SELECT {_ALLOCATION},
               (SELECT {_COUNTS_UNTIL} FROM bookings_lease l WHERE l.id = a.lease_id),
               {_AMOUNTS}, a.load_xid
        FROM bookings_allocation a
        WHERE a.load_xid >= %(since)s AND a.load_xid <> ALL(%(seen)s::bigint[])
    ) AS changed ON true
"""
