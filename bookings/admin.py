from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_cancel_by_operator, lease_mark_failed
from bookings.domain.offer_sets import offer_set_decline
from bookings.models import Allocation, ApiToken, Lease, LeaseEvent, OfferSet, Profile
from resources.domain.capacity import lease_replan


class AllocationInline(admin.TabularInline):
    """What the lease consumes: shown, never edited here (only the booking guard writes it)."""

    model = Allocation
    extra = 0
    can_delete = False
    fields = readonly_fields = [
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

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LeaseEventInline(admin.TabularInline):
    """The audit trail: shown, never edited."""

    model = LeaseEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["time", "from_phase", "to_phase", "actor_kind", "actor", "message"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ViewOnlyAdmin(admin.ModelAdmin):
    """Shown, never edited here: such rows change only through the domain services (their
    checks, their events), which the admin offers as actions."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LeaseActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=200,
        help_text="Why (for cancel and mark failed): written in the event and the notice.",
    )


@admin.register(Lease)
class LeaseAdmin(ViewOnlyAdmin):
    """Leases are shown, never edited: phase, times and allocations change only through the
    domain services, which the actions call (events and notices included)."""

    list_display = ["id", "name", "owner", "phase", "site", "start", "end", "flags"]
    list_filter = ["phase", "site", "displaced", "degraded"]
    search_fields = ["id", "name", "owner__username"]
    date_hierarchy = "start"
    list_select_related = ["owner", "site"]
    inlines = [AllocationInline, LeaseEventInline]
    action_form = LeaseActionForm
    actions = ["cancel", "mark_failed", "replan"]

    @admin.display(description="flags")
    def flags(self, lease: Lease) -> str:
        flags = []
        if lease.displaced:
            flags.append(f"displaced (decide by {lease.displaced_deadline:%Y-%m-%d %H:%M})")
        if lease.degraded:
            flags.append("degraded")
        return ", ".join(flags) or "—"

    def _each(self, request, queryset, verb: str, service) -> None:
        done = 0
        for lease_id in queryset.values_list("id", flat=True):
            try:
                service(lease_id)
            except DomainError as error:
                self.message_user(request, f"{lease_id}: {error.title}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{verb} {done} lease(s).", messages.SUCCESS)

    @admin.action(description="Cancel the selected leases (give a reason)", permissions=["view"])
    def cancel(self, request, queryset):
        self._with_reason(request, queryset, "Cancelled", lease_cancel_by_operator)

    @admin.action(
        description="Mark the selected leases failed (give a reason)", permissions=["view"]
    )
    def mark_failed(self, request, queryset):
        self._with_reason(request, queryset, "Marked failed", lease_mark_failed)

    def _with_reason(self, request, queryset, verb: str, service) -> None:
        reason = request.POST.get("reason", "").strip()
        self._each(
            request,
            queryset,
            verb,
            lambda id: service(lease_id=id, user=request.user, reason=reason),
        )

    @admin.action(description="Re-plan the selected displaced leases", permissions=["view"])
    def replan(self, request, queryset):
        self._each(
            request,
            queryset,
            "Re-planned",
            lambda id: lease_replan(lease_id=id, actor=request.user),
        )


class LeaseInline(admin.TabularInline):
    model = Lease
    fk_name = "offer_set"
    extra = 0
    fields = readonly_fields = ["id", "rank", "phase", "site", "start", "end", "expires"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OfferSet)
class OfferSetAdmin(ViewOnlyAdmin):
    list_display = ["id", "name", "owner", "result", "created", "expires"]
    list_filter = ["result"]
    search_fields = ["id", "name", "owner__username"]
    date_hierarchy = "created"
    inlines = [LeaseInline]
    actions = ["decline"]

    @admin.action(
        description="Decline the unaccepted offers of the selected sets", permissions=["view"]
    )
    def decline(self, request, queryset):
        declined = sum(offer_set_decline(offer_set=s, user=request.user) for s in queryset)
        self.message_user(request, f"Declined {declined} offer(s).", messages.SUCCESS)


@admin.register(LeaseEvent)
class LeaseEventAdmin(ViewOnlyAdmin):
    list_display = ["time", "lease", "from_phase", "to_phase", "actor_kind", "actor", "message"]
    list_filter = ["to_phase", "actor_kind"]
    search_fields = ["lease__id", "message", "actor__username"]
    date_hierarchy = "time"


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
