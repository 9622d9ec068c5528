"""A lease's allocations (with their pools) and events (with their actors) in one round trip:
what `prefetch_related("allocations__pool", "events__actor")` reads for one lease, without
compiling two ORM queries (a quarter of an accept's Python time, bench/README.md)."""

import functools

from django.contrib.auth import get_user_model
from django.db import connection

from bookings.domain.sql.rows import Columns, table
from bookings.models import Allocation, LeaseEvent
from resources.models import Pool


@functools.cache
def _statements() -> dict[str, tuple[str, Columns, Columns, str]]:
    """Per relation of Lease: its statement, the columns of the related rows and of the row
    each of them refers to, and the name of that reference. Rows come in the models' orders."""
    allocation, pool = Columns(Allocation, "a"), Columns(Pool, "p")
    event, actor = Columns(LeaseEvent, "e"), Columns(get_user_model(), "u")
    return {
        "allocations": (
            f"SELECT {allocation.sql}, {pool.sql} FROM {table(Allocation)} a"
            f" JOIN {table(Pool)} p ON p.id = a.pool_id"
            " WHERE a.lease_id = %(lease)s ORDER BY a.component, a.replica",
            allocation,
            pool,
            "pool",
        ),
        "events": (
            f"SELECT {event.sql}, {actor.sql} FROM {table(LeaseEvent)} e"
            f" LEFT JOIN {table(get_user_model())} u ON u.id = e.actor_id"
            " WHERE e.lease_id = %(lease)s ORDER BY e.time, e.id",
            event,
            actor,
            "actor",
        ),
    }


RELATIONS = ("allocations", "events")


def lease_details_rows(*, lease, relations) -> dict[str, list]:
    """For each of `relations` (of RELATIONS), the lease's related objects in the model's
    order, each with its reference (pool, actor) and its lease already set."""
    wanted = [(name, *_statements()[name]) for name in relations]
    if not wanted:
        return {}
    found = {}
    with connection.cursor() as cursor:
        # The statements go together and come back as consecutive result sets.
        cursor.execute("; ".join(entry[1] for entry in wanted), {"lease": lease.pk})
        for n, (name, _, columns, related, reference) in enumerate(wanted):
            if n:
                cursor.nextset()
            lease_field = columns.model._meta.get_field("lease")
            reference_field = columns.model._meta.get_field(reference)
            objects = []
            for row in cursor.fetchall():
                obj = columns.build(row)
                reference_field.set_cached_value(obj, related.build(row, columns.count))
                lease_field.set_cached_value(obj, lease)
                objects.append(obj)
            found[name] = objects
    return found
