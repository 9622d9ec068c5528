"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis."""

import os

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from hypothesis import settings as hypothesis_settings

from tests.notices.support import SmtpSink

# CI runs derandomized (HYPOTHESIS_PROFILE=ci in .ci/run): a submission lands on what its own
# run saw, not on a new draw. Developers' runs keep exploring (the default profile).
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = ["pytester", "tests.layers"]


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("astro", password="astro-pass")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", password="other-pass")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "operator", password="operator-pass", is_staff=True, is_superuser=True
    )


@pytest.fixture(autouse=True)
def far_horizon():
    """The shared test data is pinned to fixed days in 2030 (so bodies compare exactly), past
    the default 90-day horizon: every test plans with a 10-year one. Tests of the policy
    limits (tests/bookings/test_policy.py) set the limits they test."""
    with override_settings(BOOKING_MAX_LEAD="P3660D", BOOKING_MAX_END="P3660D"):
        yield


@pytest.fixture
def smtp(settings):
    """A real SMTP server; Django's SMTP backend pointed at it."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield sink
    sink.stop()
