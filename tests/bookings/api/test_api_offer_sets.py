"""POST /api/v1/offer-sets/ and GET /api/v1/offer-sets/{id}/: answers, errors, idempotency,
throttling."""

import threading

import pytest
from django.db import connection

from bookings.models import IdempotencyKey, Lease, OfferSet
from tests.bookings.api.apidata import DAY, lease_json, problem, worker_request
from tests.bookings.api.conftest import token_client

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

NORMALISED = {
    "name": "crossmatch",
    "components": [
        {
            "name": "workers",
            "kind": "compute",
            "replicas": 1,
            "amounts": {"cores": {"min": 26, "max": 26}, "memory_gib": {"min": 43, "max": 43}},
        }
    ],
    "datasets": [],
    "site": None,
    "duration": {"min": 7200, "max": 7200},
    "start": {"earliest": f"{DAY}T08:00:00Z", "latest": f"{DAY}T12:00:00Z"},
    "max_offers": 2,
    "executable": None,
}


def offer_set_json(body, *, offers, result="YES", messages=(), suggestions=()) -> dict:
    return {
        "id": body["id"],
        "name": "crossmatch",
        "result": result,
        "created": body["created"],
        "expires": body["expires"],
        "offers": offers,
        "messages": list(messages),
        "suggestions": list(suggestions),
        "request": NORMALISED,
        "url": f"/api/v1/offer-sets/{body['id']}/",
    }


