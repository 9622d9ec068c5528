"""Reads shared by every interface (API, IVOA, web): one access rule each."""

import uuid

from django.db.models import Prefetch, Q

from bookings.domain.errors import DomainError
from bookings.models import Allocation, Lease, OfferSet


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
