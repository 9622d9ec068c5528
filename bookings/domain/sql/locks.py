"""Locks: the pool rows the guard serialises writers on, and the leases' advisory run locks."""

from bookings.domain.sql.load import LOAD, POOLS_GENERATION

# Ascending id, so lockers never deadlock.
POOLS = "SELECT id FROM resources_pool WHERE slug = ANY(%(slugs)s) ORDER BY id FOR UPDATE"

# The lock, the pools generation and the load as three statements of one query string (one
# round trip): the server runs them in order, each with its own snapshot, so the generation
# and the load are read after the locks are granted, as separate queries would read them.
POOLS_THEN_LOAD = f"{POOLS}; {POOLS_GENERATION}; {LOAD}"

# A lease's run lock, for the session (it outlives the transaction, dies with the process).
RUN_LOCK = "SELECT pg_try_advisory_lock(%s)"
RUN_UNLOCK = "SELECT pg_advisory_unlock(%s)"
# The probe of a run lock, held until the transaction ends.
RUN_PROBE = "SELECT pg_try_advisory_xact_lock(%s)"
