"""Request bodies: what JSON lets through silently is refused by name (issue 11, defect 18),
what the domain must judge reaches it unchanged (defect 11), and the OpenAPI schema refuses
what the server refuses."""

import io
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

from bookings.api.parsers import TextJSONParser
from tests.bookings.api.apidata import problem, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

NESTED = worker_request(
    components=[
        {"name": "head", "kind": "compute", "amounts": {"cores": 2, "memory_gib": {"min": 4}}},
        {"name": "workers", "replicas": 2, "amounts": {"cores": {"min": 4, "max": 8}}},
    ],
    duration={"min": "PT1H", "max": "PT2H"},
    executable={"kind": "spark-job", "meta": {"name": "x"}},
)


def objects(value, path=""):
    """(path of the object, key) for every key of every object in value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key
            yield from objects(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from objects(item, f"{path}[{i}]")


def dumps_twice(value, target, path="") -> str:
    """JSON text of value with the key `target` = (object path, key) written twice."""
    if isinstance(value, dict):
        members = []
        for key, item in value.items():
            text = dumps_twice(item, target, f"{path}.{key}" if path else key)
            members.append(f"{json.dumps(key)}: {text}")
            if (path, key) == target:
                members.append(f"{json.dumps(key)}: {json.dumps(item)}")
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        return (
            "["
            + ", ".join(dumps_twice(v, target, f"{path}[{i}]") for i, v in enumerate(value))
            + "]"
        )
    return json.dumps(value)


def test_every_key_given_twice_anywhere_is_400_naming_its_path(api, capacity):
    targets = list(objects(NESTED))
    assert len(targets) > 20
    for target in targets:
        path = f"{target[0]}.{target[1]}" if target[0] else target[1]
        text = dumps_twice(NESTED, target)
        response = api.post("/api/v1/offer-sets/", text, content_type="application/json")
        message = "is given more than once in one JSON object"
        assert response.status_code == 400, (path, response.content)
        assert response.json() == problem(
            400,
            "duplicate-key",
            "The request is not valid.",
            f"{path}: {message}",
            [(path, message)],
        ), path
    assert (
        api.post(
            "/api/v1/offer-sets/", json.dumps(NESTED), content_type="application/json"
        ).status_code
        == 201
    )


def test_duplicate_keys_are_refused_on_every_endpoint_that_reads_a_body(api, capacity):
    lease = api.post("/api/v1/offer-sets/", worker_request(), format="json").json()["offers"][0][
        "id"
    ]
    for url in (f"/api/v1/leases/{lease}/extend",):
        text = '{"end": "2030-01-07T11:00:00Z", "end": "2030-01-07T12:00:00Z"}'
        response = api.post(url, text, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {"path": "end", "message": "is given more than once in one JSON object"}
        ]


@pytest.mark.parametrize(
    ("number", "detail"),
    [
        ("1e400", "JSON parse error - the number 1e400 is too large"),
        ("-1E999", "JSON parse error - the number -1E999 is too large"),
        ("NaN", "JSON parse error - NaN is not a JSON number"),
        ("Infinity", "JSON parse error - Infinity is not a JSON number"),
        ("-Infinity", "JSON parse error - -Infinity is not a JSON number"),
        ("1" * 101, "JSON parse error - a number has more than 100 digits"),
        ("-" + "9" * 5000, "JSON parse error - a number has more than 100 digits"),
    ],
)
def test_numbers_json_cannot_carry_are_parse_errors(api, capacity, number, detail):
    text = json.dumps(worker_request(max_offers="N")).replace('"N"', number)
    response = api.post("/api/v1/offer-sets/", text, content_type="application/json")
    assert (response.status_code, response.json()) == (
        400,
        problem(400, "parse-error", "The request is not valid.", detail),
    )


ISSUE_11_VALUES = [
    {"duration": "P9999999999D"},
    {"duration": "PT99999999999999999999H"},
    {"duration": {"min": "PT1H", "max": "P99999999999D"}},
    {"duration": 10**12},
    {"duration": 10**20},
    {"duration": 1e20},
    {"start": "2026-12-03T00:00:00Z/P99999999999D"},
    {"start": "9999-12-31T00:00:00Z/P2D"},
    {"start": "9999-12-31T20:00:00Z"},
    {"components": [{"name": "w", "amounts": {"cores": 10**20}}]},
    {"components": [{"name": "w", "amounts": {"cores": 2**63}}]},
    {"components": [{"name": "w", "amounts": {"cores": {"min": 1, "max": 10**99}}}]},
    {"components": [{"name": "w", "amounts": {"cores": 1e20}}]},
]


@pytest.mark.parametrize("change", ISSUE_11_VALUES)
def test_the_values_of_issue_11_reach_the_domain_unchanged(change):
    """The parser hands the domain exactly what was sent (the domain names what is too big)."""
    body = worker_request(**change)
    text = json.dumps(body).encode()
    parsed = TextJSONParser().parse(io.BytesIO(text), "application/json", {"encoding": "utf-8"})
    assert parsed == body
    assert json.dumps(parsed) == json.dumps(body)  # same types too: ints stay ints


def json_schema(node):
    """OpenAPI 3.0's `nullable: true` in JSON Schema terms."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def request_schema() -> tuple[dict, jsonschema.protocols.Validator]:
    path = Path(settings.BASE_DIR) / "scheduler" / "openapi.yaml"
    document = json_schema(yaml.safe_load(path.read_text()))
    schema = {
        "$ref": "#/components/schemas/OfferSetRequestRequest",
        **{"components": document["components"]},
    }
    return schema, jsonschema.Draft202012Validator(schema)


REFUSED = [
    {"components": []},
    {"components": [{"name": f"c{i}", "amounts": {"cores": 1}} for i in range(33)]},
    {"components": [{"name": "", "amounts": {"cores": 1}}]},
    {"components": [{"name": "x" * 101, "amounts": {"cores": 1}}]},
    {"components": [{"name": "w", "amounts": {}}]},
    {"components": [{"name": "w", "replicas": 0, "amounts": {"cores": 1}}]},
    {"components": [{"name": "w", "replicas": 257, "amounts": {"cores": 1}}]},
    {"components": [{"name": "w", "kind": "gpu", "amounts": {"cores": 1}}]},
    {"components": [{"name": "w", "amounts": {"cores": -1}}]},
    {"components": [{"name": "w", "amounts": {"cores": {"max": 1}}}]},
    {"duration": 0},
    {"duration": {"max": "PT1H"}},
    {"max_offers": 0},
    {"max_offers": 11},
    {"name": "x" * 201},
    {"datasets": [1]},
]
ACCEPTED = [
    {},
    {"duration": 7200},
    {"duration": {"min": 3600, "max": "PT2H"}},
    {"start": None, "site": None, "executable": None},
    {"components": [{"name": "w", "amounts": {"cores": {"min": 1, "max": 26}}}]},
]


def test_the_schema_refuses_what_the_server_refuses_and_allows_what_it_allows(api, capacity):
    _, validator = request_schema()
    for change in REFUSED:
        body = worker_request(**change)
        assert not validator.is_valid(body), change
        assert api.post("/api/v1/offer-sets/", body, format="json").status_code == 400, change
    for change in ACCEPTED:
        body = worker_request(**change)
        assert validator.is_valid(body), (change, list(validator.iter_errors(body)))
        response = api.post("/api/v1/offer-sets/", body, format="json")
        assert response.status_code == 201, (change, response.content)
