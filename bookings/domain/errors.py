"""The one domain error type; the API renders it as RFC 9457 problem+json."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class DomainError(Exception):
    """A refusal with a reason. `status` is the HTTP status the API answers with."""

    title: str
    status: int = 400
    code: str = "invalid"
    errors: list[FieldError] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.errors:
            return self.title
        return self.title + "\n" + "\n".join(f"  - {e}" for e in self.errors)


@dataclass
class DependencyUnavailable(DomainError):
    """A service the call needs (Redis, …) did not answer: 503 with `Retry-After`
    (`retry_after` seconds). Raise it from the code that talks to the service."""

    title: str = "A service this call needs is unavailable; please try again shortly."
    status: int = 503
    code: str = "dependency-unavailable"
    retry_after: int = 5


class IllegalTransition(DomainError):
    """A lease asked to do what its phase does not allow: 409, with the phase it is in."""

    def __init__(self, title: str, *, phase: str):
        super().__init__(title, status=409, code="illegal-transition", extra={"phase": phase})
