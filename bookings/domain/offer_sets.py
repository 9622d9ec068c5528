"""`offer_set_create`: ask the engine, then hold its offers under the guard (DESIGN §4)."""

import json
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings.choices import ActorKind, OfferSetResult, Phase
from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError
from bookings.domain.inventory import engine_datasets, epoch, instant
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.planning.guard import lock_offers
from bookings.domain.planning.pools import (
    PlanningSnapshot,
    planning_load,
    planning_pools,
    planning_snapshot,
)
from bookings.domain.requests import request_normalise
from bookings.domain.sql.offer_sets import HOLDS, offer_set_insert
from bookings.domain.sql.rows import prefetched
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from notices.domain.outbox import offer_held_notice
from projects.domain.policy import request_budget, request_limits
from projects.domain.pricing import rates_json
from projects.domain.projects import project_for_request
from resources.choices import DIMENSIONS, PoolKind
from resources.models import Dataset, Pool, Site
from scheduler import engine

# Offers found outside the lock may be taken by a concurrent writer before we hold them;
# then we plan again, this many times at most, before answering with what still fits.
PLAN_ATTEMPTS = 3


def engine_request(normalised: dict) -> engine.Request:
    return engine.Request(
        components=tuple(
            engine.Component(
                name=c["name"],
                kind=c["kind"],
                replicas=c["replicas"],
                amounts={d: engine.Range(a["min"], a["max"]) for d, a in c["amounts"].items()},
            )
            for c in normalised["components"]
        ),
        duration=engine.Range(normalised["duration"]["min"], normalised["duration"]["max"]),
        start_earliest=epoch(_parse(normalised["start"]["earliest"])),
        start_latest=epoch(_parse(normalised["start"]["latest"])),
        datasets=tuple(normalised["datasets"]),
        site=normalised["site"],
        max_offers=normalised["max_offers"],
    )


def request_json(request: engine.Request, *, base: dict) -> dict:
    """An engine request (e.g. a relaxed one) back in the normalised JSON form."""
    return {
        **base,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "replicas": c.replicas,
                "amounts": {d: {"min": r.min, "max": r.max} for d, r in c.amounts.items()},
            }
            for c in request.components
        ],
        "duration": {"min": request.duration.min, "max": request.duration.max},
        "start": {
            "earliest": _iso(instant(request.start_earliest)),
            "latest": _iso(instant(request.start_latest)),
        },
        "site": request.site,
    }


def offer_json(offer: engine.Offer) -> dict:
    return {
        "cost": None if offer.cost is None else {"su": str(offer.cost)},
        "site": offer.site,
        "start": _iso(instant(offer.start)),
        "end": _iso(instant(offer.end)),
        "preparation_start": _iso(instant(offer.preparation_start)),
        "allocations": [
            {
                "component": g.component,
                "replica": g.replica,
                "pool": g.pool,
                "amounts": dict(g.amounts),
                "start": _iso(instant(g.start)),
                "end": _iso(instant(g.end)),
            }
            for g in offer.grants
        ],
    }


def _check_references(normalised: dict) -> None:
    errors = []
    if normalised["site"] and not Site.objects.filter(slug=normalised["site"]).exists():
        errors.append(FieldError("site", f"unknown site {normalised['site']!r}"))
    known = set()
    if normalised["datasets"]:  # no query (nor its building) for the common case
        known = set(
            Dataset.objects.filter(slug__in=normalised["datasets"]).values_list("slug", flat=True)
        )
    for i, slug in enumerate(normalised["datasets"]):
        if slug not in known:
            errors.append(FieldError(f"datasets[{i}]", f"unknown dataset {slug!r}"))
    flex_pools = (normalised.get("flex") or {}).get("pools") or []
    if flex_pools:
        pools = set(Pool.objects.filter(slug__in=flex_pools).values_list("slug", flat=True))
        errors += [
            FieldError("flex.pools", f"unknown pool {slug!r}")
            for slug in flex_pools
            if slug not in pools
        ]
    if errors:
        raise DomainError("The request is not valid.", errors=errors)


# Two requests are the same job asked again when all but their window and offer count agree
# (the name included: a platform booking many jobs through one account names each).
_NOT_SHAPE = ("start", "max_offers")


