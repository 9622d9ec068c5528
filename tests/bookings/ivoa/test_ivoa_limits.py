"""Hostile and odd input on every /ivoa/ endpoint (issue 11: 12, 13, 14, 16, 18): always a
problem naming the path, in the negotiated format, never a 5xx, never HTML."""

import copy
import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
import yaml
from django.test import override_settings

from bookings.api.exceptions import PROBLEM_TYPE
from bookings.ivoa import formats
from bookings.models import OfferSet
from tests.bookings.ivoa.ivoadata import example, example_names, example_text

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

MEDIA = ("application/json", "application/yaml")
UNKNOWN = "5ec79894-814f-4f81-9561-2fe4bfc6010d"


def load(response):
    return yaml.safe_load(response.content)


def dump(data, media: str) -> str:
    """JSON or YAML; HUGE becomes a 5000-digit integer (which Python itself cannot print)."""
    text = json.dumps(data) if media == "application/json" else yaml.safe_dump(data)
    for spelling in (f'"{HUGE}"', f"'{HUGE}'", HUGE):
        text = text.replace(spelling, "9" * 5000)
    return text


def assert_problem(response, status: int, *, media: str = "application/yaml"):
    """A problem in the negotiated format, parsed; its error paths are all strings."""
    expected = (
        "application/problem+json" if media == "application/json" else ("application/problem+yaml")
    )
    assert (response.status_code, response["Content-Type"]) == (status, expected)
    body = json.loads(response.content) if expected.endswith("json") else load(response)
    assert body["status"] == status
    assert all(isinstance(e["path"], str) for e in body["errors"]), body["errors"]
    return body


def paths(body) -> list[str]:
    return [e["path"] for e in body["errors"]]


def with_(document: dict, path: tuple, value) -> dict:
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return document


# --- our own example documents ---------------------------------------------------------


@pytest.mark.parametrize("name", example_names())
def test_our_example_documents_are_offered(ivoa, name):
    text, media = example_text(name)

    response = ivoa.post("/ivoa/offersets", text, content_type=media)

    assert response.status_code == 303
    assert load(response)["result"] == "YES"


# --- 12: the inputs that were 500s -----------------------------------------------------

NOTEBOOK = example("notebook.yaml")
HUGE = "HUGE-NUMBER"
# (where, value, the path the problem must name); each as JSON and as YAML.
FIELD_CASES = [
    (("compute", "cores"), 10**20, "compute.cores"),
    (("compute", "cores"), 1e20, "compute.cores"),
    (("compute", "cores"), {"min": 1, "max": HUGE}, "compute.cores.max"),
    (("compute", "memory"), HUGE, "compute.memory"),
    (("schedule", "requested", "start"), "9999-12-31T00:00:00Z/P2D", "schedule.requested.start"),
    (("schedule", "requested", "start"), "P2D/0001-01-01T00:00:00Z", "schedule.requested.start"),
    (("schedule", "requested", "start"), "2026-12-03T00:00:00Z/P99999999999D", None),
    (("schedule", "requested", "duration"), "P99999999999D", "schedule.requested.duration"),
    (("schedule", "requested", "duration"), "PT99999999999999999999H", None),
]
FIELD_CASES += [(("data",), [value], "data[0].skao.datasize") for value in (10**30, 1e30, HUGE)]
FIELD_CASES += [(("storage",), value, "storage[0].size") for value in (10**20, 1e20, HUGE)]


