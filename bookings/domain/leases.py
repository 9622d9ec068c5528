"""Lease services: accept, reject, cancel, extend, release early, expire (DESIGN §4, §5).

Every change of a lease goes through `bookings.domain.lease_writes.leases_write` (the
transition table, versions, events). `lease_actions` says what the owner may do now, by the
same rules the services apply. Writes that consume capacity (accepting a lapsed
hold, extending) re-check it under the pool locks.
"""

from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import ACTIVE_PHASES, ActorKind, Phase
from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError, IllegalTransition
from bookings.domain.inventory import engine_pools, epoch, instant
from bookings.domain.isotime import iso, parse_instant
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.planning.guard import lock_pools, offer_fits
from bookings.domain.planning.load import engine_load
from bookings.domain.planning.pools import pools_by_slug
from bookings.domain.sql import leases as sql
from bookings.models import Lease
from projects.domain import ledger
from projects.domain.policy import duration_limit, extension_limit
from projects.domain.pricing import rates_from_json
from scheduler import engine

# Who may do what, by phase (see `lease_actions`).
CANCELLABLE = EXTENDABLE = frozenset(ACTIVE_PHASES - {Phase.RELEASING})
RELEASABLE = frozenset({Phase.AVAILABLE, Phase.RUNNING})


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
    """Move a (locked) lease to phase `to`, with an event (`leases_write` for one lease)."""
    leases_write([LeaseChange(lease, to, message, fields)], actor_kind=actor_kind, actor=actor)
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
                raise IllegalTransition(
                    f"Only an offer can be accepted; this lease is {lease.phase}.",
                    phase=lease.phase,
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
            changes = [
                LeaseChange(lease, Phase.ACCEPTED, message, lease_accepted_fields(now=now)),
                *(
                    LeaseChange(sibling, Phase.REJECTED, "another offer of its set was accepted")
                    for sibling in siblings
                    if sibling.id != lease.id and sibling.phase == Phase.OFFERED
                ),
                *_replaced(lease, now),
            ]
            leases_write(changes, actor_kind=ActorKind.USER, actor=user)
            return lease
    except DomainError as error:
        if error.code != "no-longer-available":
            raise
        _attach_fresh_offers(error, lease_id=lease_id, user=user)
        raise


def _replaced(lease: Lease, now: datetime) -> list[LeaseChange]:
    """Accepting a fresh offer made for a displaced lease replaces that lease: cancelled."""
    if lease.replaces_id is None:
        return []
    displaced = Lease.objects.select_for_update().filter(
        id=lease.replaces_id, displaced=True, phase__in=CANCELLABLE
    )
    return [
        LeaseChange(
            old,
            Phase.CANCELLED,
            f"replaced by lease {lease.id}, a fresh offer accepted after it was displaced",
            {"next_action_at": now},
        )
        for old in displaced
    ]


def _lock_family(*, lease_id, user) -> list[Lease]:
    """Lock the lease `user` may see (404 otherwise, as `lease_for_user`) and the other offers
    of its set, in id order, with one query; their site and owner loaded."""
    try:
        lease_id = Lease._meta.pk.to_python(lease_id)
    except (ValidationError, ValueError, TypeError):  # not a uuid: 404 too
        lease_id = None
    family = sql.lease_family_lock(lease_id) if lease_id is not None else []
    lease = next((s for s in family if s.id == lease_id), None)
    if lease is None or not may_see(user, lease):
        raise DomainError("No such lease.", status=404, code="not-found")
    return family


def _attach_fresh_offers(error: DomainError, *, lease_id, user) -> None:
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


def lease_actions(lease: Lease, *, now: datetime) -> frozenset[str]:
    """What the owner may do with `lease` at `now`, by the rules the services below apply:
    some of "accept", "reject", "cancel", "extend", "release" (a displaced lease, which
    gave its allocations back, cannot be extended: it chooses a fresh offer)."""
    actions = set()
    if lease.phase == Phase.OFFERED:
        actions.update({"accept", "reject"})
    if lease.phase in CANCELLABLE:
        actions.add("cancel")
    if lease.phase in EXTENDABLE and not lease.displaced:  # a displaced lease holds nothing
        actions.add("extend")
    if lease.phase in RELEASABLE and lease.start < now:
        actions.add("release")
    return frozenset(actions)


def lease_cancel(*, lease_id, user, if_match: int | None = None) -> Lease:
    """Cancel an accepted lease; its capacity returns at once, and the tick releases anything
    already provisioned (`next_action_at` now)."""
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        if "cancel" not in lease_actions(lease, now=timezone.now()):
            title = (
                "An offer is rejected, not cancelled."
                if lease.phase == Phase.OFFERED
                else f"A lease in phase {lease.phase} cannot become {Phase.CANCELLED}."
            )
            raise IllegalTransition(title, phase=lease.phase)
        return lease_transition(
            lease=lease,
            to=Phase.CANCELLED,
            actor_kind=ActorKind.USER,
            actor=user,
            message="cancelled by the owner"
            if user.pk == lease.owner_id
            else f"cancelled by {user}",
            next_action_at=timezone.now(),
        )


def lease_cancel_by_operator(*, lease_id, user, reason: str) -> Lease:
    """An operator cancels a lease, saying why (the event and the owner's notice carry it)."""
    return _operator_move(lease_id, user, Phase.CANCELLED, "cancelled", reason, CANCELLABLE)


def lease_mark_failed(*, lease_id, user, reason: str) -> Lease:
    """An operator marks a lease FAILED (its resources are broken, say); the release runs."""
    return _operator_move(lease_id, user, Phase.FAILED, "marked failed", reason)


def _operator_move(lease_id, user, to: str, verb: str, reason: str, allowed=None) -> Lease:
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        if allowed is not None and lease.phase not in allowed:
            raise IllegalTransition(
                f"A lease in phase {lease.phase} cannot become {to}.", phase=lease.phase
            )
        return lease_transition(
            lease=lease,
            to=to,
            actor_kind=ActorKind.OPERATOR,
            actor=user,
            message=f"{verb} by {user}: {reason or 'no reason given'}",
            next_action_at=timezone.now(),
        )


def lease_release_early(*, lease_id, user, if_match: int | None = None) -> Lease:
    """The owner is done: the lease ends now, its capacity returns and its release begins."""
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        now = timezone.now()
        if "release" not in lease_actions(lease, now=now):
            raise IllegalTransition(
                f"Only a lease that has started can be released early; this one is {lease.phase}"
                " (cancel a lease that has not started).",
                phase=lease.phase,
            )
        fields = {"end": now, "next_action_at": now}
        if lease.project_id:  # it owes what it used (at least the minimum), no more
            used = ledger.used_cost(lease, ledger.lease_grants(lease), now)
            fields["charged_su"] = min(lease.charged_su, used)
        for allocation in lease.allocations.filter(period__endswith__gt=now):
            if allocation.start < now:
                allocation.period = DateTimeTZRange(allocation.start, now, "[)")
                allocation.save(update_fields=["period"])
            else:
                allocation.delete()
        return lease_transition(
            lease=lease,
            to=Phase.RELEASING,
            actor_kind=ActorKind.USER,
            actor=user,
            message=f"released early: end {iso(lease.end)} → {iso(now)}",
            **fields,
        )


def lease_extend(*, lease_id, user, end: datetime, if_match: int | None = None) -> Lease:
    """Move the end of an active lease. Longer only if the whole extension fits; otherwise 409
    with the latest end that would fit (`latest_end`)."""
    now = timezone.now()
    step = settings.ENGINE_STEP_SECONDS
    with transaction.atomic():
        lease = lease_for_user(lease_id=lease_id, user=user, lock=True)
        lease_check_version(lease, if_match)
        if "extend" not in lease_actions(lease, now=now):
            raise IllegalTransition(
                f"A lease in phase {lease.phase} cannot be extended or shortened.",
                phase=lease.phase,
            )
        if end <= max(lease.start, now):
            raise DomainError(
                "The new end must be after the start and in the future.",
                errors=[FieldError("end", "must be after the start and now")],
            )
        old_end = lease.end
        if end == old_end:
            return lease  # nothing changes: no event, no new version
        _check_extension_limit(lease, end)
        _check_longest(lease, end, now)
        if end > old_end:
            extension = _extension(lease, end)
            pools = lock_pools(g.pool for g in extension.grants)
            if not offer_fits(offer=extension, pools=pools, exclude_lease=lease.id):
                latest = _latest_end(extension, pools, lease, step)
                raise DomainError(
                    "The extension does not fit: other bookings or less capacity follow.",
                    status=409,
                    code="extension-does-not-fit",
                    extra={"latest_end": iso(latest)},
                )
        fields = {"end": end}
        if lease.project_id:
            fields.update(_extension_charge(lease, end, old_end))
        for allocation in lease.allocations.all():
            if allocation.end == old_end or allocation.end > end:
                allocation.period = DateTimeTZRange(allocation.start, end, "[)")
                allocation.save(update_fields=["period"])
        verb = "extended" if end > old_end else "shortened"
        if lease.next_action_at and lease.next_action_at == old_end:
            fields["next_action_at"] = end
        leases_write(
            [LeaseChange(lease, message=f"{verb}: end {iso(old_end)} → {iso(end)}", fields=fields)],
            actor_kind=ActorKind.USER,
            actor=user,
        )
        return lease


def _check_longest(lease: Lease, end: datetime, now: datetime) -> None:
    """The policy's longest lease and latest end (400 naming `end`)."""
    longest = min(lease.start + timedelta(seconds=duration_limit(lease)), policy.horizon(now))
    if end > max(longest, lease.end):
        raise DomainError(
            f"The lease may end at {iso(longest)} at the latest.",
            errors=[
                FieldError(
                    "end",
                    f"may be at most {iso(longest)}: a lease lasts at most"
                    f" {policy.words(duration_limit(lease))} and ends at most"
                    f" {policy.words(policy.limit_seconds('BOOKING_MAX_END'))} ahead",
                )
            ],
            extra={"latest_end": iso(longest)},
        )


def _check_extension_limit(lease: Lease, end: datetime) -> None:
    most = extension_limit(lease)
    if most is not None and end > lease.end + timedelta(seconds=most):
        latest = lease.end + timedelta(seconds=most)
        raise DomainError(
            f"One extension adds at most {policy.words(most)}.",
            errors=[
                FieldError(
                    "end",
                    f"may be at most {iso(latest)} (policy: one extension"
                    f" adds at most {policy.words(most)})",
                )
            ],
            extra={"latest_end": iso(latest)},
        )


def _extension_charge(lease: Lease, end: datetime, old_end: datetime) -> dict:
    """What the lease's price and charge become when its end moves from `old_end` to `end`:
    the price of its grants with the new end, at the rates it was priced at, rounded once
    (the ledger checks the project can pay the difference)."""
    new_end, old = epoch(end), epoch(old_end)
    grants = [
        replace(g, end=new_end) if g.end == old or g.end > new_end else g
        for g in ledger.lease_grants(lease)
    ]
    price = engine.grants_cost(grants, rates_from_json(lease.rates))
    delta = price - (lease.cost_su or ledger.ZERO)
    return {"cost_su": price, "charged_su": max(ledger.ZERO, lease.charged_su + delta)}


def lease_latest_end(*, lease: Lease, now: datetime) -> datetime:
    """The latest end an extension of `lease` could reach now (what "ending soon" tells its
    owner): the policy's limit, then what the capacity after its end allows. No locks: the
    answer is advice, `lease_extend` checks again."""
    longest = min(lease.start + timedelta(seconds=duration_limit(lease)), policy.horizon(now))
    most = extension_limit(lease)
    if most is not None:
        longest = min(longest, lease.end + timedelta(seconds=most))
    if longest <= lease.end:
        return lease.end
    extension = _extension(lease, longest)
    if not extension.grants:
        return longest
    pools = pools_by_slug({g.pool for g in extension.grants})
    return _latest_end(extension, pools, lease, settings.ENGINE_STEP_SECONDS)


def _extension(lease: Lease, end: datetime) -> engine.Offer:
    """The grants that end with `lease`, from its end to `end`: what extending it needs."""
    offer = _as_offer(lease)
    old_end = epoch(lease.end)
    return engine.Offer(
        site=offer.site,
        start=old_end,
        end=epoch(end),
        preparation_start=old_end,
        grants=tuple(
            engine.Grant(g.component, g.replica, g.pool, g.amounts, old_end, epoch(end))
            for g in offer.grants
            if g.end == old_end
        ),
    )


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
