"""Parse and validate a booking request (DESIGN §4) into its normalised form.

Every problem is reported with the path of the offending field (``components[1].amounts.
cores.min``) in one DomainError, so a client can fix them all at once. The normalised form
(plain JSON, stored on the offer set) has every default filled in: amounts as ``{min, max}``,
``replicas``, the duration in seconds and the start window as two instants.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.parser import isoparser
from django.conf import settings

from bookings.domain.errors import DomainError, FieldError
from resources.choices import DIMENSIONS_BY_KIND, PoolKind

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=366)
MAX_DURATION = timedelta(days=90)
MAX_REPLICAS = 256
MAX_COMPONENTS = 32
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
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(value: Any) -> timedelta | None:
    """An ISO 8601 duration without years or months (their length varies): P1DT2H, PT90M…"""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip().upper())
    if not match:
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


def parse_instant(value: Any) -> datetime | None:
    """A strict ISO 8601 date-time with a zone (dateutil's isoparse), in UTC; else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = isoparser().isoparse(value.strip())
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldError(path, message))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _amount(value: Any, path: str, errors: _Errors) -> dict | None:
    if _whole(value):
        low = high = value
    elif isinstance(value, dict):
        unknown = set(value) - {"min", "max"}
        for key in sorted(unknown):
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
        errors.add(path, f"{low} is negative")
        return None
    if high < low:
        errors.add(f"{path}.max", f"{high} is less than min {low}")
        return None
    return {"min": low, "max": high}


def _duration(value: Any, path: str, errors: _Errors) -> dict | None:
    def seconds(v: Any, p: str) -> int | None:
        if _whole(v) and v > 0:
            return v
        parsed = parse_duration(v)
        if parsed is None:
            errors.add(p, f"{v!r} is not an ISO 8601 duration such as PT9H or P1DT6H")
            return None
        if parsed <= timedelta(0):
            errors.add(p, "must be longer than zero")
            return None
        if parsed > MAX_DURATION:
            errors.add(p, f"must be at most {MAX_DURATION.days} days")
            return None
        return int(parsed.total_seconds())

    if isinstance(value, dict):
        for key in sorted(set(value) - {"min", "max"}):
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


def _window(value: Any, path: str, now: datetime, errors: _Errors) -> tuple | None:
    if value is None:
        return now, now + DEFAULT_WINDOW
    if not isinstance(value, str) or "/" not in value:
        instant = parse_instant(value)
        if instant is None:
            errors.add(path, "must be an ISO 8601 interval (a/b or a/duration) or an instant")
            return None
        return instant, instant
    first, second = value.split("/", 1)
    start = parse_instant(first)
    if start is None:
        errors.add(path, f"{first!r} is not an ISO 8601 date-time with a time zone")
        return None
    if second.strip().upper().startswith("P"):
        length = parse_duration(second)
        if length is None:
            errors.add(path, f"{second!r} is not an ISO 8601 duration")
            return None
        end = start + length
    else:
        end = parse_instant(second)
        if end is None:
            errors.add(path, f"{second!r} is not an ISO 8601 date-time with a time zone")
            return None
    if end < start:
        errors.add(path, "the interval ends before it starts")
        return None
    if end - start > MAX_WINDOW:
        errors.add(path, f"the window may be at most {MAX_WINDOW.days} days long")
        return None
    return start, end


def request_normalise(*, data: Any, now: datetime) -> dict:
    """The request with every default filled in, or DomainError naming each bad field."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise DomainError(
            "The request must be a JSON object.", errors=[FieldError("", "not an object")]
        )
    for key in sorted(set(data) - _REQUEST_KEYS):
        errors.add(key, "is not a known field")
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        errors.add("name", "must be a string of at most 200 characters")
        name = ""

    components = []
    raw_components = data.get("components")
    if not isinstance(raw_components, list) or not raw_components:
        errors.add("components", "must be a non-empty list")
        raw_components = []
    elif len(raw_components) > MAX_COMPONENTS:
        errors.add("components", f"at most {MAX_COMPONENTS} components")
        raw_components = []
    seen = set()
    for i, raw in enumerate(raw_components):
        path = f"components[{i}]"
        if not isinstance(raw, dict):
            errors.add(path, "must be an object")
            continue
        for key in sorted(set(raw) - _COMPONENT_KEYS):
            errors.add(f"{path}.{key}", "is not a known field")
        cname = raw.get("name", f"component-{i}")
        if not isinstance(cname, str) or not cname or len(cname) > 100:
            errors.add(f"{path}.name", "must be a non-empty string of at most 100 characters")
            continue
        if cname in seen:
            errors.add(f"{path}.name", f"{cname!r} is used by another component")
        seen.add(cname)
        kind = raw.get("kind", PoolKind.COMPUTE)
        if kind not in PoolKind.values:
            errors.add(f"{path}.kind", f"{kind!r} is not one of {', '.join(PoolKind.values)}")
            continue
        replicas = raw.get("replicas", 1)
        if not _whole(replicas) or not 1 <= replicas <= MAX_REPLICAS:
            errors.add(f"{path}.replicas", f"must be a whole number from 1 to {MAX_REPLICAS}")
            replicas = 1
        raw_amounts = raw.get("amounts")
        if not isinstance(raw_amounts, dict) or not raw_amounts:
            errors.add(f"{path}.amounts", "must be a non-empty object of dimension: amount")
            continue
        amounts = {}
        for dim, value in raw_amounts.items():
            if dim not in DIMENSIONS_BY_KIND[kind]:
                known = ", ".join(DIMENSIONS_BY_KIND[kind])
                errors.add(f"{path}.amounts.{dim}", f"a {kind} component has no {dim!r} ({known})")
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
    max_offers = data.get("max_offers", 4)
    if not _whole(max_offers) or not 1 <= max_offers <= 10:
        errors.add("max_offers", "must be a whole number from 1 to 10")
    executable = data.get("executable")
    if executable is not None and not isinstance(executable, dict):
        errors.add("executable", "must be an object or null")

    if errors.items:
        raise DomainError("The request is not valid.", errors=errors.items)
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
        "start": {"earliest": _iso(max(start, now)), "latest": _iso(max(latest, now))},
        "max_offers": max_offers,
        "executable": executable,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
