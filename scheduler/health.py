"""GET /healthz: the state of the database, the broker and the lease tick, as JSON."""

import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from bookings.domain.isotime import iso

TICK_KEY = "wcidt:lease-tick:last"


def record_tick() -> None:
    """Called by every lease tick, so /healthz can tell whether beat and a worker are alive."""
    _redis().set(TICK_KEY, f"{time.time():.3f}")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # the point is to report any failure, not to raise it
        return {"ok": False, "error": str(exc).strip()}


def _check_broker() -> tuple[dict, float | None]:
    try:
        client = _redis()
        client.ping()
        last = client.get(TICK_KEY)
        return {"ok": True}, float(last) if last else None
    except Exception as exc:
        return {"ok": False, "error": str(exc).strip()}, None


@require_GET
def healthz(request):
    database = _check_database()
    broker, last_tick = _check_broker()
    max_age = max(10, 5 * settings.LEASE_TICK_SECONDS)
    age = None if last_tick is None else max(0.0, time.time() - last_tick)
    tick = {
        "ok": age is not None and age <= max_age,
        "last": None if last_tick is None else iso(datetime.fromtimestamp(int(last_tick), UTC)),
        "age_seconds": None if age is None else round(age, 1),
        "max_age_seconds": max_age,
    }
    ok = database["ok"] and broker["ok"] and tick["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "database": database,
        "broker": broker,
        "tick": tick,
    }
    return JsonResponse(body, status=200 if ok else 503)
