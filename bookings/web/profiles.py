"""The user's profile: created on first use; the iCal feed token can be rotated.

These live beside the web views because only the web pages change a profile; the iCal feed
(bookings/api) only reads `Profile.ical_token`.
"""

import secrets

from bookings.models import Profile


def profile_for_user(*, user) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def profile_ical_token_reset(*, user) -> Profile:
    """A new secret feed token: every calendar subscribed with the old link stops updating."""
    profile = profile_for_user(user=user)
    profile.ical_token = secrets.token_urlsafe()
    profile.save(update_fields=["ical_token"])
    return profile


def profile_timezone_set(*, user, timezone: str) -> Profile:
    profile = profile_for_user(user=user)
    profile.timezone = timezone
    profile.save(update_fields=["timezone"])
    return profile
