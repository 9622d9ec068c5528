"""Lease services: accept, reject, cancel, extend, expire (DESIGN §4, §5).

Every change goes through `lease_transition` (`_transition_all` for several leases at once)
or bumps `version` and writes a `LeaseEvent`; an illegal transition raises DomainError with
status 409 and changes nothing. Writes that consume capacity (accepting a lapsed hold,
extending) re-check it under the pool locks.
"""

import functools
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import F
from django.utils import timezone

from bookings.choices import ACTIVE_PHASES, ActorKind, Phase, can_transition
from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError
from bookings.domain.guard import lock_pools, offer_fits
from bookings.domain.inventory import engine_load, engine_pools, epoch, instant
from bookings.domain.isotime import parse_instant
from bookings.domain.rows import Columns, insert_values, table
from bookings.models import Lease, LeaseEvent
from resources.models import Site
from scheduler import engine

EXTENDABLE = frozenset(ACTIVE_PHASES - {Phase.RELEASING})


def lease_for_user(*, lease_id, user, lock: bool = False) -> Lease:
    """The lease if `user` may see it (owner or staff); 404 otherwise, leaking nothing."""
    leases = Lease.objects.select_related("site", "owner")
    if lock:
        leases = leases.select_for_update(of=("self",))
    try:
        # By primary key only, the owner checked here: with `owner` in the WHERE clause the
        # planner may walk the owner's index instead (thousands of rows for a platform).
        lease = leases.get(id=lease_id)
    except (Lease.DoesNotExist, ValidationError, ValueError, TypeError):  # not a uuid: 404 too
        lease = None
    if lease is None or not may_see(user, lease):
        raise DomainError("No such lease.", status=404, code="not-found")
    return lease


def may_see(user, lease: Lease) -> bool:
    return user.is_staff or lease.owner_id == user.pk


def lease_check_version(lease: Lease, if_match: int | None) -> None:
    if if_match is not None and if_match != lease.version:
        raise DomainError(
            "The lease changed since you read it; read it again.",
            status=412,
            code="precondition-failed",
            extra={"version": lease.version},
        )


def lease_transition(
    *, lease: Lease, to: str, actor_kind: str, actor=None, message: str = "", **fields
) -> Lease:
    """Move a (locked) lease to phase `to`, with an event; 409 if the move is illegal."""
    if not can_transition(lease.phase, to):
        raise DomainError(
            f"A lease in phase {lease.phase} cannot become {to}.",
            status=409,
            code="illegal-transition",
            extra={"phase": lease.phase},
        )
    previous = lease.phase
    lease.phase = to
    for name, value in fields.items():
        setattr(lease, name, value)
    lease.version += 1
    lease.save()
    LeaseEvent.objects.create(
        lease=lease,
        from_phase=previous,
        to_phase=to,
        actor_kind=actor_kind,
        actor=actor,
        message=message,
    )
    return lease


def _as_offer(lease: Lease, *, start: datetime | None = None) -> engine.Offer:
    """The lease's allocations as an engine offer (from `start` on, if given)."""
    grants = []
    for a in lease.allocations.select_related("pool"):
        g_start = max(a.start, start) if start else a.start
        if g_start >= a.end:
            continue
        grants.append(
            engine.Grant(
                component=a.component,
                replica=a.replica,
                pool=a.pool.slug,
                amounts=a.amounts(nonzero=True),
                start=epoch(g_start),
                end=epoch(a.end),
            )
        )
    return engine.Offer(
        site=lease.site.slug,
        start=epoch(lease.start),
        end=epoch(lease.end),
        preparation_start=epoch(lease.preparation_start),
        grants=tuple(grants),
    )


def lease_accepted_fields(*, now: datetime) -> dict:
    """What accepting sets besides the phase: the hold is over, and the lease is due now (the
    tick reserves it at once — slurm books ahead — then it waits). A lease loaded as ACCEPTED
    (load_capacity, seed_demo) gets the same, through lifecycle.lease_loaded_fields."""
    return {"expires": None, "next_action_at": now}


