"""Read shapes of the API (DESIGN §4, §7). Requests are parsed by the domain, which names every
bad field; the request serializers here only describe them for the OpenAPI schema."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from resources.models import CapacityChange, Pool, Site

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


@extend_schema_field(AMOUNTS_SCHEMA)
class AmountsField(serializers.DictField):
    child = serializers.IntegerField()


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


class CapacityChangeSerializer(serializers.ModelSerializer):
    capacity = serializers.SerializerMethodField()

    class Meta:
        model = CapacityChange
        fields = ["start", "end", "capacity", "reason"]

    @extend_schema_field(AMOUNTS_SCHEMA)
    def get_capacity(self, change) -> dict:
        return change.capacity()


class PoolSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    capacity = serializers.SerializerMethodField()
    capacity_changes = CapacityChangeSerializer(many=True, read_only=True)

    class Meta:
        model = Pool
        fields = [
            "slug",
            "site",
            "kind",
            "enabled",
            "adapter",
            "description",
            "capacity",
            "capacity_changes",
        ]

    @extend_schema_field(AMOUNTS_SCHEMA)
    def get_capacity(self, pool) -> dict:
        return pool.capacity()


class SiteSerializer(serializers.ModelSerializer):
    pools = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Site
        fields = ["slug", "name", "timezone", "description", "pools"]


class FreeSegmentSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    free = AmountsField()


class AllocationSerializer(serializers.ModelSerializer):
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


class LeaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = LeaseEvent
        fields = ["time", "from_phase", "to_phase", "actor_kind", "actor", "message"]


class LeaseSerializer(serializers.ModelSerializer):
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


class LeaseDetailSerializer(LeaseSerializer):
    events = LeaseEventSerializer(many=True, read_only=True)

    class Meta(LeaseSerializer.Meta):
        fields = [*LeaseSerializer.Meta.fields, "name", "offer_set", "version", "events"]


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


class OfferSetSerializer(serializers.ModelSerializer):
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


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "PT9H"},
            {
                "type": "object",
                "properties": {"min": {"type": "string"}, "max": {"type": "string"}},
                "required": ["min"],
            },
        ]
    }
)
class DurationField(serializers.JSONField):
    pass


class ComponentRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    kind = serializers.ChoiceField(choices=["compute", "storage", "data"], required=False)
    replicas = serializers.IntegerField(min_value=1, max_value=256, required=False)
    amounts = serializers.DictField(child=RangeField())


class OfferSetRequestSerializer(serializers.Serializer):
    """A booking request (DESIGN §4)."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    components = ComponentRequestSerializer(many=True)
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
