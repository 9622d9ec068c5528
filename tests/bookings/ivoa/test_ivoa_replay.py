"""Replays of the recorded Calycopis walk-throughs (../shared/executionbroker/): the same
requests get answers of the same shape and the same phase sequences, with our own times, and
every answer validates against the newest schema."""

import math

import jsonschema
import pytest
import yaml

from tests.bookings.ivoa.conftest import MISSING_REFERENCE, REFERENCE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db,
    # Every test here replays ../shared: a clone without it skips them all, with one message.
    pytest.mark.skipif(not REFERENCE.is_dir(), reason=MISSING_REFERENCE),
]

# Parts of a session are not separately addressable here, so they carry no meta.url (docs/ivoa.md).
PART_URLS = {
    "offers[].executable.meta.url",
    "offers[].compute.meta.url",
    "offers[].storage[].meta.url",
    "offers[].data[].meta.url",
}
MOVING_ON = {"ACCEPTED", "WAITING", "PREPARING", "AVAILABLE", "RUNNING"}
GIB = 1024**3


def key_paths(document, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(value, path)
    elif isinstance(document, list):
        for value in document:
            paths |= key_paths(value, prefix + "[]")
    return paths


def post(client, recordings, name: str, url: str = "/ivoa/offersets"):
    text, media = recordings.text(name)
    return client.post(url, text, content_type=media)


def load(response):
    return yaml.safe_load(response.content)


def progress(phases: list[str]) -> list[str]:
    return ["moving-on" if p in MOVING_ON else p for p in phases]


@pytest.mark.parametrize(
    ("request_name", "response_name", "media"),
    [
        ("001-001", "001-002", "application/yaml"),
        ("002-001", "002-002", "application/yaml"),
        ("004-001", "004-002", "application/json"),
        ("005-001", "005-002", "application/yaml"),
        ("007-001", "007-002", "application/yaml"),
    ],
)
def test_offer_set_has_the_recorded_shape(
    ivoa, schemas, recordings, request_name, response_name, media
):
    response = post(ivoa, recordings, request_name)

    assert response.status_code == 303
    assert response["Content-Type"] == f"{media}; charset=utf-8"
    body = load(response)
    uuid = body["meta"]["uuid"]
    assert response["Location"] == body["meta"]["url"] == f"http://testserver/ivoa/offersets/{uuid}"
    schemas.offerset(body)
    recorded = recordings.data(response_name)
    assert key_paths(recorded) - key_paths(body) == PART_URLS & key_paths(recorded)
    assert (body["result"], len(body["offers"])) == (recorded["result"], len(recorded["offers"]))
    assert [o["phase"] for o in body["offers"]] == [o["phase"] for o in recorded["offers"]]
    again = ivoa.get(body["meta"]["url"], HTTP_ACCEPT=media)
    assert (again.status_code, load(again)) == (200, body)


def test_granted_amounts_stay_within_the_request(ivoa, recordings):
    """001 asks for 5 to 15 cores and 3 to 9 GiB for an hour: the prototype offered 10 GiB (more
    than the maximum) for two hours; we offer the most that fits within the bounds."""
    body = load(post(ivoa, recordings, "001-001"))

    offer = body["offers"][0]
    assert offer["compute"]["cores"] == {"min": 15, "max": 15}
    assert offer["compute"]["memory"] == {"min": 9, "max": 9}
    assert offer["schedule"]["available"]["duration"] == "PT1H"
    assert offer["executable"]["location"] == (
        "https://raw.githubusercontent.com/Zarquan/binder-demo/main/02_dmhh.ipynb"
    )
    assert [o["meta"]["name"] for o in body["offers"]] == [f"no-name-offer-{i}" for i in range(4)]


@pytest.mark.parametrize(
    ("names", "media"),
    [
        (("001-001", "001-006", "001-008", "001-010", "001-012"), "application/yaml"),
        (("004-001", "004-004", "004-006", "004-007", "004-009"), "application/json"),
    ],
)
def test_reject_offer_0_then_accept_offer_1(ivoa, schemas, recordings, names, media):
    create, reject, session_1, accept, final = names
    created = load(post(ivoa, recordings, create))
    offers = created["offers"]
    first, second = (o["meta"]["url"] for o in offers[:2])

    session = ivoa.get(first, HTTP_ACCEPT=media)
    assert (session.status_code, load(session)) == (200, offers[0])
    schemas.update(recordings.data(reject))
    rejected = post(ivoa, recordings, reject, url=first)
    assert rejected.status_code == 200
    assert rejected["Content-Type"] == f"{media}; charset=utf-8"
    rejected = load(rejected)
    schemas.session(rejected)
    assert (rejected["phase"], rejected["meta"]["options"]) == ("REJECTED", [])

    session = load(ivoa.get(second, HTTP_ACCEPT=media))
    assert session["phase"] == recordings.data(session_1)["phase"] == "OFFERED"
    assert session["meta"]["options"] == [
        {"kind": "uri:enum-value-option", "path": "phase", "values": ["ACCEPTED", "REJECTED"]}
    ]
    schemas.update(recordings.data(accept))
    accepted = load(post(ivoa, recordings, accept, url=second))
    schemas.session(accepted)
    assert accepted["phase"] == "ACCEPTED"
    assert "expires" not in accepted  # the hold is over: the lease is ours now
    assert accepted["meta"]["options"] == [
        {"kind": "uri:enum-value-option", "path": "phase", "values": ["CANCELLED"]}
    ]

    ours = load(ivoa.get(created["meta"]["url"]))
    schemas.offerset(ours)
    phases = [o["phase"] for o in ours["offers"]]
    assert phases == ["REJECTED", "ACCEPTED", "REJECTED", "REJECTED"]
    recorded = [o["phase"] for o in recordings.data(final)["offers"]]
    assert (
        progress(phases) == progress(recorded) == ["REJECTED", "moving-on", "REJECTED", "REJECTED"]
    )


def test_session_of_007_has_the_recorded_shape(ivoa, schemas, recordings):
    offer = load(post(ivoa, recordings, "007-001"))["offers"][0]
    session = load(ivoa.get(offer["meta"]["url"]))

    schemas.session(session)
    recorded = recordings.data("007-004")
    parts = {p.removeprefix("offers[].") for p in PART_URLS}
    assert key_paths(recorded) - key_paths(session) == parts
    # Data go where the client put them; the prototype made a storage per data resource too.
    storage = {s["meta"]["name"]: s for s in session["storage"]}
    assert sorted(storage) == [
        "default-storage-007-01",
        "storage-for-data-007-03",
        "working-storage-007-04",
    ]
    assert storage["working-storage-007-04"]["size"] == {"min": 2048, "max": 2048}
    data = {d["meta"]["name"]: d for d in session["data"]}
    held = storage["default-storage-007-01"]["data"]
    assert held == [data["data-007-01"]["meta"]["uuid"], data["data-007-02"]["meta"]["uuid"]]
    assert data["data-007-03"]["storage"] == storage["storage-for-data-007-03"]["meta"]["uuid"]
    assert [v["path"] for v in session["compute"]["volumes"]] == ["/calibration"]


def test_006_is_refused_like_the_prototype_but_says_why(ivoa, recordings):
    """006 spells the volume kind with a double slash; the prototype answered a bare 400."""
    response = post(ivoa, recordings, "006-001")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+yaml"  # 006-001 is YAML
    bad = "https://www.purl.org/ivoa.net/EB/schema/v1.0//types/volume/simple-volume-mount-1.0"
    good = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/volume/simple-volume-mount-1.0"
    message = f"{bad!r} is not a known volume kind ({good})"
    errors = [{"path": f"volumes[{i}].kind", "message": message} for i in range(3)]
    assert load(response) == {
        "type": "urn:whencanidothis:problem:invalid",
        "title": "The offer-set request is not valid.",
        "status": 400,
        "detail": "; ".join(f"{e['path']}: {e['message']}" for e in errors),
        "errors": errors,
    }


@pytest.mark.parametrize(
    ("request_name", "response_name"),
    [
        ("example-011-001", "example-011-002"),
        ("example-011-003", "example-011-004"),
        ("example-011-005", "example-011-006"),
        ("example-011-007", "example-011-008"),
    ],
)
def test_older_type_form_gets_the_newest_form(
    ivoa, schemas, recordings, request_name, response_name
):
    """example-011 is in the older `type` form: we accept it and answer in the newest one;
    the SKAO object's size is held as storage (25 TiB fits only the 50 TiB pool)."""
    sent = recordings.data(request_name)
    body = load(post(ivoa, recordings, request_name))

    schemas.offerset(body)
    recorded = recordings.data(response_name)
    assert (body["result"], len(body["offers"])) == (recorded["result"], len(recorded["offers"]))
    assert body["meta"]["name"] == recorded["name"] == "example-011"
    size = math.ceil(sent["data"][0]["skao"]["datasize"] / GIB)
    for ours, theirs in zip(body["offers"], recorded["offers"], strict=True):
        assert ours["phase"] == theirs["phase"] == "OFFERED"
        assert ours["executable"]["image"] == sent["executable"]["image"]
        assert [s["meta"]["name"] for s in ours["storage"]] == [
            s["name"] for s in theirs["storage"]
        ]
        assert ours["storage"][0]["size"] == {"min": size, "max": size}
        assert ours["data"][0]["skao"] == sent["data"][0]["skao"]
        assert ours["data"][0]["storage"] == ours["storage"][0]["meta"]["uuid"]
        assert ours["storage"][0]["data"] == [ours["data"][0]["meta"]["uuid"]]


def test_the_schema_check_has_teeth(ivoa, schemas, recordings):
    """A wrong phase, a missing kind or a malformed instant is caught by the schemas."""
    session = load(post(ivoa, recordings, "001-001"))["offers"][0]
    broken = [
        {**session, "phase": "BOGUS"},
        {**session, "compute": {k: v for k, v in session["compute"].items() if k != "kind"}},
        {**session, "schedule": {"preparing": {"start": "tomorrow"}}},
        {**session, "meta": {**session["meta"], "options": [{"path": "phase"}]}},
    ]
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            schemas.session(document)
