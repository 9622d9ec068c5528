from django.contrib import admin

from resources.forms import PoolForm
from resources.models import CapacityChange, Dataset, DatasetReplica, Pool, Site, Template


class CapacityChangeInline(admin.TabularInline):
    model = CapacityChange
    extra = 0
    fields = ["start", "end", "cores", "memory_gib", "gpus", "size_gib", "readers", "reason"]


class PoolInline(admin.TabularInline):
    model = Pool
    extra = 0
    fields = ["slug", "kind", "cores", "memory_gib", "gpus", "size_gib", "readers", "enabled"]
    show_change_link = True


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PoolInline]


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
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

    @admin.display(description="capacity")
    def capacity_summary(self, pool: Pool) -> str:
        return ", ".join(f"{dim} {value}" for dim, value in pool.capacity().items())


@admin.register(CapacityChange)
class CapacityChangeAdmin(admin.ModelAdmin):
    list_display = ["pool", "start", "end", "reason"]
    list_filter = ["pool__site", "pool"]
    search_fields = ["reason", "pool__slug"]
    date_hierarchy = "start"
    list_select_related = ["pool"]


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
