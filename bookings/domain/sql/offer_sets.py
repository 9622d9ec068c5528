"""An offer set's two statements: the owner's live holds, and the set's four inserts."""

from django.db import connection

from bookings.domain.sql.rows import insert_values, table
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from notices.choices import Choice
from notices.models import Notice, Preferences

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


# The insert of a notice goes ahead only if its user chose to get its kind (an opt-in kind:
# notices.models.Preferences.choice, whose default for it is "off").
def opted_in(notice: Notice) -> tuple[str, list]:
    """The WHERE clause that keeps an INSERT … SELECT of `notice` to an opted-in user."""
    sql = (
        f" WHERE EXISTS (SELECT 1 FROM {table(Preferences)} p"
        " WHERE p.user_id = %s AND p.choices ->> %s = ANY(%s))"
    )
    return sql, [notice.user_id, notice.kind, [Choice.WEB.value, Choice.EMAIL.value]]


def offer_set_insert(
    *, offer_set: OfferSet, leases: list, allocations: list, events: list, notices: list = ()
):
    """Insert the set, its leases, their allocations and events with one statement (data-
    modifying `WITH` clauses), and each of `notices` (opt-in kinds) if its user opted in;
    returns the set's request, messages and suggestions as jsonb gives them back, and the
    allocations' (id, lease id, component, replica) as text arrays (None without
    allocations)."""
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
    for i, notice in enumerate(notices):
        sql, values = insert_values(Notice, [notice])
        where, where_params = opted_in(notice)
        parts.append(f"notice{i} AS ({sql}{where})")
        params += values + where_params
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
