"""Query-parameter filters; a bad value is a 400 problem naming the parameter.

A filter parameter that is given must say something: `?phase=`, `?phase=,,`, `?site=` and
`?start=` are refused rather than read as "no filter" (leave the parameter out for that)."""

from datetime import datetime

from bookings.choices import Phase
from bookings.domain.errors import DomainError, FieldError, FieldErrors
from bookings.domain.isotime import parse_instant

INVALID = "A query parameter is not valid."


def instant_param(params, name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    parsed = parse_instant(value)
    if parsed is None:
        message = (
            "is empty (leave it out, or give an ISO 8601 date-time with a time zone)"
            if value.strip() == ""
            else f"{value!r} is not an ISO 8601 date-time with a time zone"
        )
        raise DomainError(INVALID, errors=[FieldError(name, message)])
    return parsed


def _phases(params, errors: FieldErrors) -> list[str] | None:
    """?phase=A,B (any case; repeated parameters add up)."""
    values = params.getlist("phase")
    if not values:
        return None
    names = [name.strip().upper() for value in values for name in value.split(",")]
    if "" in names:
        errors.add("phase", "names an empty phase (give e.g. phase=OFFERED,ACCEPTED)")
        return None
    unknown = [name for name in names if name not in Phase.values]
    if unknown:
        errors.add("phase", f"unknown phase {unknown[0]!r} (one of {', '.join(Phase)})")
        return None
    return names


def leases_filter(queryset, params):
    """?phase=A,B  ?site=slug  ?start=&end= (leases overlapping [start, end))."""
    errors = FieldErrors()
    phases = _phases(params, errors)
    site = params.get("site")
    if site is not None and site.strip() == "":
        errors.add("site", "is empty (leave it out, or give a site slug)")
    bounds = {}
    for name in ("start", "end"):
        try:
            bounds[name] = instant_param(params, name)
        except DomainError as error:
            errors.items += error.errors
    errors.raise_if_any(INVALID)
    if phases is not None:
        queryset = queryset.filter(phase__in=phases)
    if site is not None:
        queryset = queryset.filter(site__slug=site)
    if bounds["start"]:
        queryset = queryset.filter(end__gt=bounds["start"])
    if bounds["end"]:
        queryset = queryset.filter(start__lt=bounds["end"])
    return queryset
