"""Parse and validate a booking request (DESIGN §4) into its normalised form.

Every problem is reported with the path of the offending field (``components[1].amounts.
cores.min``) in one DomainError, so a client can fix them all at once. The normalised form
(plain JSON, stored on the offer set) has every default filled in: amounts as ``{min, max}``,
``replicas``, the duration in seconds and the start window as two instants.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError, FieldErrors
from bookings.domain.isotime import duration_seconds, iso, parse_duration, parse_instant
from resources.choices import DIMENSIONS_BY_KIND, PoolKind

# parse_duration and parse_instant are read from here by the interfaces.
__all__ = ["parse_duration", "parse_instant", "quoted", "request_normalise"]

DEFAULT_WINDOW = timedelta(days=7)
_REQUEST_KEYS = {
    "name",
    "components",
    "datasets",
    "site",
    "duration",
    "start",
    "max_offers",
    "executable",
}
_COMPONENT_KEYS = {"name", "kind", "replicas", "amounts"}


def quoted(value: Any, limit: int = 60) -> str:
    """`repr(value)` for an error message, cut short: never the whole of a huge input (a
    5000-digit int cannot even be turned into a string)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _amount(value: Any, path: str, errors: FieldErrors) -> dict | None:
    if _whole(value):
        low = high = value
    elif isinstance(value, dict):
        unknown = set(value) - {"min", "max"}
        for key in sorted(map(str, unknown)):
            errors.add(f"{path}.{key}", "is not a known key (min, max)")
        if "min" not in value:
            errors.add(f"{path}.min", "is required")
            return None
        low = value["min"]
        high = value.get("max", low)
        if not _whole(low) or not _whole(high):
            errors.add(path, "min and max must be whole numbers")
            return None
    else:
        errors.add(path, "must be a whole number or {min, max}")
        return None
    if low < 0:
        errors.add(path, f"{quoted(low)} is negative")
        return None
    if high < low:
        errors.add(f"{path}.max", f"{quoted(high)} is less than min {quoted(low)}")
        return None
    if low > policy.MAX_AMOUNT:
        errors.add(path, f"{quoted(low)} is more than any pool has")
        return None
    # A maximum above any pool asks for "as much as there is": the same as the widest column.
    return {"min": low, "max": min(high, policy.MAX_AMOUNT)}


def _duration(value: Any, path: str, errors: FieldErrors) -> dict | None:
    limit = policy.max_duration()

    def seconds(v: Any, p: str) -> int | None:
        if _whole(v):
            parsed = v  # seconds, as a number
        else:
            parsed = duration_seconds(v)
            if parsed is None:
                errors.add(p, f"{quoted(v)} is not an ISO 8601 duration such as PT9H or P1DT6H")
                return None
        if parsed <= 0:
            errors.add(p, "must be longer than zero")
            return None
        if parsed > limit:
            errors.add(p, f"must be at most {policy.words(limit)} (a lease's longest)")
            return None
        return parsed

    if isinstance(value, dict):
        for key in sorted(map(str, set(value) - {"min", "max"})):
            errors.add(f"{path}.{key}", "is not a known key (min, max)")
        if "min" not in value:
            errors.add(f"{path}.min", "is required")
            return None
        low = seconds(value["min"], f"{path}.min")
        high = seconds(value["max"], f"{path}.max") if "max" in value else low
    else:
        low = high = seconds(value, path)
    if low is None or high is None:
        return None
    if high < low:
        errors.add(f"{path}.max", "is shorter than min")
        return None
    return {"min": low, "max": high}


def _window(value: Any, path: str, now: datetime, errors: FieldErrors) -> tuple | None:
    """The start window `(a, b)`; refused past the policy's lead (a) and horizon (b), and
    checked against them before any arithmetic, so a far date cannot overflow."""
    if value is None:
        start, end = now, now + DEFAULT_WINDOW
    elif not isinstance(value, str) or "/" not in value:
        start = end = parse_instant(value)
        if start is None:
            errors.add(path, "must be an ISO 8601 interval (a/b or a/duration) or an instant")
            return None
    else:
        first, second = value.split("/", 1)
        start = parse_instant(first)
        if start is None:
            errors.add(path, f"{quoted(first)} is not an ISO 8601 date-time with a time zone")
            return None
        if second.strip().upper().startswith("P"):
            length = duration_seconds(second)
            if length is None:
                errors.add(path, f"{quoted(second)} is not an ISO 8601 duration")
                return None
            end = None if length > policy.limit_seconds("BOOKING_MAX_END") else length
        else:
            end = parse_instant(second)
            if end is None:
                errors.add(path, f"{quoted(second)} is not an ISO 8601 date-time with a time zone")
                return None
    latest_start, horizon = policy.latest_start(now), policy.horizon(now)
    if start > latest_start:
        ahead = policy.words(policy.limit_seconds("BOOKING_MAX_LEAD"))
        errors.add(
            path, f"a lease may start at most {ahead} ahead, by {iso(latest_start)} at the latest"
        )
        return None
    if isinstance(end, int):
        end = start + timedelta(seconds=end)
    if end is None or end > horizon:
        ahead = policy.words(policy.limit_seconds("BOOKING_MAX_END"))
        errors.add(path, f"the window may reach at most {ahead} ahead, to {iso(horizon)}")
        return None
    if end < start:
        errors.add(path, "the interval ends before it starts")
        return None
    return start, end


