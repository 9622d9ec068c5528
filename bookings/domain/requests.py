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
from bookings.domain.isotime import duration_seconds, iso, parse_instant
from resources.choices import DIMENSIONS_BY_KIND, PoolKind

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
    "flex",
    "project",
}
_FLEX_KEYS = {"before", "after", "pools"}
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
    if not isinstance(value, dict):
        low = high = _seconds(value, path, limit, errors)
    else:
        for key in sorted(map(str, set(value) - {"min", "max"})):
            errors.add(f"{path}.{key}", "is not a known key (min, max)")
        if "min" not in value:
            errors.add(f"{path}.min", "is required")
            return None
        low = _seconds(value["min"], f"{path}.min", limit, errors)
        high = _seconds(value["max"], f"{path}.max", limit, errors) if "max" in value else low
    if low is None or high is None:
        return None
    if high < low:
        errors.add(f"{path}.max", "is shorter than min")
        return None
    return {"min": low, "max": high}


def _seconds(value: Any, path: str, limit: int, errors: FieldErrors) -> int | None:
    """A duration bound: whole seconds or an ISO 8601 duration, above 0 and at most `limit`."""
    if _whole(value):
        parsed = value
    else:
        parsed = duration_seconds(value)
        if parsed is None:
            errors.add(path, f"{quoted(value)} is not an ISO 8601 duration such as PT9H or P1DT6H")
            return None
    if parsed <= 0:
        errors.add(path, "must be longer than zero")
        return None
    if parsed > limit:
        errors.add(path, f"must be at most {policy.words(limit)} (a lease's longest)")
        return None
    return parsed


def _window(value: Any, path: str, now: datetime, errors: FieldErrors) -> tuple | None:
    """The start window `(a, b)`; refused past the policy's lead (a) and horizon (b), and
    checked against them before any arithmetic, so a far date cannot overflow."""
    bounds = _window_bounds(value, path, now, errors)
    if bounds is None:
        return None
    start, end = bounds
    latest_start, horizon = policy.latest_start(now), policy.horizon(now)
    if start > latest_start:
        ahead = policy.words(policy.limit_seconds("BOOKING_MAX_LEAD"))
        errors.add(
            path, f"a lease may start at most {ahead} ahead, by {iso(latest_start)} at the latest"
        )
        return None
    if isinstance(end, int):
        too_long = end > policy.limit_seconds("BOOKING_MAX_END")
        end = None if too_long else start + timedelta(seconds=end)
    if end is None or end > horizon:
        ahead = policy.words(policy.limit_seconds("BOOKING_MAX_END"))
        errors.add(path, f"the window may reach at most {ahead} ahead, to {iso(horizon)}")
        return None
    if end < start:
        errors.add(path, "the interval ends before it starts")
        return None
    return start, end


def _window_bounds(value: Any, path: str, now: datetime, errors: FieldErrors) -> tuple | None:
    """(start, end) as written: an interval a/b or a/duration (end: its seconds), one instant,
    or by default a week from now."""
    if value is None:
        return now, now + DEFAULT_WINDOW
    if not isinstance(value, str) or "/" not in value:
        start = parse_instant(value)
        if start is None:
            errors.add(path, "must be an ISO 8601 interval (a/b or a/duration) or an instant")
            return None
        return start, start
    first, second = value.split("/", 1)
    start = parse_instant(first)
    if start is None:
        errors.add(path, f"{quoted(first)} is not an ISO 8601 date-time with a time zone")
        return None
    if second.strip().upper().startswith("P"):
        end = duration_seconds(second)
        if end is None:
            errors.add(path, f"{quoted(second)} is not an ISO 8601 duration")
            return None
        return start, end
    end = parse_instant(second)
    if end is None:
        errors.add(path, f"{quoted(second)} is not an ISO 8601 date-time with a time zone")
        return None
    return start, end


def request_normalise(*, data: Any, now: datetime) -> dict:
    """The request with every default filled in, or DomainError naming each bad field.

    One function per part of the request, called in the order its errors are listed."""
    if not isinstance(data, dict):
        raise DomainError(
            "The request must be a JSON object.", errors=[FieldError("", "not an object")]
        )
    errors = FieldErrors()
    for key in sorted(map(str, set(data) - _REQUEST_KEYS)):
        errors.add(key, "is not a known field")
    name = _name(data.get("name"), errors)
    components = _components(data.get("components"), errors)
    datasets = _datasets(data.get("datasets"), errors)
    site = _site(data.get("site"), errors)
    duration = _required_duration(data, errors)
    window = _window(data.get("start"), "start", now, errors)
    max_offers = _max_offers(data.get("max_offers", policy.DEFAULT_OFFERS), errors)
    executable = _executable(data.get("executable"), errors)
    flex = _flex(data.get("flex"), errors)
    project = data.get("project")
    if project is not None and (not isinstance(project, str) or not project or len(project) > 50):
        errors.add("project", "must be a project slug or null")
        project = None
    errors.raise_if_any("The request is not valid.")
    start, latest = window
    if latest < now - timedelta(seconds=settings.ENGINE_STEP_SECONDS):
        raise DomainError(
            "The request is not valid.", errors=[FieldError("start", "the window is in the past")]
        )
    normalised = {
        "name": name,
        "components": components,
        "datasets": datasets,
        "site": site,
        "duration": duration,
        "start": {"earliest": iso(max(start, now)), "latest": iso(max(latest, now))},
        "max_offers": max_offers,
        "executable": executable,
    }
    if flex is not None:  # only when asked for: stored requests without it read the same
        normalised["flex"] = flex
    if project is not None:  # likewise: the project charged is resolved later, and stored
        normalised["project"] = project
    return normalised


