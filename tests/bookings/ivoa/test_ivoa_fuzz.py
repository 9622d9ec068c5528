"""Hypothesis over IVOA documents (issue 11): our examples with parts replaced by junk —
keys of mixed types, huge numbers, far dates, odd kinds, nested lists and maps — posted as
JSON and YAML. Never a 5xx, never HTML: an answer in the negotiated format or a problem."""

import copy
import json
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bookings.ivoa.ivoadata import example, example_names, example_text

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

EB = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
FAR = [
    "9999-12-31T00:00:00Z/P2D",
    "P2D/0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-12-03T00:00:00Z/P99999999999D",
    "P99999999999D",
    "PT99999999999999999999H",
    "P1Y",
    "PT0S",
    "-PT1H",
    "2026-13-45T99:99:99Z",
]
KINDS = [
    f"{EB}/executable/docker-container-1.0",
    f"{EB}/compute/simple-compute-resource-1.0",
    f"{EB}/storage/simple-storage-resource-1.0",
    f"{EB}/data/skao-data-resource-1.0",
    f"{EB}/volume/simple-volume-mount-1.0",
    f"{EB}//types/volume/simple-volume-mount-1.0",
    "uri:enum-value-update",
    "urn:nonsense",
]
WORDS = [
    "kind",
    "type",
    "meta",
    "name",
    "min",
    "max",
    "units",
    "cores",
    "memory",
    "size",
    "data",
    "storage",
    "volumes",
    "schedule",
    "requested",
    "start",
    "duration",
    "skao",
    "datasize",
    "location",
    "image",
    "locations",
    "path",
    "value",
    "phase",
    "ACCEPTED",
]
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**20, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.text(max_size=12),
    st.sampled_from(FAR + KINDS + WORDS),
)
KEYS = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=6),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
PLACES = [
    (),
    ("meta",),
    ("name",),
    ("executable",),
    ("executable", "kind"),
    ("compute",),
    ("compute", "cores"),
    ("compute", "cores", "min"),
    ("compute", "memory"),
    ("compute", "memory", "max"),
    ("compute", "meta"),
    ("computer",),
    ("storage",),
    ("data",),
    ("volumes",),
    ("schedule",),
    ("schedule", "requested"),
    ("schedule", "requested", "start"),
    ("schedule", "requested", "duration"),
    ("resources",),
]


def _put(document, place: tuple, value):
    if not place:
        return value if isinstance(value, dict) else document
    target = document
    for key in place[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[place[-1]] = value
    return document


@st.composite
def documents(draw):
    document = copy.deepcopy(example(draw(st.sampled_from(example_names()))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        place = draw(st.sampled_from(PLACES))
        document = _put(document, place, draw(JUNK))
    return document


def encode(document, media: str) -> str:
    if media == "application/json":
        return json.dumps(document, allow_nan=True, default=str)
    return yaml.safe_dump(document, allow_unicode=True)


def assert_answer_or_problem(response, media: str) -> None:
    assert response.status_code < 500, response.content[:500]
    kind = response["Content-Type"]
    assert "html" not in kind
    problem = kind.startswith("application/problem+")
    wanted = "json" if media == "application/json" else "yaml"
    assert kind.startswith((f"application/problem+{wanted}", f"application/{wanted}")), kind
    body = (json.loads if wanted == "json" else yaml.safe_load)(response.content)
    if problem:
        assert body["status"] == response.status_code
        assert all(isinstance(e["path"], str) for e in body["errors"])
    else:
        assert response.status_code in (200, 303)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"offer_sets": "100000/min"},
    }


@FUZZ
@given(document=documents(), media=st.sampled_from(["application/json", "application/yaml"]))
def test_fuzzed_offer_set_requests_never_fail(ivoa, unthrottled, document, media):
    response = ivoa.post(
        "/ivoa/offersets", encode(document, media), content_type=media, HTTP_ACCEPT=media
    )

    assert_answer_or_problem(response, media)


@pytest.fixture
def session_url(ivoa):
    text, media = example_text("notebook.yaml")
    body = yaml.safe_load(ivoa.post("/ivoa/offersets", text, content_type=media).content)
    return urlsplit(body["offers"][0]["meta"]["url"]).path


UPDATE = {"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED"}


@FUZZ
@given(
    junk=st.lists(
        st.tuples(st.sampled_from([(), ("update",), ("kind",), ("path",), ("value",)]), JUNK),
        min_size=1,
        max_size=3,
    ),
    media=st.sampled_from(["application/json", "application/yaml"]),
)
def test_fuzzed_session_updates_never_fail(ivoa, session_url, junk, media):
    document = copy.deepcopy(UPDATE)
    for place, value in junk:
        document = _put(document, place, value)

    response = ivoa.post(
        session_url, encode(document, media), content_type=media, HTTP_ACCEPT=media
    )

    assert_answer_or_problem(response, media)