def _document(where: tuple, value) -> dict:
    if where == ("data",):
        return with_(
            NOTEBOOK,
            ("data",),
            [
                {
                    "kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/data/"
                    "skao-data-resource-1.0",
                    "meta": {"name": "cube"},
                    "skao": {"namespace": "x", "objectname": "y", "datasize": value[0]},
                }
            ],
        )
    if where == ("storage",):
        return with_(
            NOTEBOOK,
            ("storage",),
            [
                {
                    "kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/storage/"
                    "simple-storage-resource-1.0",
                    "meta": {"name": "scratch"},
                    "size": value,
                }
            ],
        )
    return with_(NOTEBOOK, where, value)


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(("where", "value", "path"), FIELD_CASES)
def test_huge_numbers_and_far_dates_are_400_naming_the_path(ivoa, media, where, value, path):
    response = ivoa.post(
        "/ivoa/offersets", dump(_document(where, value), media), content_type=media
    )

    body = assert_problem(response, 400, media=media)
    assert paths(body) == [path or ".".join(where)]
    assert OfferSet.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("1: x", ["1"]),
        ("null: x\ntrue: y", ["null", "true"]),
        ("meta: {name: n, 2: x}", ["meta.2"]),
        ("compute: {cores: {min: 1, 3: 4}}", ["compute.cores.3"]),
        ("compute: {meta: {1.5: x, false: y}}", ["compute.meta.1.5", "compute.meta.false"]),
        ("x: " + "7" * 5000, ["x"]),
        ("x: [1, " + "-" + "7" * 5000 + "]", ["x[1]"]),
        ("meta: {name: a}\nmeta: {name: b}", ["meta"]),
    ],
)
def test_yaml_keys_that_are_not_strings_are_named_by_a_string_path(ivoa, text, errors):
    response = ivoa.post("/ivoa/offersets", text, content_type="application/yaml")

    assert paths(assert_problem(response, 400)) == errors


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ('{"a": 1, "a": 2}', ["a"]),
        ('{"compute": {"cores": ' + "1" * 5000 + "}}", ["compute.cores"]),
        ('{"x": [NaN, Infinity]}', ["x[0]", "x[1]"]),
    ],
)
def test_json_keys_twice_long_numbers_and_nan_are_named(ivoa, text, errors):
    response = ivoa.post(
        "/ivoa/offersets", text, content_type="application/json", HTTP_ACCEPT="application/json"
    )

    assert paths(assert_problem(response, 400, media="application/json")) == errors


# --- 13: bounded parsing on every endpoint ----------------------------------------------


@pytest.fixture
def session_url(ivoa):
    text, media = example_text("notebook.yaml")
    body = load(ivoa.post("/ivoa/offersets", text, content_type=media))
    return urlsplit(body["offers"][0]["meta"]["url"]).path


def _endpoints(session_url):
    return ["/ivoa/offersets", "/ivoa/direct", session_url]


# Each at most 1 MiB; the YAML ones are the worst shapes for a YAML parser we know of.
HOSTILE = {
    "flow-list": "[" + ",".join(["1"] * 500_000) + "]",
    "block-list": "- 1\n" * 260_000,
    "many-keys": "".join(f"k{i}: {i}\n" for i in range(70_000)),
    "deep": "[" * 500_000,
    "deep-maps": "a: {" * 200_000,
    "aliases": "a: &a [1, 1]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
    "long-scalar": "name: " + "x" * 1_000_000,
    "long-comment": "nom: x #" + "x" * 1_000_000,
}


def test_a_body_over_1_mib_is_413_on_every_endpoint(ivoa, session_url):
    text = "name: " + "x" * formats.MAX_BODY_BYTES
    for url in _endpoints(session_url):
        response = ivoa.post(url, text, content_type="application/yaml")

        body = assert_problem(response, 413)
        assert body["title"] == "The body is too large."