def _name(value: Any, errors: FieldErrors) -> str:
    name = value or ""
    if not isinstance(name, str) or len(name) > policy.MAX_NAME_LENGTH:
        errors.add("name", f"must be a string of at most {policy.MAX_NAME_LENGTH} characters")
        return ""
    return name


def _components(value: Any, errors: FieldErrors) -> list[dict]:
    if not isinstance(value, list) or not value:
        errors.add("components", "must be a non-empty list")
        return []
    if len(value) > policy.MAX_COMPONENTS:
        errors.add("components", f"at most {policy.MAX_COMPONENTS} components")
        return []
    components, seen = [], set()
    for i, raw in enumerate(value):
        component = _component(raw, f"components[{i}]", f"component-{i}", seen, errors)
        if component is not None:
            components.append(component)
    return components


def _component(
    raw: Any, path: str, default_name: str, seen: set, errors: FieldErrors
) -> dict | None:
    """One component with its defaults, or None when it is too broken to go on checking
    (its other problems are reported, its name is added to `seen`)."""
    if not isinstance(raw, dict):
        errors.add(path, "must be an object")
        return None
    for key in sorted(map(str, set(raw) - _COMPONENT_KEYS)):
        errors.add(f"{path}.{key}", "is not a known field")
    name = raw.get("name", default_name)
    longest = policy.MAX_COMPONENT_NAME_LENGTH
    if not isinstance(name, str) or not name or len(name) > longest:
        errors.add(f"{path}.name", f"must be a non-empty string of at most {longest} characters")
        return None
    if name in seen:
        errors.add(f"{path}.name", f"{quoted(name)} is used by another component")
    seen.add(name)
    kind = raw.get("kind", PoolKind.COMPUTE)
    if kind not in PoolKind.values:
        errors.add(f"{path}.kind", f"{quoted(kind)} is not one of {', '.join(PoolKind.values)}")
        return None
    replicas = raw.get("replicas", 1)
    if not _whole(replicas) or not 1 <= replicas <= policy.MAX_REPLICAS:
        errors.add(f"{path}.replicas", f"must be a whole number from 1 to {policy.MAX_REPLICAS}")
        replicas = 1
    amounts = _component_amounts(raw.get("amounts"), f"{path}.amounts", kind, errors)
    if amounts is None:
        return None
    return {"name": name, "kind": kind, "replicas": replicas, "amounts": amounts}


def _component_amounts(value: Any, path: str, kind: str, errors: FieldErrors) -> dict | None:
    """{dim: {min, max}} of the dimensions a component of `kind` has; None if not an object."""
    if not isinstance(value, dict) or not value:
        errors.add(path, "must be a non-empty object of dimension: amount")
        return None
    amounts = {}
    for dim, raw in value.items():
        if dim not in DIMENSIONS_BY_KIND[kind]:
            known = ", ".join(DIMENSIONS_BY_KIND[kind])
            errors.add(f"{path}.{dim}", f"a {kind} component has no {quoted(dim)} ({known})")
            continue
        amount = _amount(raw, f"{path}.{dim}", errors)
        if amount is not None:
            amounts[dim] = amount
    if amounts and all(a["max"] == 0 for a in amounts.values()):
        errors.add(path, "asks for nothing (every amount is 0)")
    return amounts


def _datasets(value: Any, errors: FieldErrors) -> list[str]:
    datasets = value or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        errors.add("datasets", "must be a list of dataset slugs")
        return []
    return sorted(set(datasets))


def _site(value: Any, errors: FieldErrors) -> str | None:
    if value is not None and not isinstance(value, str):
        errors.add("site", "must be a site slug or null")
        return None
    return value


def _required_duration(data: dict, errors: FieldErrors) -> dict | None:
    if "duration" not in data:
        errors.add("duration", "is required (an ISO 8601 duration such as PT9H)")
        return None
    return _duration(data["duration"], "duration", errors)


def _max_offers(value: Any, errors: FieldErrors) -> Any:
    if not _whole(value) or not 1 <= value <= policy.MAX_OFFERS:
        errors.add("max_offers", f"must be a whole number from 1 to {policy.MAX_OFFERS}")
    return value


def _executable(value: Any, errors: FieldErrors) -> Any:
    if value is not None and not isinstance(value, dict):
        errors.add("executable", "must be an object or null")
    return value


def _flex(value: Any, errors: FieldErrors) -> dict | None:
    """Consent to move (DESIGN §8a): how much earlier (`before`) and later (`after`) the
    lease may start, as ISO 8601 durations or seconds (0 allowed), and the `pools` of its
    site it may move to (default: every equivalent one). None when not given."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add("flex", 'must be an object such as {"before": "PT2H", "after": "PT24H"}')
        return None
    for key in sorted(map(str, set(value) - _FLEX_KEYS)):
        errors.add(f"flex.{key}", "is not a known field (before, after, pools)")
    flex: dict = {"before": 0, "after": 0, "pools": None}
    limit = policy.limit_seconds("BOOKING_MAX_LEAD")
    for key in ("before", "after"):
        raw = value.get(key, 0)
        seconds = raw if _whole(raw) else duration_seconds(raw)
        if seconds is None:
            errors.add(f"flex.{key}", f"{quoted(raw)} is not an ISO 8601 duration such as PT2H")
        elif seconds < 0:
            errors.add(f"flex.{key}", "must not be negative")
        elif seconds > limit:
            errors.add(f"flex.{key}", f"must be at most {policy.words(limit)}")
        else:
            flex[key] = seconds
    pools = value.get("pools")
    if pools is not None:
        if not isinstance(pools, list) or not all(isinstance(p, str) and p for p in pools):
            errors.add("flex.pools", "must be a list of pool slugs, or null for any equivalent")
        else:
            flex["pools"] = sorted(set(pools))
    return flex