def lease_accept(*, lease_id, user, if_match: int | None = None) -> Lease:
    """Accept an offer; its siblings are rejected. A lapsed hold is re-checked: 409 if taken."""
    try:
        with transaction.atomic():
            # Lock the lease with its whole offer set, in id order and in one query: two
            # sibling accepts serialise here.
            siblings = _lock_family(lease_id=lease_id, user=user)
            lease = next(s for s in siblings if s.id == Lease._meta.pk.to_python(lease_id))
            lease_check_version(lease, if_match)
            if lease.phase != Phase.OFFERED:
                raise DomainError(
                    f"Only an offer can be accepted; this lease is {lease.phase}.",
                    status=409,
                    code="illegal-transition",
                    extra={"phase": lease.phase},
                )
            now = timezone.now()
            message = "accepted"
            if lease.expires <= now:
                offer = _as_offer(lease)
                pools = lock_pools(g.pool for g in offer.grants)
                if not offer_fits(offer=offer, pools=pools, exclude_lease=lease.id):
                    raise DomainError(
                        "The hold on this offer expired and its resources were booked since.",
                        status=409,
                        code="no-longer-available",
                    )
                message = "accepted after its hold lapsed; capacity re-checked"
            # The accept and the rejection of the open siblings: one UPDATE, one INSERT.
            transitions = [
                (lease, Phase.ACCEPTED, message, lease_accepted_fields(now=now)),
                *(
                    (sibling, Phase.REJECTED, "another offer of its set was accepted", {})
                    for sibling in siblings
                    if sibling.id != lease.id and sibling.phase == Phase.OFFERED
                ),
            ]
            _transition_all(transitions, actor_kind=ActorKind.USER, actor=user)
            return lease
    except DomainError as error:
        if error.code != "no-longer-available":
            raise
        _attach_fresh_offers(error, lease_id=lease_id, user=user)
        raise


@functools.cache
def _family_query() -> tuple[str, Columns, Columns, Columns]:
    """What `Lease.objects.select_for_update(of=("self",)).select_related("site", "owner")
    .filter(Q(id=…) | Q(offer_set_id=Subquery(…))).order_by("id")` sends, written out:
    compiling that query was a fifth of an accept's Python time."""
    lease = Columns(Lease, "l")
    site = Columns(Site, "s")
    owner = Columns(get_user_model(), "u")
    sql = (
        f"SELECT {lease.sql}, {site.sql}, {owner.sql}"
        f" FROM {table(Lease)} l"
        f" JOIN {table(Site)} s ON s.id = l.site_id"
        f" JOIN {table(get_user_model())} u ON u.id = l.owner_id"
        # Two index scans: the lease by id, its set by offer_set_id (NULL: none). The owner
        # is checked by the caller, not here, for the same reason as in lease_for_user.
        f" WHERE l.id = %s OR l.offer_set_id = (SELECT offer_set_id FROM {table(Lease)}"
        " WHERE id = %s)"
        " ORDER BY l.id FOR UPDATE OF l"
    )
    return sql, lease, site, owner


def _lock_family(*, lease_id, user) -> list[Lease]:
    """Lock the lease `user` may see (404 otherwise, as `lease_for_user`) and the other offers
    of its set, in id order, with one query; their site and owner loaded."""
    try:
        lease_id = Lease._meta.pk.to_python(lease_id)
    except (ValidationError, ValueError, TypeError):  # not a uuid: 404 too
        lease_id = None
    family = []
    if lease_id is not None:
        sql, lease_columns, site_columns, owner_columns = _family_query()
        with connection.cursor() as cursor:
            cursor.execute(sql, [lease_id, lease_id])
            rows = cursor.fetchall()
        site_at = lease_columns.count
        owner_at = site_at + site_columns.count
        site_field, owner_field = Lease._meta.get_field("site"), Lease._meta.get_field("owner")
        for row in rows:
            lease = lease_columns.build(row)
            site_field.set_cached_value(lease, site_columns.build(row, site_at))
            owner_field.set_cached_value(lease, owner_columns.build(row, owner_at))
            family.append(lease)
    lease = next((s for s in family if s.id == lease_id), None)
    if lease is None or not may_see(user, lease):
        raise DomainError("No such lease.", status=404, code="not-found")
    return family


