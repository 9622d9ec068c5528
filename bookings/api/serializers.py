"""Read shapes of the API (DESIGN §4, §7). Requests are parsed by the domain, which names every
bad field; the request serializers here only describe them for the OpenAPI schema.

The lease and offer-set serializers describe their shapes with DRF fields (the OpenAPI schema
comes from those) but build their JSON by hand (`to_representation`): binding a
ModelSerializer's fields anew for every lease, allocation and event cost more than the rest of
an accept's serialisation. `BY_FIELDS` in the context gets the fields' representation instead
(tests compare the two)."""

from datetime import datetime

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import ISO_8601
from rest_framework.settings import api_settings

from bookings.choices import ActorKind, OfferSetResult, Phase
from bookings.domain.requests import MAX_COMPONENTS, MAX_REPLICAS
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from resources.choices import PoolKind

BY_FIELDS = "representation_by_fields"
MAX_COMPONENT_NAME = 100  # as bookings.domain.requests checks it

AMOUNTS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0},
    "example": {"cores": 26, "memory_gib": 43},
}
RANGE_SCHEMA = {
    "oneOf": [
        {"type": "integer", "minimum": 0},
        {
            "type": "object",
            "properties": {
                "min": {"type": "integer", "minimum": 0},
                "max": {"type": "integer", "minimum": 0},
            },
            "required": ["min"],
        },
    ]
}


# What DRF's fields give, for the values these serializers meet: CharField str(), IntegerField
# int(), UUIDField str(), ChoiceField the choice's own value, a DictField a copy with str keys,
# and None for None (a DateTimeField: for any false value).
_DATETIME = serializers.DateTimeField()  # for what _instant does not do itself


def _choices(choices) -> dict:
    return {str(value): value for value, _label in choices.choices}


_PHASES = _choices(Phase)
_ACTOR_KINDS = _choices(ActorKind)
_RESULTS = _choices(OfferSetResult)


def _zone():
    """The zone DRF's DateTimeField renders in (None: leave it to the field)."""
    if not settings.USE_TZ or str(api_settings.DATETIME_FORMAT).lower() != ISO_8601:
        return None
    return timezone.get_current_timezone()


def _instant(value, zone):
    if not value:
        return None
    if isinstance(value, str):
        return value
    if zone is None or not isinstance(value, datetime) or value.utcoffset() is None:
        return _DATETIME.to_representation(value)
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _str(value):
    return None if value is None else str(value)


def _int(value):
    return None if value is None else int(value)


def _choice(value, choices: dict):
    if value is None or value == "":
        return value
    return choices.get(str(value), value)


def _dict(value):
    return None if value is None else {str(k): v for k, v in value.items()}


def _dicts(values):
    return None if values is None else [_dict(v) for v in values]


def _slug(obj, name: str):
    return None if obj is None else getattr(obj, name)


def allocation_json(allocation: Allocation, zone) -> dict:
    return {
        "component": _str(allocation.component),
        "replica": _int(allocation.replica),
        "pool": _slug(allocation.pool, "slug"),
        "amounts": allocation.amounts(nonzero=True),
        "start": _instant(allocation.start, zone),
        "end": _instant(allocation.end, zone),
    }


def event_json(event: LeaseEvent, zone) -> dict:
    return {
        "time": _instant(event.time, zone),
        "from_phase": _choice(event.from_phase, _PHASES),
        "to_phase": _choice(event.to_phase, _PHASES),
        "actor_kind": _choice(event.actor_kind, _ACTOR_KINDS),
        "actor": _slug(event.actor, "username"),
        "message": _str(event.message),
    }


def lease_json(lease: Lease, zone, *, detail: bool = False) -> dict:
    data = {
        "id": _str(lease.id),
        "phase": _choice(lease.phase, _PHASES),
        "site": _slug(lease.site, "slug"),
        "start": _instant(lease.start, zone),
        "end": _instant(lease.end, zone),
        "preparation_start": _instant(lease.preparation_start, zone),
        "expires": _instant(lease.expires, zone),
        "allocations": [allocation_json(a, zone) for a in lease.allocations.all()],
        "connectors": _dicts(lease.connectors),
        "url": reverse("api:lease-detail", kwargs={"id": lease.id}),
    }
    if detail:
        data["name"] = _str(lease.name)
        data["offer_set"] = lease.offer_set_id  # a PrimaryKeyRelatedField gives the UUID
        data["version"] = _int(lease.version)
        data["events"] = [event_json(e, zone) for e in lease.events.all()]
    return data


def _message_json(message: dict) -> dict:
    return {
        "kind": _str(message["kind"]),
        "path": _str(message["path"]),
        "message": _str(message["message"]),
    }


def _suggestion_json(suggestion: dict, zone) -> dict:
    offer = suggestion["offer"]
    return {
        "kind": _str(suggestion["kind"]),
        "message": _str(suggestion["message"]),
        "offer": None
        if offer is None
        else {
            "site": _str(offer["site"]),
            "start": _instant(offer["start"], zone),
            "end": _instant(offer["end"], zone),
            "preparation_start": _instant(offer["preparation_start"], zone),
            "allocations": _dicts(offer["allocations"]),
        },
        "request": _dict(suggestion["request"]),
    }


def offer_set_json(offer_set: OfferSet, zone) -> dict:
    return {
        "id": _str(offer_set.id),
        "name": _str(offer_set.name),
        "result": _choice(offer_set.result, _RESULTS),
        "created": _instant(offer_set.created, zone),
        "expires": _instant(offer_set.expires, zone),
        "offers": [lease_json(lease, zone) for lease in offer_set.leases.all()],
        "messages": None
        if offer_set.messages is None
        else [_message_json(m) for m in offer_set.messages],
        "suggestions": None
        if offer_set.suggestions is None
        else [_suggestion_json(s, zone) for s in offer_set.suggestions],
        "request": _dict(offer_set.request),
        "url": reverse("api:offer-set-detail", kwargs={"id": offer_set.id}),
    }


