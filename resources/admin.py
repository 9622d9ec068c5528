"""The inventory's admin. Capacity (capacity changes, a pool's base capacity, enabling it) is
written only by resources.domain.capacity, through the Celery worker's planner: saving first
shows the edit's impact (the leases it would move, displace, degrade or withdraw, and the
proposed re-plan) on a confirmation page; confirming applies it under the booking guard."""

import json

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from bookings.domain.errors import DomainError
from bookings.domain.isotime import parse_instant
from resources.choices import DIMENSIONS
from resources.domain.capacity import REMOVE, CapacityEdit, capacity_edit
from resources.forms import CapacityChangeForm, PoolEditForm, PoolForm
from resources.models import CapacityChange, Dataset, DatasetReplica, Pool, Site, Template
from resources.tasks import capacity_on_worker

CONFIRM, PROPOSAL = "_confirm_impact", "_proposal"
DASH = "\N{EN DASH}"


class ImpactFirstAdmin(admin.ModelAdmin):
    """Saving a form whose `edit` is set shows the impact first (preview on the worker);
    the confirmation posts the same form again with the proposal, which `save_model` hands
    to the service to apply (re-validated there)."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, object_id) if object_id else None
            form_class = self.get_form(request, obj, change=obj is not None)
            form = form_class(request.POST, request.FILES, instance=obj)
            if form.is_valid() and getattr(form, "edit", None) is not None:
                if CONFIRM not in request.POST:
                    try:
                        impact = capacity_on_worker(form.edit, apply=False, actor=request.user)
                    except DomainError as error:
                        self.message_user(request, _problem(error), messages.ERROR)
                        return HttpResponseRedirect(request.get_full_path())
                    return self._preview(request, obj, impact)
                self.save_rest(request, form, obj)
                self.apply(request, form.edit)
                return HttpResponseRedirect(
                    reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_rest(self, request, form, obj) -> None:
        """What the form changes besides capacity (written as usual)."""

    def _preview(self, request, obj, impact: dict) -> TemplateResponse:
        fields = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", CONFIRM, PROPOSAL)
            for value in values
        ]
        for row in impact["leases"]:
            row["booked"] = _between(row["start"], row["end"])
            row["new"] = _between(row["new_start"], row["new_end"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Confirm the capacity change",
            "zone": timezone.get_current_timezone_name(),
            "opts": self.model._meta,
            "original": obj,
            "impact": impact,
            "fields": fields,
            "proposal": json.dumps(impact["plan"]["proposal"]),
            "confirm": CONFIRM,
            "proposal_name": PROPOSAL,
        }
        return TemplateResponse(request, "admin/resources/capacity_impact.html", context)

    def apply(self, request, edit: CapacityEdit) -> dict | None:
        """Apply `edit` with the confirmed proposal; report the outcome; None if refused."""
        try:
            proposal = json.loads(request.POST.get(PROPOSAL) or "null")
        except json.JSONDecodeError:
            proposal = None
        try:
            impact = capacity_on_worker(edit, apply=True, actor=request.user, proposal=proposal)
        except DomainError as error:
            self.message_user(request, _problem(error), messages.ERROR)
            return None
        counts = ", ".join(f"{n} {verdict}" for verdict, n in impact["counts"].items() if n)
        self.message_user(
            request,
            f"{impact['summary']}: applied ({counts or 'no lease affected'}).",
            messages.SUCCESS,
        )
        for message in impact["messages"]:
            self.message_user(request, message, messages.WARNING)
        return impact


def _between(start: str, end: str) -> str:
    """Two instants of the impact in the operator's zone: "Thu 04 Dec 01:00 to 03:00"."""
    a, b = (timezone.localtime(parse_instant(t)) for t in (start, end))
    last = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a %d %b %H:%M}"
    return f"{a:%a %d %b %H:%M} {DASH} {last}"


def _problem(error: DomainError) -> str:
    details = "; ".join(str(e) for e in error.errors)
    return f"{error.title} {details}".strip()


class CapacityChangeInline(admin.TabularInline):
    """Shown here; added, changed and removed on their own admin page (impact first)."""

    model = CapacityChange
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = ["start", "end", *DIMENSIONS, "reason"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PoolInline(admin.TabularInline):
    model = Pool
    extra = 0
    fields = readonly_fields = ["slug", "kind", *DIMENSIONS, "enabled"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PoolInline]


@admin.register(Pool)
class PoolAdmin(ImpactFirstAdmin):
    form = PoolForm
    list_display = ["slug", "site", "kind", "capacity_summary", "adapter", "enabled"]
    list_filter = ["site", "kind", "adapter", "enabled"]
    search_fields = ["slug", "description", "site__slug", "site__name"]
    list_select_related = ["site"]
    inlines = [CapacityChangeInline]
    fieldsets = [
        (None, {"fields": ["slug", "site", "kind", "enabled", "description"]}),
        ("Capacity", {"fields": [("cores", "memory_gib", "gpus"), "size_gib", "readers"]}),
        ("Provisioning", {"fields": ["adapter", "adapter_settings"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = PoolEditForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_rest(self, request, form, obj) -> None:
        stored = Pool.objects.get(pk=obj.pk)
        for name in (*DIMENSIONS, "enabled"):  # capacity is the service's to write
            setattr(obj, name, getattr(stored, name))
        obj.save()
        self.log_change(request, obj, self.construct_change_message(request, form, None))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # disable it instead: its bookings are re-planned first

    @admin.display(description="capacity")
    def capacity_summary(self, pool: Pool) -> str:
        return ", ".join(f"{dim} {value}" for dim, value in pool.capacity().items())


@admin.register(CapacityChange)
class CapacityChangeAdmin(ImpactFirstAdmin):
    form = CapacityChangeForm
    list_display = ["pool", "start", "end", "capacity_summary", "reason"]
    list_filter = ["pool__site", "pool"]
    search_fields = ["reason", "pool__slug"]
    date_hierarchy = "start"
    list_select_related = ["pool"]

    def delete_model(self, request, obj):
        self.apply(request, capacity_edit(action=REMOVE, pool=obj.pool, change=obj, data={}))

    def delete_queryset(self, request, queryset):
        for change in queryset.select_related("pool"):
            self.delete_model(request, change)

    @admin.display(description="capacity")
    def capacity_summary(self, change: CapacityChange) -> str:
        return ", ".join(f"{dim} {value}" for dim, value in change.capacity().items())


class DatasetReplicaInline(admin.TabularInline):
    model = DatasetReplica
    extra = 0


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "size_gib"]
    search_fields = ["slug", "name"]
    inlines = [DatasetReplicaInline]


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
