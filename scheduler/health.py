"""GET /healthz: the state of the database, the broker and the lease tick, as JSON."""

import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from bookings.choices import ACTIVE_PHASES
from bookings.domain.isotime import iso
from bookings.domain.planning.capacity import pools_over_capacity
from bookings.models import Lease

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


def _check_capacity() -> dict:
    """Pools over capacity from now on (a capacity change that left a started lease
    degraded, or a write beside the guard), and the displaced and degraded leases."""
    try:
        over = pools_over_capacity(since=timezone.now())
        flagged = Lease.objects.filter(phase__in=sorted(ACTIVE_PHASES))
        return {
            "ok": not over,
            "over": [{**o, "at": iso(o["at"])} for o in over[:10]],
            "displaced": flagged.filter(displaced=True).count(),
            "degraded": flagged.filter(degraded=True).count(),
        }
    except Exception as exc:  # reported, not raised: the database check says why
        return {"ok": False, "error": str(exc).strip()}


@require_GET
def healthz(request):
    """200 while the database, the broker and the tick are fine (503 otherwise); `status`
    is "ok" only while no pool is over capacity either ("over-capacity": the service runs,
    a booking problem needs an operator; a load balancer should keep it in)."""
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
    capacity = _check_capacity() if database["ok"] else {"ok": False}
    status = "degraded" if not ok else "ok" if capacity["ok"] else "over-capacity"
    body = {
        "status": status,
        "database": database,
        "broker": broker,
        "tick": tick,
        "capacity": capacity,
    }
    return JsonResponse(body, status=200 if ok else 503)
