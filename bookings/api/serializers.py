"""Read shapes of the API (DESIGN §4, §7). Requests are parsed by the domain, which names every
bad field; the request serializers here only describe them for the OpenAPI schema, but for
`LeaseExtendSerializer`, which reads its one field itself.

The lease and offer-set serializers (`ByHand`) declare their shapes once, as DRF fields: the
OpenAPI schema comes from those, and so does their JSON, through a function compiled once per
class from the same fields (`_compiled`): binding a ModelSerializer's fields anew for every
lease, allocation and event cost more than the rest of an accept's serialisation. `BY_FIELDS`
in the context gets DRF's own representation instead (tests compare the two)."""

import functools
import operator
from datetime import datetime

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db.models.manager import BaseManager
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import ISO_8601, empty
from rest_framework.settings import api_settings

from bookings.domain import policy
from bookings.domain.isotime import parse_instant
from bookings.domain.requests import quoted
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from resources.choices import PoolKind

BY_FIELDS = "representation_by_fields"

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


# Fields whose representation is the value itself (a DictField's default child among them).
_AS_IS = (
    serializers.SerializerMethodField,
    serializers.JSONField,
    type(serializers.DictField().child),
)


def _zone():
    """The zone DRF's DateTimeField renders in (None: leave it to the field)."""
    if not settings.USE_TZ or str(api_settings.DATETIME_FORMAT).lower() != ISO_8601:
        return None
    return timezone.get_current_timezone()


def _instant(value, zone, field):
    if not value:
        return None
    if isinstance(value, str):
        return value
    if zone is None or not isinstance(value, datetime) or value.utcoffset() is None:
        return field.to_representation(value)
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _same(value, zone):
    return value


def _many(field):
    item = _encoder(field.child)
    return lambda value, zone: [
        item(v, zone) for v in (value.all() if isinstance(value, BaseManager) else value)
    ]


def _list(field):
    item = _encoder(field.child)
    return lambda value, zone: [None if v is None else item(v, zone) for v in value]


def _dict(field):
    item = _encoder(field.child)
    if item is _same:
        return lambda value, zone: {str(k): v for k, v in value.items()}
    return lambda value, zone: {
        str(k): None if v is None else item(v, zone) for k, v in value.items()
    }


def _datetime(field):
    if hasattr(field, "format") or hasattr(field, "timezone"):  # set only when given
        return lambda value, zone: field.to_representation(value)
    return lambda value, zone: _instant(value, zone, field)


def _choice(field):
    choices = field.choice_strings_to_values
    return lambda value, zone: value if value == "" else choices.get(str(value), value)


def _slug(field):
    return lambda value, zone, slug=field.slug_field: getattr(value, slug)


def _uuid(field):
    return (lambda value, zone: str(value)) if field.uuid_format == "hex_verbose" else None


def _int(field):
    return lambda value, zone: int(value)


def _str(field):
    return lambda value, zone: str(value)


def _pk(field):
    # The getter reads the key itself, as DRF's PKOnlyObject does.
    return _same if field.pk_field is None else None


def _as_is(field):
    return _same if type(field) in _AS_IS else None


# What `field.to_representation` does, per field type (subclasses before their bases), as a
# maker of `encode(value, zone)` (None: not this way).
_ENCODERS = (
    (serializers.ListSerializer, _many),
    (serializers.Serializer, lambda field: _compiled(field)),
    (serializers.ListField, _list),
    (serializers.DictField, _dict),
    (serializers.DateTimeField, _datetime),
    (serializers.ChoiceField, _choice),
    (serializers.SlugRelatedField, _slug),
    (serializers.UUIDField, _uuid),
    (serializers.IntegerField, _int),
    (serializers.CharField, _str),
    (serializers.PrimaryKeyRelatedField, _pk),
    (serializers.Field, _as_is),
)


def _encoder(field):
    """`field.to_representation` as `encode(value, zone)`, for a value that is not None (DRF
    gives None for None whatever the field), for the field types these serializers use."""
    for kind, make in _ENCODERS:
        encode = make(field) if isinstance(field, kind) else None
        if encode is not None:
            return encode
    raise TypeError(f"no JSON by hand for {type(field).__name__} {field.field_name!r}")


def _getter(field, serializer):
    """How `field.get_attribute` reads the field's value from an instance of `serializer`."""
    if isinstance(field, serializers.SerializerMethodField):
        return getattr(serializer, field.method_name)
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return lambda obj, name=field.source: obj.serializable_value(name)
    if not isinstance(serializer, serializers.ModelSerializer):
        (key,) = field.source_attrs  # the plain serializers here read dicts
        return operator.itemgetter(key)
    return operator.attrgetter(".".join(field.source_attrs))


