from django.contrib import admin

from bookings.models import Allocation, ApiToken, Lease, LeaseEvent, OfferSet, Profile


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0
    fields = [
        "component",
        "replica",
        "pool",
        "cores",
        "memory_gib",
        "gpus",
        "size_gib",
        "readers",
        "period",
    ]
    autocomplete_fields = ["pool"]


class LeaseEventInline(admin.TabularInline):
    """The audit trail: shown, never edited."""

    model = LeaseEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["time", "from_phase", "to_phase", "actor_kind", "actor", "message"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "phase", "site", "start", "end"]
    list_filter = ["phase", "site"]
    search_fields = ["id", "name", "owner__username"]
    date_hierarchy = "start"
    list_select_related = ["owner", "site"]
    readonly_fields = ["id", "version", "created", "updated"]
    raw_id_fields = ["offer_set"]
    inlines = [AllocationInline, LeaseEventInline]


class LeaseInline(admin.TabularInline):
    model = Lease
    extra = 0
    fields = readonly_fields = ["id", "rank", "phase", "site", "start", "end", "expires"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OfferSet)
class OfferSetAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "result", "created", "expires"]
    list_filter = ["result"]
    search_fields = ["id", "name", "owner__username"]
    date_hierarchy = "created"
    readonly_fields = ["id", "created"]
    inlines = [LeaseInline]


@admin.register(LeaseEvent)
class LeaseEventAdmin(admin.ModelAdmin):
    list_display = ["time", "lease", "from_phase", "to_phase", "actor_kind", "actor", "message"]
    list_filter = ["to_phase", "actor_kind"]
    search_fields = ["lease__id", "message", "actor__username"]
    date_hierarchy = "time"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created", "last_used"]
    search_fields = ["prefix", "user__username", "name"]
    readonly_fields = ["prefix", "created", "last_used"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued by `manage.py create_api_token`, which shows them once


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "timezone"]
    search_fields = ["user__username"]
    exclude = ["ical_token"]