def _make_room_for_holds(*, owner, normalised: dict, actor) -> tuple[list[dict], bool]:
    """Holds must not hoard (README "Holds"). A new request of the same shape as one the owner
    still holds offers for supersedes it: those offers are declined first, so the owner's own
    holds never push the new answer later. Then `OFFER_HOLDS_PER_USER` caps the owner's live
    holds: 409 (before anything is declined) when none are left, fewer offers (and a message
    saying so) when some are. Returns the messages for the new set, and whether any holds
    were declined."""
    shape = {k: v for k, v in normalised.items() if k not in _NOT_SHAPE}
    with connection.cursor() as cursor:
        cursor.execute(
            HOLDS,
            {
                "shape": json.dumps(shape),
                "not_shape": list(_NOT_SHAPE),
                "owner": owner.pk,
                "offered": Phase.OFFERED,
                "now": timezone.now(),
            },
        )
        superseded, held, next_lapse = cursor.fetchone()
    cap = policy.holds_per_user()
    room = cap - held
    if room <= 0:
        raise DomainError(
            f"You already hold {held} offers, the most one user may hold at once"
            f" ({cap}): accept or decline some first; the first lapses at {_iso(next_lapse)}.",
            status=409,
            code="too-many-holds",
            errors=[FieldError("max_offers", f"no more offers may be held (at most {cap})")],
            extra={"holds": held, "limit": cap, "next_lapse": _iso(next_lapse)},
        )
    if superseded:
        leases_decline(
            lease_ids=superseded,
            actor=actor,
            message="declined: superseded by a new request of the same shape",
        )
    notes = []
    if room < normalised["max_offers"]:
        normalised["max_offers"] = room
        notes.append(
            {
                "kind": "holds",
                "path": "max_offers",
                "message": f"{room} offers at most: you already hold {held} of the {cap}"
                " one user may hold at once.",
            }
        )
    return notes, bool(superseded)


def leases_decline(*, lease_ids, actor, message: str) -> int:
    """Reject those of `lease_ids` that are still unaccepted offers, with an event each; the
    others (accepted, lapsed and swept, declined meanwhile) are left as they are."""
    with transaction.atomic():
        leases = list(
            Lease.objects.select_for_update()
            .filter(id__in=list(lease_ids), phase=Phase.OFFERED)
            .order_by("id")
        )
        if leases:
            leases_write(
                [LeaseChange(lease, Phase.REJECTED, message) for lease in leases],
                actor_kind=ActorKind.USER,
                actor=actor,
            )
    return len(leases)


def offer_set_decline(*, offer_set: OfferSet, user) -> int:
    """Release every unaccepted offer of `offer_set` at once (the web's "decline these
    offers", `POST /api/v1/offer-sets/{id}/decline`); how many were released. The caller
    has checked that `user` may see the set."""
    offers = Lease.objects.filter(offer_set=offer_set, phase=Phase.OFFERED)
    ids = list(offers.values_list("id", flat=True))
    by = "the owner" if user.pk == offer_set.owner_id else str(user)
    return leases_decline(lease_ids=ids, actor=user, message=f"declined by {by}")


def _largest(epools) -> dict[tuple[str, str], int]:
    """(kind, dimension) → the most any one pool of that kind ever has (base or a change)."""
    largest: dict[tuple[str, str], int] = {}
    for pool in epools:
        for capacity in (pool.base, *(c.capacity for c in pool.changes)):
            for dim, value in capacity.items():
                key = (pool.kind, dim)
                largest[key] = max(largest.get(key, 0), value)
    return largest


def _check_amounts(normalised: dict, snapshot: PlanningSnapshot) -> None:
    """Policy: no replica asks for more than the largest enabled pool of its kind has, at any
    site (every replica must fit inside one pool, so more can never be granted)."""
    largest = _largest(planning_pools(kinds=_kinds(normalised), snapshot=snapshot)[1])
    errors = []
    for i, component in enumerate(normalised["components"]):
        for dim, amount in component["amounts"].items():
            most = largest.get((component["kind"], dim), 0)
            if amount["min"] > most:
                errors.append(
                    FieldError(
                        f"components[{i}].amounts.{dim}",
                        f"{amount['min']} is more than any {component['kind']} pool has"
                        f" (the largest has {most} {dim})",
                    )
                )
    if errors:
        raise DomainError("The request asks for more than any pool has.", errors=errors)


def _kinds(normalised: dict) -> set[str]:
    """The pool kinds a request plans over."""
    kinds = {c["kind"] for c in normalised["components"]}
    if normalised["datasets"]:
        kinds |= {PoolKind.STORAGE, PoolKind.DATA}
    return kinds


