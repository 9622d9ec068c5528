"""The one field-error collector: every problem named, in the order found, raised once."""

import pytest

from bookings.domain.errors import DomainError, FieldError, FieldErrors

pytestmark = pytest.mark.unit


def test_nothing_gathered_raises_nothing():
    FieldErrors().raise_if_any("The request is not valid.")


def test_every_problem_is_raised_at_once_in_order():
    errors = FieldErrors()
    errors.add("components[1].name", "is used by another component")
    errors.add("", "not an object")
    with pytest.raises(DomainError) as raised:
        errors.raise_if_any("The request is not valid.")
    assert raised.value.title == "The request is not valid."
    assert (raised.value.status, raised.value.code) == (400, "invalid")
    assert raised.value.errors == [
        FieldError("components[1].name", "is used by another component"),
        FieldError("", "not an object"),
    ]
