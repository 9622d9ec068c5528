"""An offer set's two statements: the owner's live holds, and the set's four inserts."""

from django.db import connection

from bookings.domain.sql.rows import insert_values
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet

# The owner's live holds (`%(offered)s` leases with `expires > %(now)s`): the ids of those
# whose request has the shape `%(shape)s` (the request without the keys `%(not_shape)s`), and
# the count and first lapse of the others, in one read.
HOLDS = """
    SELECT array_agg(l.id) FILTER (WHERE (o.request - %(not_shape)s::text[]) = %(shape)s::jsonb),
           count(*) FILTER (WHERE NOT (o.request - %(not_shape)s::text[]) = %(shape)s::jsonb),
           min(l.expires)
             FILTER (WHERE NOT (o.request - %(not_shape)s::text[]) = %(shape)s::jsonb)
    FROM bookings_lease l JOIN bookings_offerset o ON o.id = l.offer_set_id
    WHERE l.owner_id = %(owner)s AND l.phase = %(offered)s AND l.expires > %(now)s
"""


def offer_set_insert(*, offer_set: OfferSet, leases: list, allocations: list, events: list):
    """Insert the set, its leases, their allocations and events with one statement (data-
    modifying `WITH` clauses); returns the set's request, messages and suggestions as jsonb
    gives them back, and the allocations' (id, lease id, component, replica) as text arrays
    (None without allocations)."""
    parts, params = [], []
    for name, model, rows, returning in (
        ("offer_set", OfferSet, [offer_set], " RETURNING request, messages, suggestions"),
        ("leases", Lease, leases, ""),
        ("allocations", Allocation, allocations, " RETURNING id, lease_id, component, replica"),
        ("events", LeaseEvent, events, ""),
    ):
        if rows:
            sql, values = insert_values(model, rows)
            parts.append(f"{name} AS ({sql}{returning})")
            params += values
    created = (
        "(SELECT array_agg(ARRAY[id::text, lease_id::text, component, replica::text])"
        " FROM allocations)"
        if allocations
        else "NULL"
    )
    sql = f"WITH {', '.join(parts)} SELECT request, messages, suggestions, {created} FROM offer_set"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
