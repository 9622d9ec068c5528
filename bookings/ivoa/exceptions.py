"""Every error under /ivoa/ as an RFC 9457 problem in the negotiated format (JSON when the
client accepts neither), built by the native API's `problem` (one shape for both interfaces)
in the words IVOA clients get: DRF's refusals are reworded, domain errors kept as they are.
"""

import logging
import math

from rest_framework import exceptions
from rest_framework.response import Response

from bookings.api.exceptions import domain_problem, problem
from bookings.domain.errors import DependencyUnavailable, DomainError
from bookings.ivoa.formats import FormatError

logger = logging.getLogger(__name__)

AUTHENTICATION_REQUIRED = "Authentication required: send Authorization: Token <key> or log in."
# How DRF's SessionAuthentication words a failed CSRF check.
_CSRF_FAILED = "CSRF Failed: "
SERVER_ERROR = "The server failed on this request; it has been logged."


def problem_exception_handler(exc, context) -> Response:
    """The IVOA views' EXCEPTION_HANDLER; a bug is logged and answered as a 500 problem."""
    request, view = context["request"], context["view"]
    if isinstance(exc, DomainError):
        body, headers = _domain_problem(exc, view)
    elif isinstance(exc, FormatError):
        body = problem(
            status=exc.status_code,
            code=exc.code,
            title=exc.title,
            detail=str(exc.detail),
            errors=exc.errors,
        )
        headers = {}
    elif isinstance(exc, exceptions.APIException):
        body, headers = _framework_problem(exc, request, view)
    else:
        logger.error("IVOA %s %s failed", request.method, request.path, exc_info=exc)
        body, headers = problem(status=500, code="server-error", title=SERVER_ERROR), {}
    return problem_response(request, view, body, headers)


def problem_response(request, view, body: dict, headers: dict | None = None) -> Response:
    """A problem in the format negotiated, or JSON if negotiation failed or was not reached
    (a 405 comes first)."""
    if getattr(request, "accepted_renderer", None) is None:
        negotiated = view.perform_content_negotiation(request, force=True)
        request.accepted_renderer, request.accepted_media_type = negotiated
    return Response(
        body,
        status=body["status"],
        headers=headers,
        content_type=request.accepted_renderer.problem_media_type,
    )


def _domain_problem(error: DomainError, view) -> tuple[dict, dict]:
    body = domain_problem(error)
    if "fresh_offer_set" in body:  # a lapsed hold whose capacity was taken: the new set's URL
        body["offerset"] = view.url_for("offersets", body.pop("fresh_offer_set"))
    headers = {}
    if isinstance(error, DependencyUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    return body, headers


def _framework_problem(exc: exceptions.APIException, request, view) -> tuple[dict, dict]:
    """DRF's refusals (authentication, CSRF, method, throttle, unknown path)."""
    code = str(exc.default_code).replace("_", "-")
    title, detail, extra, headers = str(exc.detail), "", {}, {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not-authenticated"
        if getattr(exc, "auth_header", None):  # set by the view: the token scheme
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, exceptions.NotAuthenticated):
            title = AUTHENTICATION_REQUIRED
    elif isinstance(exc, exceptions.PermissionDenied) and title.startswith(_CSRF_FAILED):
        code, title = "csrf-failed", "CSRF check failed: " + title.removeprefix(_CSRF_FAILED)
    elif isinstance(exc, exceptions.MethodNotAllowed):
        title = f"{request.method} is not allowed here."
        headers["Allow"] = ", ".join(view.allowed_methods)
    elif isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait or 1)
        title = f"Too many offer-set requests; try again in {wait} s."
        extra["retry_after"] = wait
        headers["Retry-After"] = str(wait)
    elif isinstance(exc, exceptions.NotFound):
        title, detail = "No such IVOA resource.", title
    body = problem(status=exc.status_code, code=code, title=title, detail=detail, extra=extra)
    return body, headers
