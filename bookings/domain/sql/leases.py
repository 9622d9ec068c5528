"""Lease statements of the accept path and of `leases_write` (bookings.domain.leases)."""

import functools

from django.contrib.auth import get_user_model
from django.db import connection

from bookings.domain.sql.rows import Columns, insert_values, table
from bookings.models import Lease, LeaseEvent
from notices.models import Notice
from projects.models import LedgerEntry, SUAllocation
from resources.models import Site


@functools.cache
def family_lock() -> tuple[str, Columns, Columns, Columns]:
    """What `Lease.objects.select_for_update(of=("self",)).select_related("site", "owner")
    .filter(Q(id=…) | Q(offer_set_id=Subquery(…))).order_by("id")` sends, written out:
    compiling that query was a fifth of an accept's Python time. Parameters: the lease id,
    twice."""
    lease = Columns(Lease, "l")
    site = Columns(Site, "s")
    owner = Columns(get_user_model(), "u")
    sql = (
        f"SELECT {lease.sql}, {site.sql}, {owner.sql}"
        f" FROM {table(Lease)} l"
        f" JOIN {table(Site)} s ON s.id = l.site_id"
        f" JOIN {table(get_user_model())} u ON u.id = l.owner_id"
        # Two index scans: the lease by id, its set by offer_set_id (NULL: none). The owner
        # is checked by the caller: with it in the WHERE clause the planner may walk the
        # owner's index instead.
        f" WHERE l.id = %s OR l.offer_set_id = (SELECT offer_set_id FROM {table(Lease)}"
        " WHERE id = %s)"
        " ORDER BY l.id FOR UPDATE OF l"
    )
    return sql, lease, site, owner


def lease_family_lock(lease_id) -> list[Lease]:
    """`family_lock` run: the lease and the other offers of its set, locked, in id order,
    with their site and owner loaded."""
    query, lease_columns, site_columns, owner_columns = family_lock()
    with connection.cursor() as cursor:
        cursor.execute(query, [lease_id, lease_id])
        rows = cursor.fetchall()
    site_at = lease_columns.count
    owner_at = site_at + site_columns.count
    site_field, owner_field = Lease._meta.get_field("site"), Lease._meta.get_field("owner")
    family = []
    for row in rows:
        lease = lease_columns.build(row)
        site_field.set_cached_value(lease, site_columns.build(row, site_at))
        owner_field.set_cached_value(lease, owner_columns.build(row, owner_at))
        family.append(lease)
    return family


def _spent_update(entries) -> tuple[str, list]:
    """Add the ledger `entries` to the `spent_su` of the allocations they draw from."""
    spent: dict = {}
    for entry in entries:
        spent[entry.allocation_id] = spent.get(entry.allocation_id, 0) + entry.su
    rows = ", ".join(["(%s::bigint, %s::numeric)"] * len(spent))
    sql = (
        f"UPDATE {table(SUAllocation)} AS a SET spent_su = a.spent_su + v.su"
        f" FROM (VALUES {rows}) AS v(id, su) WHERE a.id = v.id"
    )
    return sql, [p for id, su in spent.items() for p in (id, str(su))]


def leases_update(
    leases: list[Lease], names: list[str], *, events=(), notices=(), entries=()
) -> None:
    """Write the fields `names` of `leases` with one UPDATE … FROM (VALUES …), and insert
    `events` (LeaseEvents) and `notices` (their outbox rows) in the same statement: what
    `bulk_update` (one CASE per field and row) and `bulk_create` do, in one round trip and a
    fraction of their Python time."""
    statements: list[tuple[str, list]] = []
    if leases and names:
        fields = [Lease._meta.get_field(name) for name in names]
        quote = connection.ops.quote_name
        columns = [quote(f.column) for f in fields]
        row = "(%s::uuid, " + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
        params: list = []
        for lease in leases:
            params.append(lease.pk)
            params.extend(f.get_db_prep_save(getattr(lease, f.attname), connection) for f in fields)
        sql = (
            f"UPDATE {table(Lease)} AS l"
            f" SET {', '.join(f'{c} = v.{c}' for c in columns)}"
            f" FROM (VALUES {', '.join([row] * len(leases))}) AS v(id, {', '.join(columns)})"
            " WHERE l.id = v.id"
        )
        statements.append((sql, params))
    if events:
        statements.append(insert_values(LeaseEvent, events))
    if notices:
        statements.append(insert_values(Notice, notices))
    if entries:
        statements.append(insert_values(LedgerEntry, entries))
        statements.append(_spent_update(entries))
    if not statements:
        return
    # All but the last as data-modifying WITHs of the last: one statement.
    *first, (sql, params) = statements
    if first:
        withs = ", ".join(f"w{i} AS ({statement})" for i, (statement, _) in enumerate(first))
        sql = f"WITH {withs} {sql}"
        params = [p for _, ps in first for p in ps] + params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
