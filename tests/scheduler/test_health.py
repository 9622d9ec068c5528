import time

import pytest
import redis
from django.conf import settings

from scheduler.health import TICK_KEY, record_tick

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(TICK_KEY)
    yield client
    client.delete(TICK_KEY)


def test_healthz_is_green_when_database_broker_and_tick_are(client, broker):
    record_tick()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True}
    assert body["tick"]["ok"] is True
    assert body["tick"]["age_seconds"] < 5


def test_healthz_reports_a_stale_tick(client, broker):
    broker.set(TICK_KEY, f"{time.time() - 3600:.3f}")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["tick"]["ok"] is False


def test_healthz_reports_an_unreachable_broker(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert "Connection refused" in response.json()["broker"]["error"]


def test_healthz_gives_the_last_tick_in_whole_seconds(client, broker):
    broker.set(TICK_KEY, "1795000000.999")
    assert client.get("/healthz").json()["tick"]["last"] == "2026-11-18T11:06:40Z"