# A serializer whose `to_representation` is `json(instance, zone)`, or the fields' one with
# BY_FIELDS in the context. (No docstring: the schema would take it as the description of
# the serializers without one.)
class ByHand:
    def to_representation(self, instance):
        if self.context.get(BY_FIELDS):
            return super().to_representation(instance)
        return self.json(instance, _zone())


class ProblemFieldErrorSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details; some problems add members (latest_end, version, …)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemFieldErrorSerializer(many=True)


class AllocationSerializer(ByHand, serializers.ModelSerializer):
    pool = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    amounts = serializers.SerializerMethodField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    class Meta:
        model = Allocation
        fields = ["component", "replica", "pool", "amounts", "start", "end"]

    @extend_schema_field(AMOUNTS_SCHEMA)
    def get_amounts(self, allocation) -> dict:
        return allocation.amounts(nonzero=True)

    def json(self, allocation, zone) -> dict:
        return allocation_json(allocation, zone)


class LeaseEventSerializer(ByHand, serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = LeaseEvent
        fields = ["time", "from_phase", "to_phase", "actor_kind", "actor", "message"]

    def json(self, event, zone) -> dict:
        return event_json(event, zone)


class LeaseSerializer(ByHand, serializers.ModelSerializer):
    """A lease (an offer is a lease in phase OFFERED) as in DESIGN §4."""

    site = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    allocations = AllocationSerializer(many=True, read_only=True)
    connectors = serializers.ListField(child=serializers.DictField(), read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Lease
        fields = [
            "id",
            "phase",
            "site",
            "start",
            "end",
            "preparation_start",
            "expires",
            "allocations",
            "connectors",
            "url",
        ]

    def get_url(self, lease) -> str:
        return reverse("api:lease-detail", kwargs={"id": lease.id})

    def json(self, lease, zone) -> dict:
        return lease_json(lease, zone)


class LeaseDetailSerializer(LeaseSerializer):
    events = LeaseEventSerializer(many=True, read_only=True)

    class Meta(LeaseSerializer.Meta):
        fields = [*LeaseSerializer.Meta.fields, "name", "offer_set", "version", "events"]

    def json(self, lease, zone) -> dict:
        return lease_json(lease, zone, detail=True)


class MessageSerializer(serializers.Serializer):
    kind = serializers.CharField()
    path = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class SuggestionOfferSerializer(serializers.Serializer):
    site = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    preparation_start = serializers.DateTimeField()
    allocations = serializers.ListField(child=serializers.DictField())


class SuggestionSerializer(serializers.Serializer):
    """A relaxed request that would work, and the offer it would get (not held)."""

    kind = serializers.CharField()
    message = serializers.CharField()
    offer = SuggestionOfferSerializer()
    request = serializers.DictField()


class OfferSetSerializer(ByHand, serializers.ModelSerializer):
    offers = LeaseSerializer(source="leases", many=True, read_only=True)
    messages = MessageSerializer(many=True, read_only=True)
    suggestions = SuggestionSerializer(many=True, read_only=True)
    request = serializers.DictField(read_only=True, help_text="The normalised request.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = OfferSet
        fields = [
            "id",
            "name",
            "result",
            "created",
            "expires",
            "offers",
            "messages",
            "suggestions",
            "request",
            "url",
        ]

    def get_url(self, offer_set) -> str:
        return reverse("api:offer-set-detail", kwargs={"id": offer_set.id})

    def json(self, offer_set, zone) -> dict:
        return offer_set_json(offer_set, zone)


@extend_schema_field(RANGE_SCHEMA)
class RangeField(serializers.JSONField):
    pass


# A duration: ISO 8601 (PT9H) or whole seconds.
_DURATION_SCHEMA = {
    "oneOf": [
        {"type": "string", "example": "PT9H"},
        {"type": "integer", "minimum": 1, "example": 32400},
    ]
}


@extend_schema_field(
    {
        "oneOf": [
            *_DURATION_SCHEMA["oneOf"],
            {
                "type": "object",
                "properties": {"min": _DURATION_SCHEMA, "max": _DURATION_SCHEMA},
                "required": ["min"],
            },
        ]
    }
)
class DurationField(serializers.JSONField):
    pass


class ComponentRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, min_length=1, max_length=MAX_COMPONENT_NAME)
    kind = serializers.ChoiceField(choices=PoolKind.values, required=False)
    replicas = serializers.IntegerField(min_value=1, max_value=MAX_REPLICAS, required=False)
    amounts = serializers.DictField(child=RangeField(), validators=[MinLengthValidator(1)])


class OfferSetRequestSerializer(serializers.Serializer):
    """A booking request (DESIGN §4)."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    components = serializers.ListField(
        child=ComponentRequestSerializer(), min_length=1, max_length=MAX_COMPONENTS
    )
    datasets = serializers.ListField(child=serializers.CharField(), required=False)
    site = serializers.CharField(required=False, allow_null=True)
    duration = DurationField()
    start = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="ISO 8601 interval a/b or a/duration: the lease may start at any time in it.",
    )
    max_offers = serializers.IntegerField(min_value=1, max_value=10, required=False)
    executable = serializers.DictField(required=False, allow_null=True)


class LeaseExtendSerializer(serializers.Serializer):
    end = serializers.DateTimeField(help_text="The new end (later or earlier).")
