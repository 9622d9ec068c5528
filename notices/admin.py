"""Notices, deliveries and webhook endpoints for operators: read-only views of the outbox
with each delivery's state per channel; endpoints can be enabled or disabled (through the
service)."""

from django.contrib import admin, messages

from bookings.admin import ViewOnlyAdmin
from notices.domain.webhooks import webhook_endpoint_update
from notices.models import Delivery, Notice, Preferences, WebhookEndpoint


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["channel", "endpoint", "state", "attempts", "due_at", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notice)
class NoticeAdmin(ViewOnlyAdmin):
    list_display = ["created", "kind", "user", "lease", "routed", "read_at", "delivery_states"]
    list_filter = ["kind", "routed"]
    search_fields = ["user__username", "lease__id", "lease__name"]
    date_hierarchy = "created"
    inlines = [DeliveryInline]
    list_select_related = ["user", "lease"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description="deliveries")
    def delivery_states(self, notice) -> str:
        return ", ".join(f"{d.channel}: {d.state}" for d in notice.deliveries.all()) or "—"


@admin.register(Delivery)
class DeliveryAdmin(ViewOnlyAdmin):
    list_display = ["created", "channel", "state", "attempts", "notice", "endpoint", "last_error"]
    list_filter = ["state", "channel"]
    search_fields = ["notice__id", "endpoint__url", "last_error"]
    list_select_related = ["notice__user", "endpoint__user"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ViewOnlyAdmin):
    list_display = ["url", "user", "enabled", "failures", "disabled_reason", "created"]
    list_filter = ["enabled"]
    search_fields = ["url", "user__username"]
    exclude = ["secret"]
    actions = ["enable", "disable"]

    @admin.action(description="Enable (its failure count starts afresh)", permissions=["view"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, changes={"enabled": True})
        messages.success(request, f"{queryset.count()} endpoint(s) enabled.")

    @admin.action(description="Disable", permissions=["view"])
    def disable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, changes={"enabled": False})
        messages.success(request, f"{queryset.count()} endpoint(s) disabled.")


@admin.register(Preferences)
class PreferencesAdmin(ViewOnlyAdmin):
    list_display = ["user", "choices"]
    search_fields = ["user__username"]