def test_an_offer_set_holds_distinct_ranked_offers(api, capacity):
    response = api.post("/api/v1/offer-sets/", worker_request(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/api/v1/offer-sets/{body['id']}/"
    first, second = (o["id"] for o in body["offers"])
    expires = body["expires"]
    assert body == offer_set_json(
        body,
        offers=[
            lease_json(first, phase="OFFERED", start="08:00", end="10:00", expires=expires),
            lease_json(second, phase="OFFERED", start="10:00", end="12:00", expires=expires),
        ],
    )
    assert Lease.objects.filter(phase="OFFERED").count() == 2


def test_reading_an_offer_set_shows_its_offers_current_phases(api, capacity):
    body = api.post("/api/v1/offer-sets/", worker_request(), format="json").json()
    first, second = (o["id"] for o in body["offers"])
    assert api.post(f"/api/v1/leases/{first}/accept").status_code == 200
    response = api.get(f"/api/v1/offer-sets/{body['id']}/")
    assert response.status_code == 200
    assert response.json() == offer_set_json(
        body,
        offers=[
            lease_json(first, phase="ACCEPTED", start="08:00", end="10:00"),
            lease_json(
                second, phase="REJECTED", start="10:00", end="12:00", expires=body["expires"]
            ),
        ],
    )


def test_no_answer_gives_reasons_and_suggestions(api, capacity):
    # The whole pool for 13 h cannot start 08:00-12:00: the 20:00-22:00 maintenance is in the way.
    workers = [{"name": "workers", "amounts": {"cores": 52}}]
    request = worker_request(components=workers, duration="PT13H")
    response = api.post("/api/v1/offer-sets/", request, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["result"], body["offers"]) == ("NO", [])
    assert body["messages"] == [
        {
            "kind": "insufficient-capacity",
            "path": "components[0].amounts.cores",
            "message": "workers: no compute pool has 52 cores free for 13 h in the window, "
            "even with nothing booked",
        }
    ]
    # The wording of suggestions is the engine's; what the API owes is their shape.
    assert [(s["kind"], s["offer"]["start"], s["offer"]["end"]) for s in body["suggestions"]] == [
        ("shorter-duration", f"{DAY}T08:00:00Z", f"{DAY}T20:00:00Z"),
        ("later-start", f"{DAY}T22:00:00Z", "2030-01-08T11:00:00Z"),
    ]
    assert body["suggestions"][0]["request"]["duration"] == {"min": 43200, "max": 43200}


def test_more_than_any_pool_has_is_refused_naming_the_largest(api, capacity):
    request = worker_request(components=[{"name": "workers", "amounts": {"cores": 100}}])
    response = api.post("/api/v1/offer-sets/", request, format="json")
    assert response.status_code == 400
    message = "100 is more than any compute pool has (the largest has 52 cores)"
    assert response.json() == problem(
        400,
        "invalid",
        "The request asks for more than any pool has.",
        f"components[0].amounts.cores: {message}",
        errors=[("components[0].amounts.cores", message)],
    )


def test_every_bad_field_is_named(api, capacity):
    request = {"components": [{"amounts": {"cores": -1, "foo": 2}}], "max_offers": 99, "x": 1}
    response = api.post("/api/v1/offer-sets/", request, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = [
        ("x", "is not a known field"),
        ("components[0].amounts.cores", "-1 is negative"),
        ("components[0].amounts.foo", "a compute component has no 'foo' (cores, memory_gib, gpus)"),
        ("duration", "is required (an ISO 8601 duration such as PT9H)"),
        ("max_offers", "must be a whole number from 1 to 10"),
    ]
    assert response.json() == problem(
        400,
        "invalid",
        "The request is not valid.",
        "; ".join(f"{p}: {m}" for p, m in errors),
        errors,
    )
    assert OfferSet.objects.count() == 0


@pytest.mark.parametrize(
    ("request_body", "errors"),
    [
        ([1, 2], [("", "not an object")]),
        ({**worker_request(), "site": "nowhere"}, [("site", "unknown site 'nowhere'")]),
        ({**worker_request(), "datasets": ["dr9"]}, [("datasets[0]", "unknown dataset 'dr9'")]),
    ],
)
def test_bad_requests_and_unknown_references_are_400(api, capacity, request_body, errors):
    response = api.post("/api/v1/offer-sets/", request_body, format="json")
    assert response.status_code == 400
    title = (
        "The request must be a JSON object." if errors[0][0] == "" else "The request is not valid."
    )
    detail = "; ".join(f"{p}: {m}" if p else m for p, m in errors)
    assert response.json() == problem(400, "invalid", title, detail, errors)


def test_malformed_json_and_other_media_types_are_problems(api, capacity):
    response = api.post("/api/v1/offer-sets/", "{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == problem(
        400,
        "parse-error",
        "The request is not valid.",
        "JSON parse error - Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
    )
    response = api.post("/api/v1/offer-sets/", "a=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.json() == problem(
        415,
        "unsupported-media-type",
        "Unsupported media type.",
        'Unsupported media type "text/plain" in request.',
    )


def test_another_users_offer_set_is_not_found_but_staff_sees_it(
    api, other_api, staff_api, capacity
):
    body = api.post("/api/v1/offer-sets/", worker_request(), format="json").json()
    response = other_api.get(f"/api/v1/offer-sets/{body['id']}/")
    assert response.status_code == 404
    assert response.json() == problem(404, "not-found", "No such offer set.")
    assert staff_api.get(f"/api/v1/offer-sets/{body['id']}/").json()["id"] == body["id"]


def test_a_retry_with_the_same_key_returns_the_first_answer_and_books_nothing(api, capacity):
    headers = {"HTTP_IDEMPOTENCY_KEY": "4d7f0f1e-retry"}
    first = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    again = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert (OfferSet.objects.count(), Lease.objects.count()) == (1, 2)


def test_a_key_reused_for_another_body_is_422(api, capacity):
    headers = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    response = api.post(
        "/api/v1/offer-sets/", worker_request(max_offers=1), format="json", **headers
    )
    assert response.status_code == 422
    assert response.json() == problem(
        422,
        "idempotency-key-reused",
        "This Idempotency-Key was used for a different request.",
        "Idempotency-Key: already used with another method, path or body",
        [("Idempotency-Key", "already used with another method, path or body")],
    )
    assert OfferSet.objects.count() == 1


def test_keys_belong_to_their_user_and_refusals_are_replayed_too(api, other_api, capacity):
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared-name"}
    bad = api.post("/api/v1/offer-sets/", {"components": []}, format="json", **headers)
    replay = api.post("/api/v1/offer-sets/", {"components": []}, format="json", **headers)
    assert (bad.status_code, replay.status_code) == (400, 400)
    assert replay.json() == bad.json()
    assert replay["Content-Type"] == "application/problem+json"
    other = other_api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    assert other.status_code == 201
    assert IdempotencyKey.objects.count() == 2


def test_an_unusable_idempotency_key_is_400(api, capacity):
    response = api.post(
        "/api/v1/offer-sets/", worker_request(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert response.status_code == 400
    message = "must be 1 to 255 printable characters (a UUID is best)"
    assert response.json() == problem(
        400,
        "invalid",
        "The Idempotency-Key header is not valid.",
        f"Idempotency-Key: {message}",
        [("Idempotency-Key", message)],
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_book_once(user, capacity):
    client_keys = [token_client(user) for _ in range(6)]
    answers = []

    def post(client):
        try:
            response = client.post(
                "/api/v1/offer-sets/", worker_request(), format="json", HTTP_IDEMPOTENCY_KEY="dup"
            )
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in client_keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 6
    assert {a[0] for a in answers} == {201}
    assert len({a[1] for a in answers}) == 1
    assert (OfferSet.objects.count(), Lease.objects.count()) == (1, 2)


def test_offer_set_creation_is_throttled(api, user, capacity, settings, clear_throttle):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"offer_sets": "2/min"},
    }
    clear_throttle(user)
    statuses = [
        api.post("/api/v1/offer-sets/", worker_request(), format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    response = api.post("/api/v1/offer-sets/", worker_request(), format="json")
    assert response.json() == problem(
        429,
        "throttled",
        "Too many requests.",
        response.json()["detail"],
    )
    assert response.json()["detail"].startswith("Request was throttled. Expected available in ")
    assert 1 <= int(response["Retry-After"]) <= 60
    clear_throttle(user)


def test_get_on_the_collection_is_405(api):
    response = api.get("/api/v1/offer-sets/")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json() == problem(
        405, "method-not-allowed", "Method not allowed.", 'Method "GET" not allowed.'
    )


def test_the_window_must_not_be_in_the_past(api, capacity):
    response = api.post(
        "/api/v1/offer-sets/",
        worker_request(start="2020-01-01T00:00:00Z/2020-01-02T00:00:00Z"),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "start", "message": "the window is in the past"}]


def test_nul_characters_are_refused_before_they_reach_the_database(api, capacity):
    response = api.post("/api/v1/offer-sets/", worker_request(name="a\x00b"), format="json")
    assert response.status_code == 400
    assert response.json() == problem(
        400,
        "parse-error",
        "The request is not valid.",
        "JSON strings may not contain the NUL character (\\u0000).",
    )
    response = api.get("/api/v1/leases/?site=%00")
    assert response.json() == problem(
        400,
        "parse-error",
        "The request is not valid.",
        "Query parameters may not contain the NUL character.",
    )
