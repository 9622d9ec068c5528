"""The lease and offer-set JSON is built by hand (bookings.api.serializers); it must be what the
serializers' DRF fields give, byte for byte, and an action's answer what GET shows."""

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from bookings.api.serializers import (
    BY_FIELDS,
    AllocationSerializer,
    ByHand,
    LeaseDetailSerializer,
    LeaseEventSerializer,
    LeaseSerializer,
    OfferSetSerializer,
)
from bookings.choices import ActorKind
from bookings.domain.selectors import lease_details_load, offer_set_for_user
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from tests.bookings.api.apidata import worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def both(serializer_class, instance, **kwargs) -> tuple[bytes, bytes]:
    """The JSON by hand and by the fields (keys in order, values as rendered)."""
    render = JSONRenderer().render
    by_hand = serializer_class(instance, **kwargs).data
    by_fields = serializer_class(instance, context={BY_FIELDS: True}, **kwargs).data
    return render(by_hand), render(by_fields)


def offer_set(api, user, **changes):
    response = api.post("/api/v1/offer-sets/", worker_request(**changes), format="json")
    assert response.status_code == 201
    return offer_set_for_user(offer_set_id=response.json()["id"], user=user)


def by_hand_classes(cls=ByHand) -> set:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | by_hand_classes(sub)
    return found


def test_every_serializer_by_hand_gives_its_fields_json(api, user, capacity):
    offers = offer_set(api, user)
    lease = offers.leases.all()[0]
    assert api.post(f"/api/v1/leases/{lease.id}/accept").status_code == 200
    lease = Lease.objects.select_related("site").get(id=lease.id)
    lease_details_load(lease=lease)
    LeaseEvent.objects.create(lease=lease, actor=user, actor_kind=ActorKind.USER, message="hi")
    instances = {
        AllocationSerializer: Allocation.objects.filter(lease=lease).order_by("id"),
        LeaseEventSerializer: LeaseEvent.objects.filter(lease=lease).order_by("id"),
        LeaseSerializer: Lease.objects.filter(offer_set=offers).order_by("id"),
        LeaseDetailSerializer: [lease],
        OfferSetSerializer: OfferSet.objects.filter(id=offers.id),
    }
    assert set(instances) == by_hand_classes()
    for serializer_class, objects in instances.items():
        assert objects and len(set(both(serializer_class, objects, many=True))) == 1


def test_a_field_added_shows_in_the_json_by_hand(api, user, capacity):
    class Named(LeaseSerializer):
        name = serializers.CharField()
        stamp = serializers.DateTimeField(source="offer_set.created")

        class Meta(LeaseSerializer.Meta):
            fields = [*LeaseSerializer.Meta.fields, "name", "stamp"]

    lease = Lease.objects.select_related("offer_set").get(
        id=offer_set(api, user).leases.all()[0].id
    )
    by_hand, by_fields = both(Named, lease)
    assert by_hand == by_fields
    assert b'"name":"crossmatch","stamp":"' in by_hand


def test_a_field_it_cannot_build_by_hand_is_refused():
    class Unknown(LeaseSerializer):
        owner = serializers.HyperlinkedRelatedField(view_name="api:lease-detail", read_only=True)

        class Meta(LeaseSerializer.Meta):
            fields = [*LeaseSerializer.Meta.fields, "owner"]

    with pytest.raises(TypeError, match="HyperlinkedRelatedField 'owner'"):
        Unknown().to_representation(Lease())


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_the_json_by_hand_is_the_fields_json(api, user, capacity, zone):
    offers = offer_set(api, user)
    first, second = (str(lease.id) for lease in offers.leases.all())
    assert api.post(f"/api/v1/leases/{first}/accept").status_code == 200
    lease = Lease.objects.get(id=first)
    lease.connectors = [{"kind": "ssh", "host": "edi-1", "port": 22}, None]
    lease.save()
    LeaseEvent.objects.create(lease=lease, actor_kind=ActorKind.SYSTEM, message="a tick")
    whole = [{"name": "workers", "amounts": {"cores": 52}}]
    no = offer_set(api, user, components=whole, duration="PT13H")  # maintenance in the way
    assert no.messages and no.suggestions
    with timezone.override(zone):
        lease = Lease.objects.select_related("site").get(id=first)  # without prefetching
        assert lease.events.count() == 3
        by_hand, by_fields = both(LeaseDetailSerializer, lease)
        assert by_hand == by_fields
        if zone != "UTC":
            assert b"+01:00" in by_hand
        lease.offer_set_id, lease.expires = None, None
        assert len(set(both(LeaseDetailSerializer, lease))) == 1
        leases = Lease.objects.filter(id__in=[first, second]).order_by("id")
        assert len(set(both(LeaseSerializer, leases, many=True))) == 1
        for answer in (offer_set_for_user(offer_set_id=offers.id, user=user), no):
            assert len(set(both(OfferSetSerializer, answer))) == 1


@pytest.mark.parametrize("action", ["accept", "reject"])
def test_an_actions_answer_is_what_get_shows(api, user, capacity, action):
    lease_id = str(offer_set(api, user).leases.all()[0].id)
    answer = api.post(f"/api/v1/leases/{lease_id}/{action}")
    assert answer.status_code == 200
    shown = api.get(f"/api/v1/leases/{lease_id}/")
    assert answer.content == shown.content
    assert answer["ETag"] == shown["ETag"]
    assert [e["to_phase"] for e in answer.json()["events"]] == [
        "OFFERED",
        "ACCEPTED" if action == "accept" else "REJECTED",
    ]
