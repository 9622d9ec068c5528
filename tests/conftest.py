"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis."""

import pytest
from django.contrib.auth import get_user_model


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