def plan(
    *,
    normalised: dict,
    snapshot: PlanningSnapshot | None = None,
    owner=None,
    project=None,
    credit=None,
) -> tuple[engine.Answer, dict]:
    """Run the engine on the current load (no locks held), from `snapshot` if one was just
    taken; for `owner` (charging `project`), with the fair-share limits and budget in force
    (projects.domain.policy) as the engine's constraints; `credit`: SU the accept will also
    give back (the charge of the displaced lease a fresh offer replaces). Also the pool
    rates the offers were priced at (slug → engine.Rate)."""
    request = engine_request(normalised)
    kinds = _kinds(normalised)
    snapshot = snapshot or planning_snapshot()
    pools, epools = planning_pools(site=normalised["site"], kinds=kinds, snapshot=snapshot)
    datasets = engine_datasets(normalised["datasets"]) if normalised["datasets"] else []
    now = timezone.now()
    # Preparation cannot begin in the past: a "now" request starts after its setup time.
    policy = engine.Policy(step=settings.ENGINE_STEP_SECONDS, not_before=epoch(now))
    lead = max([p.setup_seconds for p in epools] + [0]) + _staging_bound(datasets)
    start = instant(request.start_earliest - lead)

    def fair(horizon: int) -> engine.Policy:
        """The policy with the fair-share limits and budget for what the engine looks at."""
        if owner is None:
            return policy
        return replace(
            policy,
            limits=request_limits(
                owner=owner,
                project=project,
                sites={p.site.slug: p.site for p in pools},
                epools=epools,
                normalised=normalised,
                now=now,
                start=start,
                horizon=horizon,
                snapshot=snapshot,
            ),
            budget=request_budget(
                project=project,
                pools=pools,
                normalised=normalised,
                snapshot=snapshot,
                credit=credit,
            ),
        )

    end = instant(request.start_latest + request.duration.max)
    load = planning_load(pools=pools, start=start, end=end, snapshot=snapshot)
    limited = fair(0)
    answer = engine.find_offers(
        pools=epools, load=load, request=request, datasets=datasets, policy=limited
    )
    if answer.result == engine.NO:
        # The suggestions look past the window: give the engine the load (and the limits)
        # they need.
        later = end + timedelta(seconds=policy.horizon_after_window)
        load = planning_load(pools=pools, start=start, end=later, snapshot=snapshot)
        limited = fair(policy.horizon_after_window)
        answer = engine.find_offers(
            pools=epools, load=load, request=request, datasets=datasets, policy=limited
        )
    return answer, (limited.budget.rates if limited.budget else {})


def _staging_bound(datasets) -> int:
    seconds = [
        int(d.size_gib / max(r.staging_gib_per_hour for r in d.replicas) * 3600) + 3600
        for d in datasets
        if d.replicas
    ]
    return max([*seconds, 0])


def offer_set_create(
    *,
    owner,
    data,
    client=None,
    now: datetime | None = None,
    hold_until: datetime | None = None,
    replaces: Lease | None = None,
    token=None,
) -> OfferSet:
    """Validate `data`, find offers, and hold them; the answer may be NO with reasons. The
    fresh offers of a displaced lease are held until its deadline (`hold_until`) and
    replace it when accepted (`replaces`), charging its project. The request charges the
    project it names, else the one `token` (a platform's ApiToken) is bound to, else the
    owner's default (projects.domain.projects)."""
    now = now or timezone.now()
    normalised = request_normalise(data=data, now=now)
    _check_references(normalised)
    if replaces is not None and replaces.project_id and "project" not in normalised:
        normalised["project"] = replaces.project.slug
    project = project_for_request(user=owner, slug=normalised.get("project"), token=token)
    if project is not None:
        normalised["project"] = project.slug
    # Everything that can refuse the request runs before the first write (declining the
    # holds it supersedes): a refused request loses nothing.
    snapshot = planning_snapshot()
    _check_amounts(normalised, snapshot)
    notes, superseded = _make_room_for_holds(
        owner=owner, normalised=normalised, actor=client or owner
    )
    for attempt in range(PLAN_ATTEMPTS):
        # The first plan reuses the snapshot unless holds were declined since it was taken.
        fresh = attempt > 0 or superseded
        answer, rates = plan(
            normalised=normalised,
            snapshot=None if fresh else snapshot,
            owner=owner,
            project=project,
            credit=replaces.charged_su
            if replaces and replaces.project_id == (project.id if project else None)
            else None,
        )
        with transaction.atomic():
            pools, kept = lock_offers(list(answer.offers))
            if len(kept) == len(answer.offers) or attempt == PLAN_ATTEMPTS - 1:
                return _write(
                    owner=owner,
                    client=client,
                    normalised=normalised,
                    answer=answer,
                    offers=kept,
                    pools=pools,
                    notes=notes,
                    hold_until=hold_until,
                    replaces=replaces,
                    project=project,
                    rates=rates,
                )
    raise AssertionError("unreachable")


