"""The webhooks' URLs; bookings.api.urls includes them under /api/v1/ (names in `api:`)."""

from django.urls import path

from notices.api import views

urlpatterns = [
    path("webhooks/", views.WebhookList.as_view(), name="webhook-list"),
    path("webhooks/<uuid:id>/", views.WebhookDetail.as_view(), name="webhook-detail"),
    path(
        "webhooks/<uuid:id>/deliveries/",
        views.WebhookDeliveries.as_view(),
        name="webhook-deliveries",
    ),
    path("webhooks/<uuid:id>/test", views.WebhookTest.as_view(), name="webhook-test"),
]
