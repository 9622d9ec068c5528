"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis."""

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings


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
