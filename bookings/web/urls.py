"""The web pages for astronomers (DESIGN §7)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from bookings.web import views

app_name = "web"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("ask/", views.ask, name="ask"),
    path("book/", views.book, name="book"),
    path("book/<uuid:offer_set_id>/", views.offer_set_detail, name="offer-set"),
    path(
        "book/<uuid:offer_set_id>/suggestions/<int:index>/",
        views.offer_set_relax,
        name="offer-set-relax",
    ),
    path(
        "book/<uuid:offer_set_id>/decline/", views.offer_set_decline_view, name="offer-set-decline"
    ),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/events/", views.calendar_events, name="calendar-events"),
    path("calendar/ical/reset/", views.ical_reset, name="ical-reset"),
    path("availability/", views.availability, name="availability"),
    path("profile/", views.profile, name="profile"),
    path("leases/<uuid:lease_id>/", views.lease_detail, name="lease"),
    path("leases/<uuid:lease_id>/live/", views.lease_live, name="lease-live"),
    path("leases/<uuid:lease_id>/accept/", views.accept, name="lease-accept"),
    path("leases/<uuid:lease_id>/cancel/", views.lease_cancel_view, name="lease-cancel"),
    path("leases/<uuid:lease_id>/release/", views.lease_release_view, name="lease-release"),
    path("leases/<uuid:lease_id>/extend/", views.lease_extend_view, name="lease-extend"),
]
