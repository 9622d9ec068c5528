"""Fixtures of the life-cycle tests: the session's Redis, Celery worker and beat (see
tests/bookings/lifecycle/lifecycle_support.py), started against pytest-django's test database."""

from pathlib import Path

import pytest
from django.db import connection

from resources.models import Site
from tests.bookings.lifecycle.lifecycle_support import Cluster, database_url, make_pool

HERE = Path(__file__).resolve().parent
_running: list[Cluster] = []


def pytest_runtest_teardown(item, nextitem):
    """Stop the cluster after the last life-cycle test: a worker left ticking would move the
    leases of later tests that commit (transactional and browser tests)."""
    if _running and (nextitem is None or HERE not in Path(nextitem.path).resolve().parents):
        _running.pop().stop()


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
        _running.append(cluster)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def site(transactional_db):
    return Site.objects.create(slug="lab", name="Lab")


@pytest.fixture
def pool(db):
    """A simulated pool in a test transaction, for the in-process tests (no worker)."""
    return make_pool(Site.objects.create(slug="lab", name="Lab"), "sim", "simulated", {})