def _write(
    *,
    owner,
    client,
    normalised,
    answer,
    offers,
    pools,
    notes=(),
    hold_until=None,
    replaces=None,
    project=None,
    rates=None,
) -> OfferSet:
    now = timezone.now()
    expires = hold_until or now + timedelta(seconds=settings.OFFER_HOLD_SECONDS)
    messages = [
        *notes,
        *(
            {"kind": r.kind, "path": _reason_path(r, normalised), "message": r.message}
            for r in answer.reasons
        ),
    ]
    if project is None and any(r.kind == "budget" for r in answer.reasons):
        messages.append(
            {
                "kind": "budget",
                "path": "project",
                "message": "You belong to no project with an allocation: these pools are"
                " priced, so a lease here must charge a project (ask its PI to add you).",
            }
        )
    if answer.offers and not offers:
        messages.append(
            {
                "kind": "taken",
                "path": "",
                "message": "Other bookings took the offers found; ask again.",
            }
        )
    offer_set = OfferSet(
        name=normalised["name"],
        owner=owner,
        client=client if client and client != owner else None,
        request=normalised,
        result=OfferSetResult.YES if offers else OfferSetResult.NO,
        messages=messages,
        suggestions=[
            {
                "kind": s.kind,
                "message": s.message,
                "offer": offer_json(s.offer),
                "request": request_json(s.request, base=normalised),
            }
            for s in answer.suggestions
        ],
        expires=expires,
    )
    sites = {p.site.slug: p.site for p in pools.values()}
    leases = [
        Lease(
            offer_set=offer_set,
            rank=rank,
            name=normalised["name"],
            owner=owner,
            phase=Phase.OFFERED,
            site=sites[offer.site],
            start=instant(offer.start),
            end=instant(offer.end),
            preparation_start=instant(offer.preparation_start),
            expires=expires,
            executable=normalised["executable"],
            flex=normalised.get("flex"),
            replaces=replaces,
            project=project,
            cost_su=offer.cost,
            rates=rates_json(rates or {}, (g.pool for g in offer.grants)),
        )
        for rank, offer in enumerate(offers)
    ]
    allocations = [
        Allocation(
            lease=lease,
            pool=pools[g.pool],
            component=g.component,
            replica=g.replica,
            period=DateTimeTZRange(instant(g.start), instant(g.end), "[)"),
            **{d: g.amounts.get(d, 0) for d in DIMENSIONS},
        )
        for lease, offer in zip(leases, offers, strict=True)
        for g in offer.grants
    ]
    events = [
        LeaseEvent(
            lease=lease,
            to_phase=Phase.OFFERED,
            actor_kind=ActorKind.USER,
            actor=client or owner,
            message=f"offered, held until {_iso(expires)}",
        )
        for lease in leases
    ]
    held = [offer_held_notice(offer_set, leases)] if leases else []
    _insert(offer_set, leases, allocations, events, held)
    by_lease = {lease.id: [] for lease in leases}
    for allocation in allocations:
        by_lease[allocation.lease_id].append(allocation)
    for lease in leases:
        lease._state.adding = False
        by_lease[lease.id].sort(key=lambda a: (a.component, a.replica))
        prefetched(lease, "allocations", by_lease[lease.id])
    prefetched(offer_set, "leases", leases)
    return offer_set


def _insert(
    offer_set: OfferSet, leases: list, allocations: list, events: list, notices: list
) -> None:
    """The set, its leases, their allocations and events with one statement: round trips and
    query building, not rows, are what an offer set pays for here. Reads back what the
    database decides: the allocations' ids, and the set's JSON in the key order jsonb gives it
    (as `offer_set_for_user` would read it)."""
    request, messages, suggestions, created = offer_set_insert(
        offer_set=offer_set, leases=leases, allocations=allocations, events=events, notices=notices
    )
    field = OfferSet._meta.get_field("request")
    offer_set.request, offer_set.messages, offer_set.suggestions = (
        field.from_db_value(value, None, connection) for value in (request, messages, suggestions)
    )
    offer_set._state.adding = False
    ids = {
        (lease_id, component, int(replica)): int(id)
        for id, lease_id, component, replica in created or ()
    }
    for allocation in allocations:
        allocation.id = ids[(str(allocation.lease_id), allocation.component, allocation.replica)]
        allocation._state.adding = False


def _reason_path(reason: engine.Reason, normalised: dict) -> str:
    names = [c["name"] for c in normalised["components"]]
    if reason.component in names:
        path = f"components[{names.index(reason.component)}]"
        return f"{path}.amounts.{reason.dimension}" if reason.dimension else path
    if reason.kind == "window":
        return "start"
    if reason.kind == "dataset":
        return "datasets"
    if reason.kind == "no-site":
        return "site"
    if reason.kind == "budget":
        return "project"
    return ""


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
