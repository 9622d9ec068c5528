"""The projects' URLs; bookings.api.urls includes them under /api/v1/ (names in `api:`)."""

from django.urls import path

from projects.api import views

urlpatterns = [
    path("projects/", views.ProjectList.as_view(), name="project-list"),
    path("projects/<slug:id>/", views.ProjectDetail.as_view(), name="project-detail"),
    path("projects/<slug:id>/usage", views.ProjectUsage.as_view(), name="project-usage"),
]
