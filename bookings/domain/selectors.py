"""Reads shared by every interface (API, IVOA, web): one access rule each."""

import uuid

from django.db.models import Prefetch, Q

from bookings.domain.errors import DomainError
from bookings.domain.sql.lease_details import RELATIONS, lease_details_rows
from bookings.domain.sql.rows import prefetched
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet

# What a lease's detail shows besides the lease: allocations with pools, events with actors.
LEASE_DETAILS = (
    Prefetch("allocations", queryset=Allocation.objects.select_related("pool")),
    Prefetch("events", queryset=LeaseEvent.objects.select_related("actor")),
)


def offer_set_for_user(*, offer_set_id, user, with_offers: bool = False) -> OfferSet:
    """The offer set if `user` owns it, made the call (a platform's client account), or is
    staff; 404 otherwise, the same for a malformed id, leaking nothing. `with_offers`: its
    leases (by rank) with their sites, allocations and pools loaded."""
    offer_sets = OfferSet.objects.all()
    if with_offers:
        offer_sets = offer_sets.prefetch_related(
            Prefetch(
                "leases",
                queryset=Lease.objects.select_related("site")
                .prefetch_related(
                    Prefetch("allocations", queryset=Allocation.objects.select_related("pool"))
                )
                .order_by("rank"),
            )
        )
    if not user.is_staff:
        offer_sets = offer_sets.filter(Q(owner=user) | Q(client=user))
    try:
        return offer_sets.get(id=uuid.UUID(str(offer_set_id)))
    except (OfferSet.DoesNotExist, ValueError):
        raise DomainError("No such offer set.", status=404, code="not-found") from None


def leases_for_user(*, user, details: bool = False):
    """The leases `user` owns (every lease, for staff) with their sites, allocations and pools;
    `details`: LEASE_DETAILS (the events too)."""
    leases = Lease.objects.select_related("site").prefetch_related(
        *LEASE_DETAILS if details else LEASE_DETAILS[:1]
    )
    return leases if user.is_staff else leases.filter(owner=user)


def lease_details_load(*, lease: Lease) -> None:
    """Load LEASE_DETAILS into `lease` as `prefetch_related_objects` would, in one round trip
    (lease_details_rows); relations already loaded are kept.

    `Prefetch(...)` would compile two ORM queries (a quarter of an accept's time)."""
    cache = lease.__dict__.get("_prefetched_objects_cache", {})
    missing = [name for name in RELATIONS if name not in cache]
    for name, objects in lease_details_rows(lease=lease, relations=missing).items():
        prefetched(lease, name, objects)
