"""The inventory's URLs; bookings.api.urls includes them under /api/v1/ (names in `api:`)."""

from django.urls import path

from resources.api import views

urlpatterns = [
    path("sites/", views.SiteList.as_view(), name="site-list"),
    path("pools/", views.PoolList.as_view(), name="pool-list"),
    path(
        "pools/<slug:slug>/availability",
        views.PoolAvailability.as_view(),
        name="pool-availability",
    ),
    path(
        "pools/<slug:slug>/capacity-changes/",
        views.PoolCapacityChanges.as_view(),
        name="pool-capacity-changes",
    ),
    path("pools/<slug:slug>/capacity", views.PoolCapacity.as_view(), name="pool-capacity"),
    path(
        "capacity-changes/<int:id>",
        views.CapacityChangeDetail.as_view(),
        name="capacity-change",
    ),
]
