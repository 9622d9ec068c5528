"""The committed OpenAPI schema is current, and the API keeps to it under generated input:
every operation on its own (schemathesis' examples plus bodies and queries with huge numbers,
far dates and the limits of each type), and chains of calls that follow the links the schema
implies (offer set → its offers → accept / extend / cancel …). No answer may be a 5xx."""

from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bookings.models import ApiToken
from scheduler.wsgi import application
from tests.bookings.api.apidata import DAY

SCHEMA_FILE = Path(settings.BASE_DIR) / "scheduler" / "openapi.yaml"
CHECKS = [not_a_server_error, response_schema_conformance]

schema = schemathesis.openapi.from_path(SCHEMA_FILE)
schema.app = application

# Values at and past the edges: what a client may send that the generator seldom picks.
HUGE_INTS = st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**12, 10**20, 10**99])
FAR_INSTANTS = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999-12:00",
        "2262-04-11T23:47:16Z",
        "2038-01-19T03:14:08Z",
    ]
)
NEAR_INSTANTS = st.sampled_from([f"{DAY}T08:00:00Z", f"{DAY}T12:00:00Z", "2030-06-01T00:00:00Z"])
INSTANTS = st.one_of(FAR_INSTANTS, NEAR_INSTANTS)
DURATIONS = st.one_of(
    st.sampled_from(
        ["PT1H", "PT2H", "P1D", "P14D", "P90D", "P9999999999D", "PT99999999999999999999H"]
    ),
    st.sampled_from(["P0D", "PT0S", "P1W", "PT1M", "P366D"]),
    HUGE_INTS,
    st.integers(1, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
)
WINDOWS = st.one_of(
    st.builds(lambda a, b: f"{a}/{b}", INSTANTS, INSTANTS),
    st.builds(lambda a, d: f"{a}/{d}", INSTANTS, st.sampled_from(["P2D", "P99999999999D", "PT1H"])),
    INSTANTS,
    st.none(),
)
AMOUNTS = st.one_of(
    st.integers(0, 60),
    HUGE_INTS,
    st.builds(
        lambda a, b: {"min": a, "max": b},
        st.integers(0, 60),
        st.one_of(st.integers(0, 99), HUGE_INTS),
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
COMPONENTS = st.lists(
    st.fixed_dictionaries(
        {"amounts": st.fixed_dictionaries({"cores": AMOUNTS}, optional={"memory_gib": AMOUNTS})},
        optional={
            "name": st.sampled_from(["workers", "head", "w" * 100]),
            "replicas": st.one_of(st.integers(1, 8), HUGE_INTS),
            "kind": st.sampled_from(["compute", "storage"]),
        },
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda c: c.get("name"),
)
# Near-valid requests, so the chains reach offers, and their fields' edges.
REQUESTS = st.fixed_dictionaries(
    {
        "components": COMPONENTS,
        "duration": st.one_of(
            DURATIONS, st.builds(lambda a, b: {"min": a, "max": b}, DURATIONS, DURATIONS)
        ),
    },
    optional={
        "start": WINDOWS,
        "max_offers": st.one_of(st.integers(1, 10), HUGE_INTS),
        "name": st.text(max_size=5),
    },
)
QUERY_VALUES = {
    "start": INSTANTS,
    "end": INSTANTS,
    "limit": st.one_of(st.integers(1, 500), HUGE_INTS).map(str),
    "offset": st.one_of(st.integers(0, 10), HUGE_INTS).map(str),
}


@schema.hook
def flatmap_body(context, body):
    """Half of the bodies are replaced by one of ours (the generator's own stay too)."""
    path = context.operation.path
    if path == "/api/v1/offer-sets/":
        ours = REQUESTS
    elif path.endswith("/extend"):
        ours = st.fixed_dictionaries({"end": INSTANTS})
    else:
        return st.just(body)
    return st.one_of(st.just(body), ours)


@schema.hook
def flatmap_query(context, query):
    """Query parameters at their edges, for the parameters an operation has."""
    names = {p.name for p in context.operation.query} & set(QUERY_VALUES)
    if not names:
        return st.just(query)
    ours = st.fixed_dictionaries({}, optional={name: QUERY_VALUES[name] for name in names})
    return st.one_of(st.just(query), ours.map(lambda q: {**(query or {}), **q}))


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
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_and_keeps_to_its_schema(case, key, capacity, keep_connection):
    case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=CHECKS)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db
def test_chains_of_calls_never_fail(key, capacity, keep_connection):
    class Chains(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Token {key}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Chains.run(
        settings=hypothesis_settings(
            max_examples=60,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
