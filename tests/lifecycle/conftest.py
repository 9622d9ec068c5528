"""Fixtures of the life-cycle tests: the session's Redis, Celery worker and beat (see
tests/lifecycle/lifecycle_support.py), started against pytest-django's test database."""

import pytest
from django.db import connection

from resources.models import Site
from tests.lifecycle.lifecycle_support import Cluster, database_url


@pytest.fixture(scope="session")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory):
    """Redis, one worker and beat for the whole session; tests may kill and add workers."""
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    cluster = Cluster(tmp_path_factory.mktemp("lifecycle"), url)
    try:
        cluster.start_redis()
        cluster.start_worker()
        cluster.start_beat()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def site(transactional_db):
    return Site.objects.create(slug="lab", name="Lab")
