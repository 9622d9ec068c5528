from django.contrib import admin
from django.urls import include, path

from scheduler.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("bookings.api.urls")),
    path("ivoa/", include("bookings.ivoa.urls")),
    path("", include("notices.web.urls")),
    path("", include("projects.web.urls")),
    path("", include("bookings.web.urls")),
]
