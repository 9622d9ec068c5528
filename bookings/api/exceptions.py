"""Every error under /api/ as RFC 9457 `application/problem+json`.

The body is always ``{"type", "title", "status", "detail", "errors": [{"path", "message"}]}``
plus the members of `DomainError.extra` (``latest_end``, ``version``, ``fresh_offer_set`` …).
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from bookings.domain.errors import DependencyUnavailable, DomainError, FieldErrors

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE = "urn:whencanidothis:problem:"

# Titles of DRF's own errors, which carry only a detail sentence.
_TITLES = {
    status.HTTP_400_BAD_REQUEST: "The request is not valid.",
    status.HTTP_401_UNAUTHORIZED: "Authentication is required.",
    status.HTTP_403_FORBIDDEN: "You may not do this.",
    status.HTTP_404_NOT_FOUND: "Not found.",
    status.HTTP_405_METHOD_NOT_ALLOWED: "Method not allowed.",
    status.HTTP_406_NOT_ACCEPTABLE: "No acceptable representation.",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "Unsupported media type.",
    status.HTTP_429_TOO_MANY_REQUESTS: "Too many requests.",
}
# What Django's own error answers under /api/ become (bookings.api.middleware).
_DJANGO_ERRORS = {
    400: ("bad-request", "The request is not valid.", "The server could not read the request."),
    403: (
        "permission-denied",
        "You may not do this.",
        "Refused before reaching the API (with a browser session: the CSRF token is missing "
        "or wrong; platforms send `Authorization: Token <key>`).",
    ),
    404: ("not-found", "Not found.", "There is no API endpoint at {path}."),
    405: ("method-not-allowed", "Method not allowed.", "{path} does not take this method."),
    413: ("too-large", "The request is too large.", "The request body is too large."),
}
SERVER_ERROR = (
    "server-error",
    "Something went wrong on our side.",
    "The error was logged; please report it with the time of the request.",
)


def problem(*, status: int, code: str, title: str, detail: str = "", errors=(), extra=None) -> dict:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": [{"path": e.path, "message": e.message} for e in errors],
    }
    for name, value in (extra or {}).items():
        body.setdefault(name, value)
    return body


def domain_problem(error: DomainError) -> dict:
    detail = "; ".join(str(e) for e in error.errors) if error.errors else error.title
    return problem(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=detail,
        errors=error.errors,
        extra=error.extra,
    )


def _field_errors(detail, errors: FieldErrors, path: str = "") -> None:
    """DRF's nested error details, flat, as (path, message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            _field_errors(value, errors, f"{path}.{name}" if path and name else path or name)
    elif isinstance(detail, list) and not all(isinstance(item, str) for item in detail):
        for i, item in enumerate(detail):
            _field_errors(item, errors, f"{path}[{i}]")
    else:
        for item in detail if isinstance(detail, list) else [detail]:
            errors.add(path, str(item))


def _api_problem(exc: exceptions.APIException) -> dict:
    code = str(exc.default_code).replace("_", "-")
    if isinstance(exc, exceptions.ValidationError):
        errors = FieldErrors()
        _field_errors(exc.detail, errors)
        return problem(
            status=exc.status_code,
            code=code,
            title=_TITLES[status.HTTP_400_BAD_REQUEST],
            detail="; ".join(str(e) for e in errors.items),
            errors=errors.items,
        )
    title = _TITLES.get(exc.status_code, str(exc.detail))
    return problem(status=exc.status_code, code=code, title=title, detail=str(exc.detail))


def status_problem(status: int, *, path: str) -> dict:
    """The problem for an error answer Django gave without saying more than its status."""
    code, title, detail = _DJANGO_ERRORS.get(status) or (
        SERVER_ERROR if status >= 500 else ("client-error", "The request was refused.", "")
    )
    return problem(status=status, code=code, title=title, detail=detail.format(path=path))


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: domain and DRF errors become problems; so does a bug (a 500
    is logged with its traceback, and the client gets a problem rather than an HTML page)."""
    headers = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DomainError):
        body = domain_problem(exc)
        if isinstance(exc, DependencyUnavailable):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, exceptions.APIException):
        body = _api_problem(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait + 0.999))
    else:
        logger.error("unhandled error in the API", exc_info=exc)
        code, title, detail = SERVER_ERROR
        body = problem(status=500, code=code, title=title, detail=detail)
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt  # it changes nothing; a token caller must not meet the session's CSRF check
def not_found(request, path=""):
    """Any URL under /api/ that names no endpoint, whatever the method."""
    body = problem(
        status=404,
        code="not-found",
        title="Not found.",
        detail=f"There is no API endpoint at {request.path}.",
    )
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
