"""/ivoa/: the IVOA ExecutionBroker interface; every path with or without a trailing slash.
Any other path under /ivoa/ (control characters included) is a 404 problem, never HTML."""

from django.urls import re_path

from bookings.ivoa import views

urlpatterns = [
    re_path(r"^offersets/?$", views.OfferSets.as_view(), name="ivoa-offersets"),
    re_path(r"^offersets/(?P<uuid>[^/]+)/?$", views.OfferSet.as_view(), name="ivoa-offerset"),
    re_path(r"^sessions/(?P<uuid>[^/]+)/?$", views.Session.as_view(), name="ivoa-session"),
    re_path(r"^direct/?$", views.Direct.as_view(), name="ivoa-direct"),
    re_path(r"^[\s\S]*$", views.NotFound.as_view(), name="ivoa-not-found"),
]
