"""The committed OpenAPI schema is current, and the API keeps to it under generated input."""

from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bookings.models import ApiToken
from scheduler.wsgi import application

SCHEMA_FILE = Path(settings.BASE_DIR) / "scheduler" / "openapi.yaml"

schema = schemathesis.openapi.from_path(SCHEMA_FILE)
schema.app = application


@pytest.mark.integration
def test_the_committed_schema_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated), "--validate", "--fail-on-warn")
    assert generated.read_text() == SCHEMA_FILE.read_text(), (
        "scheduler/openapi.yaml is stale: run "
        "`.venv/bin/python manage.py spectacular --file scheduler/openapi.yaml`"
    )


@pytest.fixture
def key(user):
    return ApiToken.issue(user=user)[1]


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection after each request, which would end
    the test's transaction; Django's test client disconnects the same handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_and_keeps_to_its_schema(case, key, capacity, keep_connection):
    case.call_and_validate(
        headers={"Authorization": f"Token {key}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
