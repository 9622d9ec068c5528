"""Webhooks: /api/v1/webhooks/ with bad input refused by field, and signed deliveries to a
real receiver on 127.0.0.1 that verifies them with `standardwebhooks`."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from bookings.domain.leases import lease_accept
from bookings.models import ApiToken
from notices.choices import DeliveryState, Kind
from notices.domain import deliveries
from notices.domain.webhooks import webhook_url_problems
from notices.models import Delivery, Notice, WebhookEndpoint
from tests.bookings.api.apidata import problem
from tests.bookings.lifecycle.lifecycle_support import make_offer

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def api(astro):
    _, key = ApiToken.issue(user=astro, name="platform")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def no_email(astro):
    """A platform account without an e-mail address: its notices go by webhook only."""
    astro.email = ""
    astro.save(update_fields=["email"])


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def deliver(now=None) -> list[str]:
    result = deliveries.notices_sweep(now=now)
    return [deliveries.delivery_send(delivery_id=i) for i in result.claimed]


def register(api, url, **fields) -> dict:
    answer = api.post("/api/v1/webhooks/", {"url": url, **fields}, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()


def booked(user, pool):
    start = timezone.now() + timedelta(hours=2)
    return lease_accept(lease_id=make_offer(user, pool, start=start, seconds=3600).id, user=user)


def test_a_registered_endpoint_gets_each_notice_signed_with_the_notice_id(
    api, astro, pool, receiver, private_ok
):
    endpoint = register(api, receiver.url, kinds=["lease.accepted"], description="ci")
    assert endpoint["secret"].startswith("whsec_") and endpoint["token"].endswith("…")
    assert endpoint["enabled"] is True and endpoint["failures"] == 0
    receiver.secret = endpoint["secret"]
    lease = booked(astro, pool)
    assert deliver() == ["sent"]
    [request] = receiver.requests
    assert "error" not in request, request["error"]
    notice = Notice.objects.get()
    assert request["headers"]["webhook-id"] == str(notice.id)
    payload = request["payload"]
    assert payload["type"] == "lease.accepted"
    assert payload["data"]["lease"]["id"] == str(lease.id)
    assert payload["data"]["lease"]["url"].endswith(f"/api/v1/leases/{lease.id}/")
    assert payload["data"]["phase"] == "ACCEPTED"
    log = api.get(endpoint["deliveries"]).json()
    assert [
        (d["notice"], d["type"], d["state"], d["attempts"], d["response_status"])
        for d in log["results"]
    ] == [(str(notice.id), "lease.accepted", "sent", 1, 204)]


def test_an_endpoint_gets_only_the_kinds_it_asked_for(api, astro, pool, receiver, private_ok):
    register(api, receiver.url, kinds=["lease.cancelled"])
    booked(astro, pool)
    deliver()
    assert receiver.requests == []


def test_a_forged_or_replayed_body_fails_verification(api, astro, pool, receiver, private_ok):
    endpoint = register(api, receiver.url)
    receiver.secret = endpoint["secret"]
    booked(astro, pool)
    deliver()
    from standardwebhooks import Webhook  # noqa: PLC0415 — only this test forges

    request = receiver.requests[0]
    forged = request["body"].replace(b"ACCEPTED", b"CANCELLED")
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint["secret"]).verify(forged, request["headers"])


def test_a_failing_receiver_is_retried_with_growing_gaps_then_disabled_and_its_owner_told(
    api, astro, pool, receiver, private_ok, settings
):
    settings.NOTICE_RETRY_BASE_SECONDS, settings.WEBHOOK_DISABLE_AFTER = 5, 4
    endpoint = register(api, receiver.url)
    receiver.statuses = [500, 503, 502, 500]
    booked(astro, pool)
    now, gaps = timezone.now(), []
    for _ in range(4):
        deliver(now)
        delivery = Delivery.objects.get(channel="webhook", notice__kind=Kind.LEASE_ACCEPTED)
        if delivery.due_at:
            gaps.append(round((delivery.due_at - timezone.now()).total_seconds()))
            now = delivery.due_at + timedelta(seconds=1)
    assert gaps == [5, 10, 20]
    assert len(receiver.requests) == 4
    delivery.refresh_from_db()
    assert (delivery.state, delivery.response_status) == (DeliveryState.FAILED, 500)
    # The fourth failure disabled the endpoint, which failed its pending delivery for good.
    assert delivery.last_error == "its endpoint was disabled"
    shown = api.get(f"/api/v1/webhooks/{endpoint['id']}/").json()
    assert shown["enabled"] is False and shown["failures"] == 4
    assert "4 failed attempts in a row" in shown["disabled_reason"]
    told = Notice.objects.get(kind=Kind.WEBHOOK_DISABLED)
    assert told.user == astro and told.data["url"] == receiver.url
    # Enabling it again starts afresh, and a test event goes through.
    again = api.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"enabled": True}, format="json")
    assert (again.json()["enabled"], again.json()["failures"]) == (True, 0)
    queued = api.post(f"/api/v1/webhooks/{endpoint['id']}/test")
    assert queued.status_code == 202
    deliver()
    assert receiver.requests[-1]["headers"]["webhook-id"] == queued.json()["notice"]
    log = api.get(endpoint["deliveries"]).json()["results"]
    assert log[0]["type"] == "webhook.test" and log[0]["state"] == "sent"


def test_a_receiver_that_never_answers_costs_one_bounded_timeout(
    api, astro, pool, receiver, private_ok, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    register(api, receiver.url)
    receiver.delay = 3
    booked(astro, pool)
    started = timezone.now()
    assert deliver() == [DeliveryState.PENDING]
    assert (timezone.now() - started).total_seconds() < 2.5
    assert "timed out" in Delivery.objects.get().last_error


def test_the_test_event_of_a_disabled_endpoint_is_refused(api, astro, receiver, private_ok):
    endpoint = register(api, receiver.url)
    api.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"enabled": False}, format="json")
    answer = api.post(f"/api/v1/webhooks/{endpoint['id']}/test")
    assert answer.status_code == 409
    assert answer["Content-Type"] == "application/problem+json"


BAD_URLS = [
    ("ftp://example.org/hook", "must be an http:// or https:// URL"),
    ("javascript:alert(1)", "must be an http:// or https:// URL"),
    ("http:///nohost", "must name a host"),
    ("https://user:pw@example.org/", "must not carry a user name or password"),
    ("http://127.0.0.1:8000/api/", "points at this service itself"),
    ("http://10.1.2.3/hook", "points at a private or local address (10.1.2.3)"),
    ("http://localhost:9999/hook", "points at a private or local address"),
    ("http://[::1]:9999/hook", "points at a private or local address (::1)"),
    ("http://169.254.169.254/latest/meta-data", "points at a private or local address"),
    ("http://example.invalid/hook", "has a host that does not resolve"),
    ("http://example.org:99999/", "is not a URL"),
    ("", "is required"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS, ids=[u or "empty" for u, _ in BAD_URLS])
def test_a_bad_webhook_url_is_a_400_naming_the_field(api, url, reason):
    answer = api.post("/api/v1/webhooks/", {"url": url}, format="json")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["path"] == "url" and error["message"].startswith(reason), error
    assert not WebhookEndpoint.objects.exists()


def test_this_service_is_refused_even_where_private_addresses_are_allowed(api, private_ok):
    answer = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:8000/x"}, format="json")
    assert answer.json()["errors"] == [{"path": "url", "message": "points at this service itself"}]
    ok = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:8001/x"}, format="json")
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"url": "https://93.184.215.14/h", "kinds": ["lease.exploded"]},
            [("kinds[0]", "is not an event type: 'lease.exploded'")],
        ),
        (
            {"url": "https://93.184.215.14/h", "kinds": "lease.accepted"},
            [("kinds", "must be a list of event types")],
        ),
        ({"url": "https://93.184.215.14/h", "colour": "red"}, [("colour", "is not a known field")]),
        ({"kinds": []}, [("url", "is required")]),
        (
            {"url": "https://93.184.215.14/h", "enabled": False},
            [("enabled", "cannot be set when registering")],
        ),
        (
            {"url": "https://93.184.215.14/h", "description": "x" * 201},
            [("description", "must be text of at most 200 characters")],
        ),
    ],
    ids=["unknown-kind", "kinds-not-list", "unknown-field", "no-url", "enabled", "description"],
)
def test_bad_fields_are_400s_naming_each(api, body, errors):
    answer = api.post("/api/v1/webhooks/", body, format="json")
    assert answer.status_code == 400, answer.json()
    assert [(e["path"], e["message"]) for e in answer.json()["errors"]] == errors


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"kinds": None}, [("kinds", "must be a list of event types")]),
        ({"url": None}, [("url", "is required")]),
        ({"description": None}, [("description", "must be text of at most 200 characters")]),
        ({"enabled": "yes"}, [("enabled", "must be true or false")]),
        ({"secret": "mine"}, [("secret", "is not a known field")]),
    ],
    ids=["kinds-null", "url-null", "description-null", "enabled-text", "secret"],
)
def test_a_bad_change_is_a_400_naming_the_field_and_changes_nothing(
    api, receiver, private_ok, body, errors
):
    endpoint = register(api, receiver.url, kinds=["lease.accepted"])
    answer = api.patch(f"/api/v1/webhooks/{endpoint['id']}/", body, format="json")
    assert answer.status_code == 400
    assert [(e["path"], e["message"]) for e in answer.json()["errors"]] == errors
    assert api.get(f"/api/v1/webhooks/{endpoint['id']}/").json() == endpoint


def test_a_body_that_is_not_an_object_is_a_400(api):
    answer = api.post("/api/v1/webhooks/", [1, 2], format="json")
    assert answer.status_code == 400
    assert answer.json() == problem(
        400,
        "invalid",
        "The body must be a JSON object.",
        "must be an object",
        errors=[("", "must be an object")],
    )


def test_endpoints_are_private_to_their_owner(api, other_user, receiver, private_ok):
    endpoint = register(api, receiver.url)
    other = APIClient()
    other.force_authenticate(other_user)
    for method, path in [
        ("get", f"/api/v1/webhooks/{endpoint['id']}/"),
        ("patch", f"/api/v1/webhooks/{endpoint['id']}/"),
        ("delete", f"/api/v1/webhooks/{endpoint['id']}/"),
        ("get", f"/api/v1/webhooks/{endpoint['id']}/deliveries/"),
        ("post", f"/api/v1/webhooks/{endpoint['id']}/test"),
    ]:
        assert getattr(other, method)(path, {}, format="json").status_code == 404, path
    assert other.get("/api/v1/webhooks/").json()["results"] == []
    assert api.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_as_a_url_gets_reasons_or_none_never_an_exception(text):
    problems = webhook_url_problems(text)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    if not text.strip():
        assert problems == ["is required"]
