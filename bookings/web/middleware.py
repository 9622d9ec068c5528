"""Every time on a page is shown in the signed-in user's own time zone (DESIGN §3)."""

import zoneinfo

from django.utils import timezone

from bookings.web.profiles import profile_for_user

MACHINE_PREFIXES = ("/api/", "/ivoa/")


class UserTimezoneMiddleware:
    """Activate `Profile.timezone` (creating the profile on first use) for the request.

    `|date` and form fields then render and parse in that zone; `request.user_timezone` is
    the zone's name for the page header. The API and IVOA answers stay in UTC (DESIGN §3: UTC
    on the wire), whoever is signed in: a session's zone must not change a machine's answer.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user_timezone = "UTC"
        if request.user.is_authenticated and not request.path.startswith(MACHINE_PREFIXES):
            request.user_timezone = profile_for_user(user=request.user).timezone
            timezone.activate(zoneinfo.ZoneInfo(request.user_timezone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