@pytest.mark.parametrize("shape", HOSTILE)
def test_hostile_yaml_is_refused_quickly_on_every_endpoint(ivoa, session_url, shape):
    text = HOSTILE[shape]
    assert len(text.encode()) <= formats.MAX_BODY_BYTES
    for url in _endpoints(session_url):
        started = time.perf_counter()
        response = ivoa.post(url, text, content_type="application/yaml")
        elapsed = time.perf_counter() - started

        assert response.status_code == 400, (url, response.content[:300])
        assert_problem(response, 400)
        # measured worst case 0.1 s on a loaded 2-core machine; the bound leaves room
        assert elapsed < 1.5, (url, shape, elapsed)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("a: &x [1]\nb: *x", "b", "aliases (*name) are not accepted"),
        ("a: {b: [" + "[" * 40, "a.b" + "[0]" * 30, "the document is nested more than 32 deep"),
        (
            "a: [" + ", ".join(["1"] * 20_000) + "]",
            "a[9997]",
            "the document has more than 10000 values",
        ),
    ],
)
def test_yaml_limits_name_where_they_were_hit(ivoa, text, path, message):
    response = ivoa.post("/ivoa/offersets", text, content_type="application/yaml")

    assert assert_problem(response, 400)["errors"] == [{"path": path, "message": message}]


def test_json_past_the_node_and_depth_limits_is_400(ivoa):
    deep = '{"a": ' * 40 + "1" + "}" * 40
    many = json.dumps({"a": list(range(20_000))})
    for text in (deep, many):
        response = ivoa.post(
            "/ivoa/offersets", text, content_type="application/json", HTTP_ACCEPT="application/json"
        )

        assert assert_problem(response, 400, media="application/json")["errors"]


# --- 16: every answer under /ivoa/ is a problem or a document, never HTML ------------------

UNMATCHED = [
    "/ivoa/nope",
    "/ivoa/",
    "/ivoa/offersets/a/b",
    "/ivoa/sessions",
    "/ivoa/sessions/",
    "/ivoa/direct/x",
    "/ivoa/%01%0a%7f",
    "/ivoa/offersets%00",
    "/ivoa/sessions/x/%0d%0a",
]


@pytest.mark.parametrize("path", UNMATCHED)
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("media", MEDIA)
def test_unmatched_ivoa_paths_are_404_problems_as_negotiated(ivoa, path, method, media):
    response = getattr(ivoa, method)(path, HTTP_ACCEPT=media)

    body = assert_problem(response, 404, media=media)
    assert body["type"] == PROBLEM_TYPE + "not-found"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/ivoa/offersets", "POST"),
        (f"/ivoa/offersets/{UNKNOWN}", "GET"),
        (f"/ivoa/sessions/{UNKNOWN}", "GET, POST"),
        ("/ivoa/direct", "POST"),
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("media", MEDIA)
def test_other_methods_are_405_problems_as_negotiated(ivoa, path, allowed, method, media):
    if method.upper() in allowed:
        return
    response = getattr(ivoa, method)(path, HTTP_ACCEPT=media)

    assert_problem(response, 405, media=media)
    assert response["Allow"] == allowed


# --- 18: a POST without Content-Type is YAML ---------------------------------------------


def test_a_post_without_content_type_is_read_as_yaml(live_server, token, capacity):
    """Over a real socket: Django's own server reports a missing header as text/plain."""
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    text = example_text("notebook.yaml")[0].encode()
    connection.putrequest("POST", "/ivoa/offersets", skip_accept_encoding=True)
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Length", str(len(text)))
    connection.endheaders(text)
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert (response.status, response.getheader("Content-Type")) == (
        303,
        "application/yaml; charset=utf-8",
    )
    assert yaml.safe_load(body)["result"] == "YES"


# --- 14: Redis down ----------------------------------------------------------------------


def test_redis_down_is_a_503_problem_with_retry_after_quickly(ivoa, settings):
    closed = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    for media in MEDIA:
        started = time.perf_counter()
        with override_settings(CACHES=closed):  # restored before the fixtures' own cleanup
            response = ivoa.post(
                "/ivoa/offersets", dump(NOTEBOOK, media), content_type=media, HTTP_ACCEPT=media
            )
        elapsed = time.perf_counter() - started

        body = assert_problem(response, 503, media=media)
        assert int(response["Retry-After"]) > 0
        assert body["type"] == PROBLEM_TYPE + "dependency-unavailable"
        assert elapsed < 2, elapsed
    assert OfferSet.objects.count() == 0
