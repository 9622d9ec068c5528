"""Query-parameter filters; a bad value is a 400 problem naming the parameter."""

from datetime import datetime

from bookings.choices import Phase
from bookings.domain.errors import DomainError, FieldError
from bookings.domain.requests import parse_instant


def instant_param(params, name: str) -> datetime | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    parsed = parse_instant(value)
    if parsed is None:
        raise DomainError(
            "A query parameter is not valid.",
            errors=[FieldError(name, f"{value!r} is not an ISO 8601 date-time with a time zone")],
        )
    return parsed


def leases_filter(queryset, params):
    """?phase=A,B  ?site=slug  ?start=&end= (leases overlapping [start, end))."""
    errors = []
    if params.get("phase"):
        phases = [p.strip().upper() for p in params["phase"].split(",") if p.strip()]
        unknown = [p for p in phases if p not in Phase.values]
        if unknown:
            errors.append(
                FieldError("phase", f"unknown phase {unknown[0]!r} (one of {', '.join(Phase)})")
            )
        queryset = queryset.filter(phase__in=phases)
    if params.get("site"):
        queryset = queryset.filter(site__slug=params["site"])
    bounds = {}
    for name in ("start", "end"):
        try:
            bounds[name] = instant_param(params, name)
        except DomainError as error:
            errors += error.errors
    if errors:
        raise DomainError("A query parameter is not valid.", errors=errors)
    if bounds["start"]:
        queryset = queryset.filter(end__gt=bounds["start"])
    if bounds["end"]:
        queryset = queryset.filter(start__lt=bounds["end"])
    return queryset
