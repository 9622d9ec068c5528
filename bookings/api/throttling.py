"""Throttling of offer-set creation, the call that runs the engine.

DRF's `UserRateThrottle` keeps each user's request times as one pickled list in the cache,
read and rewritten whole on every call, and not atomically: its cost grows with the rate (a
platform allowed 10 000 per minute rewrote a list of thousands of floats per offer set), and two
workers could both let the last allowed request through. Here the same sliding window lives in
a Redis sorted set, trimmed, counted and added to by one Lua script: one round trip, atomic,
O(log n).

Redis down, silent or refusing to write (read-only, out of memory) is a 503
(`DependencyUnavailable`) within about a second, not a 500: the client's timeouts are short
and it reconnects once, without backoff (a restarted Redis leaves pooled connections dead).
A replay of a stored idempotent answer is not counted: it runs no engine.
"""

import logging
import time
import uuid

import redis
from django.conf import settings
from django.core.cache import cache
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework.throttling import UserRateThrottle

from bookings.domain.errors import DependencyUnavailable
from bookings.domain.idempotency import idempotency_key_recorded

# Trim the window, then refuse (with how long until the oldest entry leaves it) or record.
_SLIDING_WINDOW = """
local key, now, period, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, tostring(tonumber(oldest[2]) + period - now)}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(period * 1000))
return {1, '0'}
"""
logger = logging.getLogger(__name__)
_clients: dict[str, redis.Redis] = {}
# Redis answers in well under a millisecond; one that has not answered in this long is down.
SOCKET_TIMEOUT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 5


def _redis() -> redis.Redis:
    """A client of the cache's Redis (the throttle's keys sit beside the cache's)."""
    url = settings.CACHES["default"]["LOCATION"]
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), retries=1),
        )
    return client


class OfferSetThrottle(UserRateThrottle):
    """Per user (per address for anonymous calls); the rate (`OFFER_SET_THROTTLE`, e.g.
    "60/min") is read at call time, so tests and benchmarks can change it."""

    scope = "offer_sets"

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None or self.is_replay(request):
            return True
        try:
            # the cache's own key for the name, so `cache.delete(name)` forgets the window
            allowed, wait = _redis().eval(
                _SLIDING_WINDOW,
                1,
                cache.make_and_validate_key(key),
                time.time(),
                self.duration,
                self.num_requests,
                uuid.uuid4().hex,
            )
        except redis.RedisError as error:  # down, silent, or refusing (read-only, OOM)
            logger.warning("offer-set throttle: Redis unavailable: %s", error)
            raise DependencyUnavailable(
                "The rate limiter (Redis) is unavailable; please try again shortly.",
                retry_after=RETRY_AFTER_SECONDS,
            ) from error
        self._wait = float(wait)
        return bool(allowed)

    @staticmethod
    def is_replay(request) -> bool:
        """A request whose Idempotency-Key already has an answer (or one under way) gets that
        answer and books nothing, so it does not count (the view still checks its body)."""
        key = request.headers.get("Idempotency-Key")
        return (
            bool(key)
            and request.user.is_authenticated
            and idempotency_key_recorded(user=request.user, key=key)
        )

    def wait(self) -> float | None:
        return self._wait if self._wait > 0 else None
