"""Read shapes of the inventory (DESIGN §7): sites, pools with their capacity changes, and
a pool's free capacity as segments."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.api.serializers import AMOUNTS_SCHEMA
from resources.models import CapacityChange, Pool, Site


@extend_schema_field(AMOUNTS_SCHEMA)
class AmountsField(serializers.DictField):
    child = serializers.IntegerField()


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


class CapacityImpactSerializer(serializers.Serializer):
    """What a capacity edit does (resources.domain.capacity.Impact.as_json)."""

    summary = serializers.CharField()
    applied = serializers.BooleanField()
    change = serializers.IntegerField(allow_null=True)
    replanned = serializers.BooleanField()
    messages = serializers.ListField(child=serializers.CharField())
    kept = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    leases = serializers.ListField(child=serializers.DictField())
    plan = serializers.DictField()
