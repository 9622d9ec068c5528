"""The /ivoa/ endpoints: authentication, formats, errors, holds, accept re-checks, /direct,
and leases shared with the native interface."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from bookings.choices import Phase
from bookings.domain.leases import lease_cancel, offers_expire
from bookings.domain.offer_sets import offer_set_create
from bookings.models import ApiToken, Lease, OfferSet

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

EB = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
PROBLEM = "urn:whencanidothis:problem:"


def notebook(cores=(4, 8), duration="PT2H", start=None) -> dict:
    request = {
        "executable": {
            "kind": f"{EB}/executable/jupyter-notebook-1.0",
            "meta": {"name": "notebook"},
            "location": "https://example.org/notebook.ipynb",
        },
        "compute": {
            "kind": f"{EB}/compute/simple-compute-resource-1.0",
            "meta": {"name": "computer"},
            "cores": {"min": cores[0], "max": cores[1]},
            "memory": {"min": 8, "max": 16},
        },
        "schedule": {"requested": {"duration": duration}},
    }
    if start:
        request["schedule"]["requested"]["start"] = start
    return request


def post_yaml(client, url, data, **headers):
    return client.post(url, yaml.safe_dump(data), content_type="application/yaml", **headers)


def load(response):
    return yaml.safe_load(response.content)


def problem(status, code, title, detail=None, errors=(), **extra):
    return {
        "type": PROBLEM + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": list(errors),
        **extra,
    }


def update(value, **more) -> dict:
    return {"kind": "uri:enum-value-update", "path": "phase", "value": value, **more}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def next_minute(delta=timedelta(0)) -> datetime:
    now = timezone.now() + delta
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


# --- authentication ----------------------------------------------------------------------


def test_anonymous_callers_get_401_naming_the_scheme(capacity):
    response = post_yaml(Client(), "/ivoa/offersets", notebook())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    title = "Authentication required: send Authorization: Token <key> or log in."
    assert load(response) == problem(401, "not-authenticated", title)
    assert OfferSet.objects.count() == 0


def test_an_unknown_token_gets_401(capacity):
    client = Client(headers={"Authorization": "Token not-a-key"})

    response = client.get("/ivoa/offersets/5ec79894-814f-4f81-9561-2fe4bfc6010d")

    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
    assert load(response) == problem(401, "not-authenticated", "The token is not valid.")


def test_a_token_records_its_last_use(ivoa, user):
    post_yaml(ivoa, "/ivoa/offersets", notebook())

    assert ApiToken.objects.get(user=user).last_used is not None


def test_a_logged_in_session_works_and_its_posts_need_the_csrf_token(
    capacity, user, fresh_rate_limit
):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    refused = post_yaml(client, "/ivoa/offersets", notebook())
    assert refused.status_code == 403
    title = "CSRF check failed: CSRF cookie not set."
    assert load(refused) == problem(403, "csrf-failed", title)
    client.cookies["csrftoken"] = "a" * 32
    created = post_yaml(client, "/ivoa/offersets", notebook(), HTTP_X_CSRFTOKEN="a" * 32)
    assert created.status_code == 303
    assert client.get(created["Location"]).status_code == 200


@pytest.mark.parametrize("media", ["json", "yaml"])
def test_refusals_before_the_view_are_problems_as_negotiated(capacity, user, media):
    """DRF's authentication refuses these before the view runs: still problems, in the
    format asked for, with the token scheme named on a 401."""
    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    refusals = [
        (Client(), 401, "not-authenticated"),
        (Client(headers={"Authorization": "Token not-a-key"}), 401, "not-authenticated"),
        (session, 403, "csrf-failed"),
    ]
    for client, status, code in refusals:
        response = post_yaml(
            client, "/ivoa/offersets", notebook(), HTTP_ACCEPT=f"application/{media}"
        )

        assert (response.status_code, response["Content-Type"]) == (
            status,
            f"application/problem+{media}",
        )
        assert load(response)["type"] == PROBLEM + code
        assert response.get("WWW-Authenticate") == ("Token" if status == 401 else None)
    assert OfferSet.objects.count() == 0


def test_other_users_see_nothing_and_staff_see_all(ivoa, other_user, staff):
    body = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))
    session = body["offers"][0]["meta"]["url"]

    other = Client(headers={"Authorization": f"Token {ApiToken.issue(user=other_user)[1]}"})
    assert load(other.get(session)) == problem(404, "not-found", "No such lease.")
    assert load(other.get(body["meta"]["url"])) == problem(404, "not-found", "No such offer set.")
    assert (
        other.post(session, update("ACCEPTED"), content_type="application/json").status_code == 404
    )
    admin = Client(headers={"Authorization": f"Token {ApiToken.issue(user=staff)[1]}"})
    assert load(admin.get(session)) == body["offers"][0]


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/ivoa/sessions/5ec79894-814f-4f81-9561-2fe4bfc6010d", "No such lease."),
        ("/ivoa/sessions/not-a-uuid", "No such lease."),
        ("/ivoa/offersets/5ec79894-814f-4f81-9561-2fe4bfc6010d/", "No such offer set."),
        ("/ivoa/offersets/not-a-uuid", "No such offer set."),
    ],
)
def test_unknown_uuids_are_404_problems(ivoa, path, title):
    response = ivoa.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+yaml"  # no Accept: YAML
    assert load(response) == problem(404, "not-found", title)


def test_methods_other_than_the_interfaces_are_405(ivoa):
    response = ivoa.put("/ivoa/offersets", "{}", content_type="application/json")

    assert (response.status_code, response["Allow"]) == (405, "POST")
    assert load(response) == problem(405, "method-not-allowed", "PUT is not allowed here.")


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "accept", "answer"),
    [
        ("", None, "application/yaml"),
        ("application/yaml", None, "application/yaml"),
        ("application/json", None, "application/json"),
        ("application/yaml", "application/json", "application/json"),
        ("application/json", "application/yaml", "application/yaml"),
        ("text/yaml", "*/*", "application/yaml"),
        ("application/json", "application/json;q=0.5, text/yaml", "application/yaml"),
    ],
)
def test_content_type_picks_the_parser_and_accept_the_answer(ivoa, content_type, accept, answer):
    text = json.dumps(notebook())  # JSON is YAML too
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = ivoa.post("/ivoa/offersets/", text, content_type=content_type, **headers)

    assert response.status_code == 303
    assert response["Content-Type"] == f"{answer}; charset=utf-8"
    parse = json.loads if answer == "application/json" else yaml.safe_load
    body = parse(response.content)
    assert response["Location"] == body["meta"]["url"]
    assert body["result"] == "YES"
    session = ivoa.get(body["offers"][0]["meta"]["url"] + "/", **headers)
    assert session.status_code == 200


def test_an_unacceptable_accept_is_406_before_anything_is_booked(ivoa):
    response = post_yaml(ivoa, "/ivoa/offersets", notebook(), HTTP_ACCEPT="application/xml")

    detail = "This interface answers in application/yaml or application/json."
    assert load(response) == problem(406, "bad-format", "Not acceptable.", detail)
    assert OfferSet.objects.count() == 0


def test_an_unknown_content_type_is_415(ivoa):
    response = ivoa.post("/ivoa/offersets", "cores: 4", content_type="application/xml")

    detail = "application/xml is not understood; send application/yaml or application/json."
    assert (response.status_code, load(response)) == (
        415,
        problem(415, "bad-format", "Unsupported Content-Type.", detail),
    )


@pytest.mark.parametrize(
    ("text", "content_type", "title", "detail"),
    [
        ("", "application/yaml", "The request body is empty.", "Send a JSON or YAML document."),
        (
            "{",
            "application/json",
            "The body is not valid JSON.",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
    ],
)
def test_unparseable_bodies_are_400(ivoa, text, content_type, title, detail):
    response = ivoa.post("/ivoa/offersets", text, content_type=content_type)

    assert (response.status_code, load(response)) == (
        400,
        problem(400, "bad-format", title, detail),
    )


def test_bad_yaml_and_yaml_aliases_are_400(ivoa):
    broken = load(ivoa.post("/ivoa/offersets", "a: [1, 2", content_type=""))
    aliased = load(ivoa.post("/ivoa/offersets", "a: &x [1]\nb: *x\n", content_type=""))

    assert (broken["status"], broken["title"]) == (400, "The body is not valid YAML.")
    assert broken["detail"].startswith("while parsing a flow sequence")
    assert (aliased["status"], aliased["title"]) == (400, "The body is not valid.")
    assert aliased["errors"] == [{"path": "b", "message": "aliases (*name) are not accepted"}]
    assert OfferSet.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "content_type"),
    [('{"name": "a\\u0000b"}', "application/json"), ('name: "a\\0b"', "application/yaml")],
)
def test_nul_characters_are_refused(ivoa, text, content_type):
    response = ivoa.post("/ivoa/offersets", text, content_type=content_type)

    errors = [{"path": "name", "message": "may not contain NUL (\\u0000)"}]
    assert load(response) == problem(
        400, "bad-format", "The body is not valid.", f"name: {errors[0]['message']}", errors
    )


@pytest.mark.parametrize(
    ("text", "content_type", "status", "title", "detail"),
    [
        (
            "[" * 100000,
            "application/json",
            400,
            "The body is not valid.",
            "It is nested too deeply.",
        ),
        (
            "[" * 100000,
            "application/yaml",
            400,
            "The body is not valid.",
            "the document is nested more than 32 deep",
        ),
        (
            b"name: \xff",
            "application/yaml",
            400,
            "The body is not UTF-8.",
            "'utf-8' codec can't decode byte 0xff in position 6: invalid start byte",
        ),
        (
            "name: " + "x" * 3_000_000,
            "application/yaml",
            413,
            "The body is too large.",
            "Send at most 1024 KiB.",
        ),
    ],
    ids=["deep-json", "deep-yaml", "not-utf-8", "too-large"],
)
def test_hostile_bodies_are_refused_cleanly(ivoa, text, content_type, status, title, detail):
    response = ivoa.post("/ivoa/offersets", text, content_type=content_type)

    body = load(response)
    code = "too-large" if status == 413 else "bad-format"
    body.pop("errors")  # the paths of limits are tested in test_ivoa_limits.py
    expected = problem(status, code, title, detail)
    expected.pop("errors")
    assert (response.status_code, body) == (status, expected)


def test_too_many_parts_are_refused(ivoa):
    simple = f"{EB}/data/simple-data-resource-1.0"
    body = {"data": [{"kind": simple, "location": f"https://x/{i}"} for i in range(33)]}

    response = post_yaml(ivoa, "/ivoa/offersets", body)

    errors = [{"path": "data", "message": "at most 32 entries"}]
    assert load(response) == problem(
        400, "invalid", "The offer-set request is not valid.", "data: at most 32 entries", errors
    )


def test_offer_sets_share_the_native_apis_rate_limit(ivoa, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"offer_sets": "1/min"},
    }
    assert post_yaml(ivoa, "/ivoa/offersets", notebook()).status_code == 303

    response = post_yaml(ivoa, "/ivoa/direct", notebook())

    assert (response.status_code, response["Retry-After"]) == (429, "60")
    assert load(response) == problem(
        429, "throttled", "Too many offer-set requests; try again in 60 s.", retry_after=60
    )
    assert OfferSet.objects.count() == 1


def test_invalid_requests_name_every_offending_ivoa_path(ivoa):
    body = notebook()
    body["colour"] = "blue"
    body["executable"].pop("location")
    body["compute"]["cores"] = {"min": 8, "max": 4}
    body["compute"]["memory"] = {"min": 1, "units": "TiB"}
    body["schedule"]["requested"]["start"] = "yesterday"
    body["data"] = [{"kind": f"{EB}/data/simple-data-resource-1.0", "meta": {"name": "d"}}]

    response = post_yaml(ivoa, "/ivoa/offersets", body)

    errors = [
        {"path": "colour", "message": "is not a known field"},
        {"path": "executable.location", "message": "is required (a non-empty string)"},
        {"path": "compute.cores.max", "message": "4 is less than min 8"},
        {"path": "compute.memory.units", "message": "only GiB is supported"},
        {"path": "data[0].location", "message": "is required (a non-empty string)"},
        {
            "path": "schedule.requested.start",
            "message": "'yesterday' is not an ISO 8601 interval of date-times with a time zone "
            "and durations without years or months",
        },
    ]
    detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
    assert (response.status_code, load(response)) == (
        400,
        problem(400, "invalid", "The offer-set request is not valid.", detail, errors),
    )
    assert OfferSet.objects.count() == 0


def test_limits_checked_by_the_booking_model_come_back_with_ivoa_paths(ivoa):
    response = post_yaml(ivoa, "/ivoa/offersets", notebook(duration="P400D"))

    body = load(response)
    assert (response.status_code, body["title"]) == (400, "The request is not valid.")
    [error] = body["errors"]
    assert error["path"] == "schedule.requested.duration"
    assert error["message"].startswith("must be at most ")  # the policy's longest lease


def fill_the_largest_pool(ivoa) -> str:
    """Book all 64 cores of cam-gpu for a day from the next minute: another 60 cores cannot
    fit anywhere in the start window returned."""
    start = iso(next_minute())
    booked = post_yaml(ivoa, "/ivoa/direct", notebook(cores=(64, 64), duration="P1D", start=start))
    assert booked.status_code == 303
    return f"{start}/PT1H"


# --- answers, holds and updates ----------------------------------------------------------


def test_no_answers_carry_urn_messages_naming_the_path(ivoa, schemas):
    window = fill_the_largest_pool(ivoa)
    response = post_yaml(ivoa, "/ivoa/offersets", notebook(cores=(60, 60), start=window))

    assert response.status_code == 303
    body = load(response)
    schemas.offerset(body)
    assert (body["result"], body["offers"]) == ("NO", [])
    reasons = [m for m in body["meta"]["messages"] if m["level"] == "WARN"]
    assert [(m["kind"], m["values"]) for m in reasons] == [
        ("urn:resource-limit", {"reason": "busy", "path": "compute.cores"})
    ]
    assert reasons[0]["message"].startswith("[compute.cores] busy: ")
    assert reasons[0]["template"].startswith("[${path}] ${reason}: ")
    suggestions = [m for m in body["meta"]["messages"] if m["level"] == "INFO"]
    assert {m["kind"] for m in suggestions} <= {"urn:suggestion"}


def test_the_whole_start_window_is_searched(ivoa):
    """Only cam-gpu has 60 cores; it is booked for the next 6 hours. The prototype looked
    2 hours ahead; we find the first start in the window, right after that booking."""
    busy = post_yaml(ivoa, "/ivoa/direct", notebook(cores=(60, 60), duration="PT6H"))
    booked = Lease.objects.get(id=load(busy)["meta"]["uuid"])
    window = f"{iso(timezone.now())}/P1D"

    body = load(post_yaml(ivoa, "/ivoa/offersets", notebook((60, 60), "PT1H", window)))

    assert body["result"] == "YES"
    first = body["offers"][0]["schedule"]["available"]["start"]
    assert first == f"{iso(booked.end)}/PT0S"


def test_a_window_in_the_future_is_honoured(ivoa):
    start = next_minute(timedelta(days=2))
    window = f"{iso(start)}/{iso(start + timedelta(hours=6))}"

    body = load(post_yaml(ivoa, "/ivoa/offersets", notebook(start=window)))

    starts = {o["schedule"]["available"]["start"] for o in body["offers"]}
    assert starts == {f"{iso(start)}/PT0S"}


def test_expired_holds_read_expired_and_cannot_be_accepted(ivoa, schemas):
    body = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))
    url = body["offers"][0]["meta"]["url"]

    assert offers_expire(now=timezone.now() + timedelta(hours=1)) == 4

    session = load(ivoa.get(url))
    schemas.session(session)
    assert (session["phase"], session["meta"]["options"]) == ("EXPIRED", [])
    assert session["compute"]["phase"] == "CANCELLED"
    response = ivoa.post(url, update("ACCEPTED"), content_type="application/json")
    title = "Only an offer can be accepted; this lease is EXPIRED."
    assert (response.status_code, load(response)) == (
        409,
        problem(409, "illegal-transition", title, phase="EXPIRED"),
    )


def test_accepting_a_lapsed_hold_rechecks_and_refuses_with_fresh_offers(ivoa):
    """Only edi-head (54) and cam-gpu (64) have 53 cores. A lapsed hold no longer counts, so
    a second request takes both pools; accepting the lapsed offer is then refused with 409."""
    at = iso(next_minute(timedelta(hours=1)))
    request = notebook(cores=(53, 53), start=f"{at}/{at}")
    first = load(post_yaml(ivoa, "/ivoa/offersets", request))
    assert len(first["offers"]) == 2
    Lease.objects.filter(offer_set_id=first["meta"]["uuid"]).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    second = load(post_yaml(ivoa, "/ivoa/offersets", request))
    assert len(second["offers"]) == 2

    url = first["offers"][0]["meta"]["url"]
    response = ivoa.post(url, update("ACCEPTED"), content_type="application/json")

    body = load(response)
    fresh = OfferSet.objects.exclude(id__in=[first["meta"]["uuid"], second["meta"]["uuid"]]).get()
    assert (response.status_code, body) == (
        409,
        problem(
            409,
            "no-longer-available",
            "The hold on this offer expired and its resources were booked since.",
            offerset=f"http://testserver/ivoa/offersets/{fresh.id}",
        ),
    )
    assert load(ivoa.get(url))["phase"] == "OFFERED"
    assert ivoa.get(body["offerset"]).status_code == 200


def test_a_lapsed_hold_still_free_is_accepted_after_the_recheck(ivoa):
    body = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))
    Lease.objects.filter(offer_set_id=body["meta"]["uuid"]).update(
        expires=timezone.now() - timedelta(seconds=1)
    )

    url = body["offers"][2]["meta"]["url"]
    accepted = ivoa.post(url, update("ACCEPTED"), content_type="application/json")

    assert (accepted.status_code, load(accepted)["phase"]) == (200, "ACCEPTED")
    lease = Lease.objects.get(id=url.rsplit("/", 1)[1])
    assert lease.events.last().message == "accepted after its hold lapsed; capacity re-checked"


@pytest.mark.parametrize(
    ("steps", "status", "title", "phase"),
    [
        (
            ["REJECTED", "ACCEPTED"],
            409,
            "Only an offer can be accepted; this lease is REJECTED.",
            "REJECTED",
        ),
        (["CANCELLED"], 409, "An offer is rejected, not cancelled.", "OFFERED"),
        (
            ["ACCEPTED", "REJECTED"],
            409,
            "A lease in phase ACCEPTED cannot become REJECTED.",
            "ACCEPTED",
        ),
        (
            ["ACCEPTED", "ACCEPTED"],
            409,
            "Only an offer can be accepted; this lease is ACCEPTED.",
            "ACCEPTED",
        ),
        (
            ["ACCEPTED", "CANCELLED", "CANCELLED"],
            409,
            "A lease in phase CANCELLED cannot become CANCELLED.",
            "CANCELLED",
        ),
    ],
)
def test_illegal_updates_are_409_and_change_nothing(ivoa, steps, status, title, phase):
    url = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))["offers"][0]["meta"]["url"]
    *legal, illegal = steps
    for value in legal:
        assert ivoa.post(url, update(value), content_type="application/json").status_code == 200

    response = ivoa.post(url, update(illegal), content_type="application/json")

    assert (response.status_code, load(response)) == (
        status,
        problem(status, "illegal-transition", title, phase=phase),
    )
    assert load(ivoa.get(url))["phase"] == phase


def test_cancelling_an_accepted_session(ivoa, schemas):
    url = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))["offers"][1]["meta"]["url"]
    ivoa.post(url, update("ACCEPTED"), content_type="application/json")

    cancelled = load(post_yaml(ivoa, url, update("CANCELLED")))

    schemas.session(cancelled)
    assert (cancelled["phase"], cancelled["meta"]["options"]) == ("CANCELLED", [])
    assert cancelled["executable"]["phase"] == "CANCELLED"


@pytest.mark.parametrize(
    "body",
    [
        {"update": {"type": "uri:enum-value-update", "path": "state", "value": "REJECTED"}},
        {"type": "uri:enum-value-update", "path": "phase", "value": "REJECTED"},
        {"update": {"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED"}},
    ],
)
def test_older_update_spellings_are_accepted(ivoa, body):
    url = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))["offers"][0]["meta"]["url"]

    response = post_yaml(ivoa, url, body)

    assert (response.status_code, load(response)["phase"]) == (200, "REJECTED")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"kind": "uri:enum-value-update", "path": "phase", "value": "RUNNING"},
            [
                {
                    "path": "value",
                    "message": "'RUNNING' is not an update a client can ask for "
                    "(ACCEPTED, REJECTED, CANCELLED)",
                }
            ],
        ),
        (
            {"kind": "uri:integer-delta-update", "path": "duration", "delta": 3600},
            [
                {"path": "delta", "message": "is not a known field"},
                {
                    "path": "kind",
                    "message": "'uri:integer-delta-update' is not supported; "
                    "use uri:enum-value-update on phase",
                },
                {
                    "path": "path",
                    "message": "must be phase (the only field a client may update)",
                },
                {
                    "path": "value",
                    "message": "None is not an update a client can ask for "
                    "(ACCEPTED, REJECTED, CANCELLED)",
                },
            ],
        ),
        (
            {"update": "ACCEPTED"},
            [{"path": "update", "message": "must be an object"}],
        ),
    ],
)
def test_malformed_updates_are_400_naming_the_field(ivoa, body, errors):
    url = load(post_yaml(ivoa, "/ivoa/offersets", notebook()))["offers"][0]["meta"]["url"]

    response = post_yaml(ivoa, url, body)

    detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
    assert (response.status_code, load(response)) == (
        400,
        problem(400, "invalid", "The update is not valid.", detail, errors),
    )
    assert load(ivoa.get(url))["phase"] == "OFFERED"


# --- /direct -----------------------------------------------------------------------------


def test_direct_books_the_best_offer_at_once(ivoa, schemas):
    response = post_yaml(ivoa, "/ivoa/direct", notebook())

    assert response.status_code == 303
    session = load(response)
    schemas.session(session)
    assert response["Location"] == session["meta"]["url"]
    assert session["phase"] == "ACCEPTED"
    lease = Lease.objects.get(id=session["meta"]["uuid"])
    assert list(lease.offer_set.leases.values_list("phase", flat=True)) == ["ACCEPTED"]
    assert session["compute"]["cores"] == {"min": 8, "max": 8}


def test_direct_when_nothing_fits_is_409_with_the_reasons(ivoa):
    window = fill_the_largest_pool(ivoa)
    response = post_yaml(ivoa, "/ivoa/direct", notebook(cores=(60, 60), start=window))

    body = load(response)
    offer_set = OfferSet.objects.latest("created")
    assert response.status_code == 409
    assert body["offerset"] == f"http://testserver/ivoa/offersets/{offer_set.id}"
    assert (body["type"], body["title"]) == (
        PROBLEM + "nothing-fits",
        "Nothing fits this request in its window.",
    )
    assert body["messages"][0]["kind"] == "urn:resource-limit"
    assert body["messages"][0]["values"]["path"] == "compute.cores"


# --- one set of leases, two interfaces ---------------------------------------------------


GAIA = {
    "name": "DR3 proper motions",
    "components": [
        {"name": "head", "kind": "compute", "amounts": {"cores": 16, "memory_gib": 32}},
        {"name": "workers", "kind": "compute", "replicas": 2, "amounts": {"cores": 26}},
        {"name": "scratch", "kind": "storage", "amounts": {"size_gib": 100}},
    ],
    "datasets": ["gaia-dr3"],
    "duration": "PT3H",
}


def test_a_natively_booked_lease_is_managed_through_ivoa(ivoa, user, schemas):
    offer_set = offer_set_create(owner=user, data=GAIA)
    lease = offer_set.leases.get(rank=0)

    session = load(ivoa.get(f"/ivoa/sessions/{lease.id}"))
    schemas.session(session)
    assert session["compute"]["meta"]["name"] == "head, workers"
    assert (session["compute"]["cores"], session["compute"]["memory"]) == (
        {"min": 68, "max": 68},
        {"min": 32, "max": 32},
    )
    assert [s["meta"]["name"] for s in session["storage"]] == ["scratch"]
    assert session["storage"][0]["size"] == {"min": 100, "max": 100}
    assert [d["meta"]["name"] for d in session["data"]] == ["gaia-dr3"]
    listed = load(ivoa.get(f"/ivoa/offersets/{offer_set.id}"))
    schemas.offerset(listed)
    assert listed["meta"]["name"] == "DR3 proper motions"

    accepted = load(post_yaml(ivoa, f"/ivoa/sessions/{lease.id}", update("ACCEPTED")))

    assert accepted["phase"] == "ACCEPTED"
    lease.refresh_from_db()
    assert lease.phase == Phase.ACCEPTED
    assert set(offer_set.leases.exclude(id=lease.id).values_list("phase", flat=True)) == {
        Phase.REJECTED
    }


def test_an_ivoa_booked_lease_is_managed_natively(ivoa, user):
    session = load(post_yaml(ivoa, "/ivoa/direct", notebook()))

    lease_cancel(lease_id=session["meta"]["uuid"], user=user)

    assert load(ivoa.get(session["meta"]["url"]))["phase"] == "CANCELLED"
    lease = Lease.objects.get(id=session["meta"]["uuid"])
    assert lease.executable["ivoa"]["executable"] == {
        "kind": "jupyter-notebook",
        "name": "notebook",
        "spec": {"location": "https://example.org/notebook.ipynb"},
    }
