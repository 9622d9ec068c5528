"""Fixtures of the API tests: a small site loaded the way operators load one, and clients."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from bookings.models import ApiToken
from resources.domain.capacity_file import capacity_file_load
from tests.bookings.api.apidata import CAPACITY


@pytest.fixture
def capacity(db):
    capacity_file_load(data=CAPACITY)


@pytest.fixture(autouse=True)
def generous_throttle(settings):
    """Only the throttling test meets the limit; the Redis counters outlive test databases."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"offer_sets": "100000/min"},
    }


def token_client(user) -> APIClient:
    _, key = ApiToken.issue(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(user):
    return token_client(user)


@pytest.fixture
def other_api(other_user):
    return token_client(other_user)


@pytest.fixture
def staff_api(staff):
    return token_client(staff)


@pytest.fixture
def clear_throttle():
    """Forget the offer-set throttle history of a user (user ids repeat across test runs)."""

    def clear(user):
        cache.delete(f"throttle_offer_sets_{user.pk}")

    return clear
