"""Throttling of offer-set creation, the call that runs the engine."""

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class OfferSetThrottle(UserRateThrottle):
    """Per user; the rate (`OFFER_SET_THROTTLE`, e.g. "60/min") is read at call time, so tests
    and benchmarks can change it."""

    scope = "offer_sets"

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]
