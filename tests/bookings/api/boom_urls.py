"""A URLconf for tests/bookings/api/test_api_error_shapes.py: the real one plus an API view
that fails outside DRF, as a bug in a plain Django view or middleware would."""

from django.urls import path

from scheduler.urls import urlpatterns as real


def boom(request):
    raise RuntimeError("a bug outside DRF")


urlpatterns = [path("api/boom", boom), *real]
