"""Policy limits (``model.Limit``) applied to a request's sites and free profiles, so that
every offer and every suggestion the engine returns keeps them (fair share, DESIGN §8a)."""

from __future__ import annotations

from collections.abc import Sequence

from .model import EVERY_SITE, Limit
from .profile import FreeProfile
from .sites import Site


def constrain_sites(sites: list[Site], limits: Sequence[Limit]) -> list[Site]:
    """Give each site the latest start and longest duration its limits allow."""
    for site in sites:
        latest = [
            v
            for limit in limits
            for k, v in limit.latest_start.items()
            if k in (site.name, EVERY_SITE)
        ]
        longest = [
            v for limit in limits for k, v in limit.longest.items() if k in (site.name, EVERY_SITE)
        ]
        site.latest = min(latest) if latest else None
        site.longest = min(longest) if longest else None
    return sites


def constrain_profiles(
    profiles: dict[str, FreeProfile], site_of: dict[str, str], limits: Sequence[Limit]
) -> dict[str, FreeProfile]:
    """Each pool's profile with its site's blocked intervals and its own caps applied."""
    if not limits:
        return profiles
    out = {}
    for slug, profile in profiles.items():
        site = site_of[slug]
        blocked = [
            iv
            for limit in limits
            for key in (site, EVERY_SITE)
            for iv in limit.blocked.get(key, ())
        ]
        caps = [cap for limit in limits for cap in limit.caps.get(slug, ())]
        out[slug] = profile.limited(blocked, caps) if blocked or caps else profile
    return out
