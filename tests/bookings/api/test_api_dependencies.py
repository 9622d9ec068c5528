"""A dependency down is a 503 problem with Retry-After, at once (issue 11, defect 14), and a
replay of a stored idempotent answer never counts against the throttle (defect 15).

Redis is really down here: the cache points at a port nobody listens on, at a socket that
accepts connections and never answers (a paused or overloaded Redis), or at a real Redis that
answers every write with an error (a read-only replica whose primary is gone)."""

import shutil
import socket
import subprocess
import time

import pytest

from bookings.models import IdempotencyKey, OfferSet
from tests.bookings.api.apidata import problem, worker_request
from tests.support import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port():
    """Accepts (the kernel completes the handshake) and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.fixture
def refusing_port(tmp_path):
    """A real Redis that answers, but every write is an error: a replica of a primary that is
    not there, so read-only (as after a failover gone wrong)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    nowhere = str(free_port())
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--replicaof", "127.0.0.1", nowhere],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(port), 10, "the read-only Redis to start")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def point_cache_at(settings, port: int) -> None:
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }


UNAVAILABLE = problem(
    503,
    "dependency-unavailable",
    "The rate limiter (Redis) is unavailable; please try again shortly.",
)


@pytest.mark.parametrize(
    ("port", "within"), [("closed_port", 0.5), ("silent_port", 1.5), ("refusing_port", 0.5)]
)
def test_redis_down_is_a_quick_503_problem_and_books_nothing(
    api, capacity, settings, request, port, within
):
    # warm up (the first request of a process imports and builds what it needs)
    assert api.post("/api/v1/offer-sets/", {}, format="json").status_code == 400
    point_cache_at(settings, request.getfixturevalue(port))
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "first-try"}):
        started = time.monotonic()
        response = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        assert response["Retry-After"] == "5"
        assert response.json() == UNAVAILABLE
        assert elapsed < within, elapsed
    # nothing was booked, and the key stays free for the retry
    assert (OfferSet.objects.count(), IdempotencyKey.objects.count()) == (0, 0)


def test_reads_and_stored_answers_do_not_need_redis(api, capacity, settings, closed_port):
    headers = {"HTTP_IDEMPOTENCY_KEY": "stored"}
    first = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    assert first.status_code == 201
    point_cache_at(settings, closed_port)
    again = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert api.get("/api/v1/leases/").status_code == 200


def test_healthz_says_redis_is_down(client, settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 2.5
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["broker"]["ok"]) == (
        "degraded",
        {"ok": True},
        False,
    )
    assert "Connection refused" in body["broker"]["error"]


def test_replays_are_not_throttled(api, user, capacity, settings, clear_throttle):
    """Two offer sets a minute: a stored 201, a stored 400 and a reused key (422) are all
    answered as often as they are asked, and only new work counts."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"offer_sets": "2/min"},
    }
    clear_throttle(user)
    try:
        created = api.post(
            "/api/v1/offer-sets/", worker_request(), format="json", HTTP_IDEMPOTENCY_KEY="a"
        )
        refused = api.post(
            "/api/v1/offer-sets/", {"components": []}, format="json", HTTP_IDEMPOTENCY_KEY="b"
        )
        assert (created.status_code, refused.status_code) == (201, 400)
        for _ in range(5):
            replay = api.post(
                "/api/v1/offer-sets/", worker_request(), format="json", HTTP_IDEMPOTENCY_KEY="a"
            )
            assert (replay.status_code, replay.json()) == (201, created.json())
            assert replay["Idempotent-Replayed"] == "true"
            replay = api.post(
                "/api/v1/offer-sets/", {"components": []}, format="json", HTTP_IDEMPOTENCY_KEY="b"
            )
            assert (replay.status_code, replay.json()) == (400, refused.json())
            reused = api.post(
                "/api/v1/offer-sets/", {"components": [1]}, format="json", HTTP_IDEMPOTENCY_KEY="a"
            )
            assert reused.status_code == 422
        # the two first answers used the allowance: new work is throttled, with or without a key
        for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "c"}):
            response = api.post("/api/v1/offer-sets/", worker_request(), format="json", **headers)
            assert response.status_code == 429
        assert OfferSet.objects.count() == 1
    finally:
        clear_throttle(user)