def request_normalise(*, data: Any, now: datetime) -> dict:
    """The request with every default filled in, or DomainError naming each bad field."""
    errors = FieldErrors()
    if not isinstance(data, dict):
        raise DomainError(
            "The request must be a JSON object.", errors=[FieldError("", "not an object")]
        )
    for key in sorted(map(str, set(data) - _REQUEST_KEYS)):
        errors.add(key, "is not a known field")
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > policy.MAX_NAME_LENGTH:
        errors.add("name", f"must be a string of at most {policy.MAX_NAME_LENGTH} characters")
        name = ""

    components = []
    raw_components = data.get("components")
    if not isinstance(raw_components, list) or not raw_components:
        errors.add("components", "must be a non-empty list")
        raw_components = []
    elif len(raw_components) > policy.MAX_COMPONENTS:
        errors.add("components", f"at most {policy.MAX_COMPONENTS} components")
        raw_components = []
    seen = set()
    for i, raw in enumerate(raw_components):
        path = f"components[{i}]"
        if not isinstance(raw, dict):
            errors.add(path, "must be an object")
            continue
        for key in sorted(map(str, set(raw) - _COMPONENT_KEYS)):
            errors.add(f"{path}.{key}", "is not a known field")
        cname = raw.get("name", f"component-{i}")
        longest = policy.MAX_COMPONENT_NAME_LENGTH
        if not isinstance(cname, str) or not cname or len(cname) > longest:
            errors.add(
                f"{path}.name", f"must be a non-empty string of at most {longest} characters"
            )
            continue
        if cname in seen:
            errors.add(f"{path}.name", f"{quoted(cname)} is used by another component")
        seen.add(cname)
        kind = raw.get("kind", PoolKind.COMPUTE)
        if kind not in PoolKind.values:
            errors.add(f"{path}.kind", f"{quoted(kind)} is not one of {', '.join(PoolKind.values)}")
            continue
        replicas = raw.get("replicas", 1)
        if not _whole(replicas) or not 1 <= replicas <= policy.MAX_REPLICAS:
            errors.add(
                f"{path}.replicas", f"must be a whole number from 1 to {policy.MAX_REPLICAS}"
            )
            replicas = 1
        raw_amounts = raw.get("amounts")
        if not isinstance(raw_amounts, dict) or not raw_amounts:
            errors.add(f"{path}.amounts", "must be a non-empty object of dimension: amount")
            continue
        amounts = {}
        for dim, value in raw_amounts.items():
            if dim not in DIMENSIONS_BY_KIND[kind]:
                known = ", ".join(DIMENSIONS_BY_KIND[kind])
                errors.add(
                    f"{path}.amounts.{dim}", f"a {kind} component has no {quoted(dim)} ({known})"
                )
                continue
            amount = _amount(value, f"{path}.amounts.{dim}", errors)
            if amount is not None:
                amounts[dim] = amount
        if amounts and all(a["max"] == 0 for a in amounts.values()):
            errors.add(f"{path}.amounts", "asks for nothing (every amount is 0)")
        components.append({"name": cname, "kind": kind, "replicas": replicas, "amounts": amounts})

    datasets = data.get("datasets") or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        errors.add("datasets", "must be a list of dataset slugs")
        datasets = []
    site = data.get("site")
    if site is not None and not isinstance(site, str):
        errors.add("site", "must be a site slug or null")
        site = None
    duration = _duration(data.get("duration"), "duration", errors) if "duration" in data else None
    if "duration" not in data:
        errors.add("duration", "is required (an ISO 8601 duration such as PT9H)")
    window = _window(data.get("start"), "start", now, errors)
    max_offers = data.get("max_offers", policy.DEFAULT_OFFERS)
    if not _whole(max_offers) or not 1 <= max_offers <= policy.MAX_OFFERS:
        errors.add("max_offers", f"must be a whole number from 1 to {policy.MAX_OFFERS}")
    executable = data.get("executable")
    if executable is not None and not isinstance(executable, dict):
        errors.add("executable", "must be an object or null")

    errors.raise_if_any("The request is not valid.")
    start, latest = window
    if latest < now - timedelta(seconds=settings.ENGINE_STEP_SECONDS):
        raise DomainError(
            "The request is not valid.", errors=[FieldError("start", "the window is in the past")]
        )
    return {
        "name": name,
        "components": components,
        "datasets": sorted(set(datasets)),
        "site": site,
        "duration": duration,
        "start": {"earliest": iso(max(start, now)), "latest": iso(max(latest, now))},
        "max_offers": max_offers,
        "executable": executable,
    }
