"""/ivoa/: the IVOA ExecutionBroker interface; every path with or without a trailing slash.
Any other path under /ivoa/ (control characters included) is a 404 problem, never HTML."""

from django.urls import re_path

from bookings.ivoa import views

urlpatterns = [
    re_path(r"^offersets/?$", views.offerset_create, name="ivoa-offersets"),
    re_path(r"^offersets/(?P<uuid>[^/]+)/?$", views.offerset_detail, name="ivoa-offerset"),
    re_path(r"^sessions/(?P<uuid>[^/]+)/?$", views.session_detail, name="ivoa-session"),
    re_path(r"^direct/?$", views.direct, name="ivoa-direct"),
    re_path(r"^[\s\S]*$", views.not_found, name="ivoa-not-found"),
]