def _compiled(serializer):
    """`to_representation` of `serializer`'s fields as `json(instance, zone)`."""
    members = [
        (name, _getter(field, serializer), _encoder(field))
        for name, field in serializer.fields.items()
        if not field.write_only
    ]

    def json(instance, zone) -> dict:
        data = {}
        for name, get, encode in members:
            value = get(instance)
            data[name] = None if value is None else encode(value, zone)
        return data

    return json


@functools.cache
def _by_hand(serializer_class):
    # Compiled once per class from a serializer without context: the method fields here
    # (`get_url`, `get_amounts`) do not read it.
    return _compiled(serializer_class())


# The JSON built from the serializer's own fields (`_compiled`), or DRF's with BY_FIELDS in
# the context. (No docstring: the schema would take it as the description of the serializers
# without one.)
class ByHand:
    def to_representation(self, instance):
        if self.context.get(BY_FIELDS):
            return super().to_representation(instance)
        return _by_hand(type(self))(instance, _zone())


COST_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "su": {"type": "string", "example": "1240.00"},
        "charged_su": {"type": "string", "example": "1240.00"},
    },
}


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


class LeaseEventSerializer(ByHand, serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = LeaseEvent
        fields = ["time", "from_phase", "to_phase", "actor_kind", "actor", "message"]


class LeaseSerializer(ByHand, serializers.ModelSerializer):
    """A lease (an offer is a lease in phase OFFERED) as in DESIGN §4."""

    site = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    allocations = AllocationSerializer(many=True, read_only=True)
    connectors = serializers.ListField(child=serializers.DictField(), read_only=True)
    cost = serializers.SerializerMethodField(
        help_text="Its price in service units (`su`, quoted with the offer, frozen at accept)"
        " and what its project is charged for it now (`charged_su`); null if not priced."
    )
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
            "cost",
            "url",
        ]

    def get_url(self, lease) -> str:
        return reverse("api:lease-detail", kwargs={"id": lease.id})

    @extend_schema_field(COST_SCHEMA)
    def get_cost(self, lease) -> dict | None:
        if lease.cost_su is None:
            return None
        return {"su": f"{lease.cost_su:.2f}", "charged_su": f"{lease.charged_su:.2f}"}


class LeaseDetailSerializer(LeaseSerializer):
    events = LeaseEventSerializer(many=True, read_only=True)
    project = serializers.SerializerMethodField(help_text="The project it charges (a slug).")

    class Meta(LeaseSerializer.Meta):
        fields = [
            *LeaseSerializer.Meta.fields,
            "name",
            "offer_set",
            "project",
            "version",
            "events",
        ]

    def get_project(self, lease) -> str | None:
        return lease.project.slug if lease.project_id else None


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
    cost = serializers.SerializerMethodField()

    @extend_schema_field(COST_SCHEMA)
    def get_cost(self, offer) -> dict | None:
        return offer.get("cost")


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
    name = serializers.CharField(
        required=False, min_length=1, max_length=policy.MAX_COMPONENT_NAME_LENGTH
    )
    kind = serializers.ChoiceField(choices=PoolKind.values, required=False)
    replicas = serializers.IntegerField(min_value=1, max_value=policy.MAX_REPLICAS, required=False)
    amounts = serializers.DictField(child=RangeField(), validators=[MinLengthValidator(1)])


class OfferSetRequestSerializer(serializers.Serializer):
    """A booking request (DESIGN §4)."""

    name = serializers.CharField(
        required=False, allow_blank=True, max_length=policy.MAX_NAME_LENGTH
    )
    components = serializers.ListField(
        child=ComponentRequestSerializer(), min_length=1, max_length=policy.MAX_COMPONENTS
    )
    datasets = serializers.ListField(child=serializers.CharField(), required=False)
    site = serializers.CharField(required=False, allow_null=True)
    duration = DurationField()
    start = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="ISO 8601 interval a/b or a/duration: the lease may start at any time in it.",
    )
    max_offers = serializers.IntegerField(min_value=1, max_value=policy.MAX_OFFERS, required=False)
    executable = serializers.DictField(required=False, allow_null=True)


class LeaseExtendSerializer(serializers.Serializer):
    end = serializers.DateTimeField(help_text="The new end (later or earlier).")

    def run_validation(self, data=empty):
        """`{"end": <instant>}` read as the domain reads instants (a time zone is required),
        every problem at once: unknown fields, then `end`."""
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["must be a JSON object"]}
            )
        errors = {key: ["is not a known field"] for key in sorted(set(data) - {"end"})}
        end = parse_instant(data.get("end"))
        if "end" not in data:
            errors["end"] = ["is required (an ISO 8601 date-time with a time zone)"]
        elif end is None:
            errors["end"] = [f"{quoted(data['end'])} is not an ISO 8601 date-time with a time zone"]
        if errors:
            raise serializers.ValidationError(errors)
        return {"end": end}
