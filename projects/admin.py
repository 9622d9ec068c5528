"""Operators' admin for projects, members, allocations, rates, policy and the ledger."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone

from projects.domain.allocations import allocation_check, allocation_save
from projects.domain.ledger import project_left
from projects.domain.policy import FIELDS
from projects.domain.usage import usage_report_csv
from projects.models import LedgerEntry, Membership, PolicyLimit, Project, Rate, SUAllocation


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class AllocationInline(admin.TabularInline):
    """Read-only here: an allocation is written on its own page (through allocation_save)."""

    model = SUAllocation
    extra = 0
    fields = ["su", "site", "valid_from", "valid_to", "note"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "allocated", "left"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, AllocationInline]
    actions = ["usage_report"]

    @admin.display(description="allocated SU (valid now or later)")
    def allocated(self, project):
        return project_left(project.id)[0]

    @admin.display(description="SU left")
    def left(self, project):
        return project_left(project.id)[1]

    @admin.action(description="Usage report of the selected projects (CSV)")
    def usage_report(self, request, queryset):
        return _csv(usage_report_csv(queryset.order_by("slug")))

    def get_urls(self):
        report = path(
            "report.csv",
            self.admin_site.admin_view(lambda request: _csv(usage_report_csv())),
            name="projects_project_report",
        )
        return [report, *super().get_urls()]


def _csv(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
    return response


class AllocationForm(forms.ModelForm):
    class Meta:
        model = SUAllocation
        fields = ["project", "su", "site", "valid_from", "valid_to", "note"]

    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            try:
                allocation_check(self.instance)
            except ValidationError as error:
                self._update_errors(error)


@admin.register(SUAllocation)
class SUAllocationAdmin(admin.ModelAdmin):
    form = AllocationForm
    list_display = ["project", "su", "drawn", "site", "valid_from", "valid_to", "note"]
    list_filter = ["site", "project"]
    search_fields = ["project__slug", "note"]

    @admin.display(description="SU drawn")
    def drawn(self, allocation):
        return allocation.entries.aggregate(s=Sum("su"))["s"] or 0

    def save_model(self, request, obj, form, change):
        try:
            allocation_save(obj)
        except ValidationError as error:  # a charge landed since the form was checked
            messages.error(request, f"Not saved: {' '.join(error.messages)}")


@admin.register(Rate)
class RateAdmin(admin.ModelAdmin):
    list_display = [
        "pool",
        "cores",
        "memory_gib",
        "gpus",
        "size_gib",
        "readers",
        "peak_factor",
        "peak_start",
        "peak_end",
    ]


@admin.register(PolicyLimit)
class PolicyLimitAdmin(admin.ModelAdmin):
    list_display = ["__str__", *FIELDS, "quiet_start", "quiet_end"]
    list_filter = ["site", "project"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger, read-only: accepts, extensions and refunds write it (projects.domain.ledger)."""

    list_display = ["time", "project", "kind", "su", "allocation", "lease", "message"]
    list_filter = ["kind", "project"]
    date_hierarchy = "time"
    list_select_related = ["project", "allocation", "lease"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