def _transition_all(transitions, *, actor_kind: str, actor=None) -> None:
    """`lease_transition` for several (locked) leases at once — (lease, to, message, fields)
    each —, with one UPDATE and one INSERT of their events; 409 before any write if one move
    is illegal."""
    for lease, to, _message, _fields in transitions:
        if not can_transition(lease.phase, to):
            raise DomainError(
                f"A lease in phase {lease.phase} cannot become {to}.",
                status=409,
                code="illegal-transition",
                extra={"phase": lease.phase},
            )
    now = timezone.now()
    changed = {"phase", "version", "updated"}
    events = []
    leases = []
    for lease, to, message, fields in transitions:
        events.append(
            LeaseEvent(
                lease=lease,
                from_phase=lease.phase,
                to_phase=to,
                actor_kind=actor_kind,
                actor=actor,
                message=message,
            )
        )
        lease.phase = to
        for name, value in fields.items():
            setattr(lease, name, value)
        changed.update(fields)
        lease.version += 1
        lease.updated = now
        leases.append(lease)
    _update_rows(leases, sorted(changed), events=events)


def _update_rows(leases: list[Lease], names: list[str], *, events=()) -> None:
    """Write the fields `names` of `leases` with one UPDATE … FROM (VALUES …): what
    `bulk_update` does with one CASE per field and row, at a fraction of its Python time.
    `events` (LeaseEvents) are inserted by the same statement."""
    fields = [Lease._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = [quote(f.column) for f in fields]
    row = "(%s::uuid, " + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
    params = []
    for lease in leases:
        params.append(lease.pk)
        params.extend(f.get_db_prep_save(getattr(lease, f.attname), connection) for f in fields)
    sql = (
        f"UPDATE {quote(Lease._meta.db_table)} AS l"
        f" SET {', '.join(f'{c} = v.{c}' for c in columns)}"
        f" FROM (VALUES {', '.join([row] * len(leases))}) AS v(id, {', '.join(columns)})"
        " WHERE l.id = v.id"
    )
    if events:
        # One round trip for both: the UPDATE as a data-modifying WITH of the INSERT.
        insert, insert_params = insert_values(LeaseEvent, events)
        sql = f"WITH changed AS ({sql}) {insert}"
        params += insert_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _attach_fresh_offers(error: DomainError, *, lease_id, user) -> None:
    from bookings.domain.offer_sets import offer_set_create

    lease = lease_for_user(lease_id=lease_id, user=user)
    if lease.offer_set is None:
        return
    request = {**lease.offer_set.request}
    window = request.pop("start")
    # The same window if some of it is still ahead; otherwise the default one from now.
    if parse_instant(window["latest"]) > timezone.now():
        request["start"] = f"{window['earliest']}/{window['latest']}"
    try:
        fresh = offer_set_create(owner=lease.owner, data=request, client=user)
    except DomainError:
        return
    error.extra["fresh_offer_set"] = str(fresh.id)


def lease_reject(*, lease_id, user, if_match: int | None = None) -> Lease:
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        return lease_transition(
            lease=lease,
            to=Phase.REJECTED,
            actor_kind=ActorKind.USER,
            actor=user,
            message="rejected by the owner",
        )


def lease_cancel(*, lease_id, user, if_match: int | None = None) -> Lease:
    """Cancel an accepted lease; its capacity returns at once, and the tick releases anything
    already provisioned (`next_action_at` now)."""
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        if lease.phase == Phase.OFFERED:
            raise DomainError(
                "An offer is rejected, not cancelled.",
                status=409,
                code="illegal-transition",
                extra={"phase": lease.phase},
            )
        return lease_transition(
            lease=lease,
            to=Phase.CANCELLED,
            actor_kind=ActorKind.USER,
            actor=user,
            message="cancelled by the owner",
            next_action_at=timezone.now(),
        )


def lease_extend(*, lease_id, user, end: datetime, if_match: int | None = None) -> Lease:
    """Move the end of an active lease. Longer only if the whole extension fits; otherwise 409
    with the latest end that would fit (`latest_end`)."""
    now = timezone.now()
    step = settings.ENGINE_STEP_SECONDS
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        if lease.phase not in EXTENDABLE:
            raise DomainError(
                f"A lease in phase {lease.phase} cannot be extended or shortened.",
                status=409,
                code="illegal-transition",
                extra={"phase": lease.phase},
            )
        if end <= max(lease.start, now):
            raise DomainError(
                "The new end must be after the start and in the future.",
                errors=[FieldError("end", "must be after the start and now")],
            )
        old_end = lease.end
        if end == old_end:
            return lease  # nothing changes: no event, no new version
        longest = min(lease.start + timedelta(seconds=policy.max_duration()), policy.horizon(now))
        if end > max(longest, old_end):
            raise DomainError(
                f"The lease may end at {_iso(longest)} at the latest.",
                errors=[
                    FieldError(
                        "end",
                        f"may be at most {_iso(longest)}: a lease lasts at most"
                        f" {policy.words(policy.max_duration())} and ends at most"
                        f" {policy.words(policy.limit_seconds('BOOKING_MAX_END'))} ahead",
                    )
                ],
                extra={"latest_end": _iso(longest)},
            )
        if end > old_end:
            offer = _as_offer(lease)
            extension = engine.Offer(
                site=offer.site,
                start=epoch(old_end),
                end=epoch(end),
                preparation_start=epoch(old_end),
                grants=tuple(
                    engine.Grant(
                        g.component, g.replica, g.pool, g.amounts, epoch(old_end), epoch(end)
                    )
                    for g in offer.grants
                    if g.end == epoch(old_end)
                ),
            )
            pools = lock_pools(g.pool for g in extension.grants)
            if not offer_fits(offer=extension, pools=pools, exclude_lease=lease.id):
                latest = _latest_end(extension, pools, lease, step)
                raise DomainError(
                    "The extension does not fit: other bookings or less capacity follow.",
                    status=409,
                    code="extension-does-not-fit",
                    extra={"latest_end": _iso(latest)},
                )
        for allocation in lease.allocations.all():
            if allocation.end == old_end or allocation.end > end:
                allocation.period = DateTimeTZRange(allocation.start, end, "[)")
                allocation.save(update_fields=["period"])
        lease.end = end
        lease.version = F("version") + 1
        if lease.next_action_at and lease.next_action_at == old_end:
            lease.next_action_at = end
        lease.save()
        verb = "extended" if end > old_end else "shortened"
        LeaseEvent.objects.create(
            lease=lease,
            actor_kind=ActorKind.USER,
            actor=user,
            message=f"{verb}: end {_iso(old_end)} → {_iso(end)}",
        )
        lease.refresh_from_db()
        return lease


def _latest_end(extension: engine.Offer, pools, lease: Lease, step: int) -> datetime:
    """The latest end on the step grid up to which every grant of `extension` still fits."""
    start, end = extension.start, extension.end
    load = engine_load(
        pools=set(pools.values()), start=instant(start), end=instant(end), exclude_lease=lease.id
    )
    epools = {p.slug: p for p in engine_pools(pools.values())}
    limit = end
    for grant in extension.grants:
        needed = {}
        for other in extension.grants:  # replicas sharing a pool add up
            if other.pool == grant.pool:
                for dim, amount in other.amounts.items():
                    needed[dim] = needed.get(dim, 0) + amount
        for seg_start, _seg_end, free in engine.free_profile(
            pool=epools[grant.pool], load=load, start=start, end=end
        ):
            if any(free.get(dim, 0) < amount for dim, amount in needed.items()):
                limit = min(limit, seg_start)
                break
    limit = start + (limit - start) // step * step
    return instant(max(limit, start))


def offers_expire(*, now: datetime | None = None) -> int:
    """Mark lapsed holds EXPIRED (the tick calls this); returns how many."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        lapsed = (
            Lease.objects.select_for_update(skip_locked=True)
            .filter(phase=Phase.OFFERED, expires__lte=now)
            .order_by("expires")[:500]
        )
        for lease in lapsed:
            lease_transition(
                lease=lease,
                to=Phase.EXPIRED,
                actor_kind=ActorKind.SYSTEM,
                message="the hold lapsed",
            )
            count += 1
    return count


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
