"""The native REST API (DESIGN §7), under /api/."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings.api import views
from bookings.api.exceptions import not_found

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("v1/", include("resources.api.urls")),
    path("v1/", include("notices.api.urls")),
    path("v1/", include("projects.api.urls")),
    path("v1/offer-sets/", views.OfferSetCreate.as_view(), name="offer-set-create"),
    path("v1/offer-sets/<uuid:id>/", views.OfferSetDetail.as_view(), name="offer-set-detail"),
    path(
        "v1/offer-sets/<uuid:id>/decline",
        views.OfferSetDecline.as_view(),
        name="offer-set-decline",
    ),
    path("v1/leases/", views.LeaseList.as_view(), name="lease-list"),
    path("v1/leases/<uuid:id>/", views.LeaseDetail.as_view(), name="lease-detail"),
    path("v1/leases/<uuid:id>/accept", views.LeaseAccept.as_view(), name="lease-accept"),
    path("v1/leases/<uuid:id>/reject", views.LeaseReject.as_view(), name="lease-reject"),
    path("v1/leases/<uuid:id>/cancel", views.LeaseCancel.as_view(), name="lease-cancel"),
    path("v1/leases/<uuid:id>/release", views.LeaseRelease.as_view(), name="lease-release"),
    path("v1/leases/<uuid:id>/extend", views.LeaseExtend.as_view(), name="lease-extend"),
    path("v1/calendar.ics", views.Calendar.as_view(), name="calendar"),
    # Last: anything else under /api/ (control characters included) is a problem+json 404.
    re_path(r"^(?P<path>[\s\S]*)\Z", not_found),
]
