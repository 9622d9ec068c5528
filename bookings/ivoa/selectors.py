"""Reads for the IVOA interface: offer sets and leases as the plain dicts `translate` renders."""

from bookings.ivoa import translate
from bookings.models import Lease, OfferSet
from resources.models import Dataset


def dataset_slugs() -> set[str]:
    return set(Dataset.objects.values_list("slug", flat=True))


def lease_source(lease: Lease) -> dict:
    """What a session shows of a lease: its times, phase, IVOA description and allocations."""
    request = lease.offer_set.request if lease.offer_set_id else {}
    name = lease.name
    if lease.offer_set_id:  # the offers of a set share its name; the prototype numbers them
        name = f"{lease.name or translate.NO_NAME}-offer-{lease.rank}"
    return {
        "id": str(lease.id),
        "name": name,
        "phase": str(lease.phase),
        "created": lease.created,
        "expires": lease.expires,
        "start": lease.start,
        "end": lease.end,
        "preparation_start": lease.preparation_start,
        "executable": lease.executable,
        "connectors": lease.connectors,
        "datasets": request.get("datasets", []),
        "allocations": [
            {
                "component": a.component,
                "replica": a.replica,
                "kind": a.pool.kind,
                "amounts": a.amounts(nonzero=True),
                "start": a.start,
                "end": a.end,
            }
            for a in lease.allocations.all()
        ],
    }


def leases_with_parts():
    return Lease.objects.select_related("offer_set").prefetch_related("allocations__pool")


def offer_set_source(offer_set: OfferSet) -> tuple[dict, list[dict]]:
    leases = leases_with_parts().filter(offer_set=offer_set).order_by("rank")
    source = {
        "id": str(offer_set.id),
        "name": offer_set.name,
        "result": str(offer_set.result),
        "created": offer_set.created,
        "expires": offer_set.expires,
        "request": offer_set.request,
        "messages": offer_set.messages,
        "suggestions": offer_set.suggestions,
    }
    return source, [lease_source(lease) for lease in leases]
