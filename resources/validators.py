"""Validators shared by the resource models, their admin forms and the capacity file."""

from django.core.exceptions import ValidationError

from adapters import ADAPTER_NAMES


def adapter_name_problem(value: object) -> str | None:
    """Why `value` is not the name of a registered adapter, or None when it is one."""
    if value in ADAPTER_NAMES:
        return None
    return f"{value!r} is not a known adapter (known: {', '.join(ADAPTER_NAMES)})"


def validate_adapter_name(value: str) -> None:
    """A pool's adapter must be one the registry (adapters.ADAPTER_NAMES) can build: a typo
    would make every booking on the pool fail and its release retry without end."""
    problem = adapter_name_problem(value)
    if problem:
        raise ValidationError(problem, code="unknown-adapter")
