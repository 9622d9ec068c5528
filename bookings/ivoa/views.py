"""The IVOA ExecutionBroker endpoints (DESIGN §7). Thin: parse, call the domain, render.

Authentication is the native API's: `Authorization: Token <key>` or a logged-in session
(with its CSRF check on POST). Anonymous calls get 401: every lease needs an owner who alone
(with staff) can see, accept and cancel it, so we do not book for anonymous callers as the
prototype does.
"""

import logging
import math
from collections.abc import Callable
from functools import wraps

import redis
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException, AuthenticationFailed

from bookings.api.authentication import ApiTokenAuthentication
from bookings.api.throttling import OfferSetThrottle
from bookings.choices import OfferSetResult, Phase
from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_accept, lease_cancel, lease_for_user, lease_reject
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.selectors import offer_set_for_user
from bookings.ivoa import selectors, translate
from bookings.ivoa.formats import (
    FormatError,
    parse_body,
    problem,
    problem_format,
    render,
    response_format,
)

logger = logging.getLogger(__name__)

UPDATES = {
    Phase.ACCEPTED: lease_accept,
    Phase.REJECTED: lease_reject,
    Phase.CANCELLED: lease_cancel,
}
_SAFE = {"GET", "HEAD", "OPTIONS"}
DEPENDENCY_RETRY_SECONDS = 5


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check run by hand (as DRF does for sessions): the views are exempt for
    token callers, and a refusal comes back as a reason for our problem+json, not a page."""

    def _reject(self, request, reason):
        return reason


def _authenticate(request: HttpRequest):
    """The API's own token authentication (same keys, same checks, same last-use record),
    else the session user, whose POSTs must pass the CSRF check."""
    try:
        found = ApiTokenAuthentication().authenticate(request)
    except AuthenticationFailed as error:
        raise DomainError(str(error.detail), status=401, code="not-authenticated") from None
    if found is not None:
        return found[0]
    if request.user.is_authenticated:
        if request.method not in _SAFE:
            check = _CsrfCheck(lambda _request: None)
            check.process_request(request)
            reason = check.process_view(request, None, (), {})
            if reason:
                raise DomainError(f"CSRF check failed: {reason}", status=403, code="csrf-failed")
        return request.user
    raise DomainError(
        "Authentication required: send Authorization: Token <key> or log in.",
        status=401,
        code="not-authenticated",
    )


def _throttle(request: HttpRequest, user) -> None:
    """The native API's offer-set rate limit, in the same per-user bucket: the engine is the
    expensive call whichever interface asks."""
    request.user = user
    throttle = OfferSetThrottle()
    try:
        allowed = throttle.allow_request(request, None)
    except redis.exceptions.RedisError:
        # (the throttle raises DependencyUnavailable itself once bookings/api has it)
        logger.warning("offer-set throttle: Redis is unreachable", exc_info=True)
        raise DomainError(
            "The rate limiter (Redis) is unavailable; please try again shortly.",
            status=503,
            code="dependency-unavailable",
            extra={"retry_after": DEPENDENCY_RETRY_SECONDS},
        ) from None
    if not allowed:
        wait = math.ceil(throttle.wait() or 1)
        raise DomainError(
            f"Too many offer-set requests; try again in {wait} s.",
            status=429,
            code="throttled",
            extra={"retry_after": wait},
        )


def _url_for(request: HttpRequest) -> Callable[[str, str], str]:
    base = request.build_absolute_uri(reverse("ivoa-offersets")).removesuffix("offersets")
    return lambda collection, id_: f"{base}{collection}/{id_}"


def _domain_problem(request: HttpRequest, error: DomainError, fmt: str) -> HttpResponse:
    extra = dict(error.extra)
    if "fresh_offer_set" in extra:
        extra["offerset"] = _url_for(request)("offersets", extra.pop("fresh_offer_set"))
    headers = {"WWW-Authenticate": "Token"} if error.status == 401 else {}
    # a throttle puts it in `extra` (and the body); a dependency that is down, on the error
    retry_after = extra.get("retry_after", getattr(error, "retry_after", None))
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return problem(
        status=error.status,
        code=error.code,
        title=error.title,
        fmt=fmt,
        detail="; ".join(str(e) for e in error.errors) or error.title,
        errors=[{"path": e.path, "message": e.message} for e in error.errors],
        headers=headers,
        **extra,
    )


def _api_problem(error: APIException, fmt: str) -> HttpResponse:
    """A DRF exception raised below us (a throttle's, a dependency's) in our problem shape."""
    headers = {}
    wait = getattr(error, "wait", None)
    if wait or error.status_code == 503:
        headers["Retry-After"] = str(math.ceil(wait or DEPENDENCY_RETRY_SECONDS))
    return problem(
        status=error.status_code,
        code=error.default_code.replace("_", "-"),
        title=str(error.detail),
        fmt=fmt,
        headers=headers,
    )


def ivoa_view(*methods: str):
    """Method check, content negotiation, authentication and errors, all as problems in the
    negotiated format; an unexpected error too (logged), never Django's HTML page."""

    def decorate(view):
        @csrf_exempt  # session callers are checked in _authenticate; token callers need none
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs) -> HttpResponse:
            fmt = problem_format(request)
            if request.method not in methods:
                return problem(
                    status=405,
                    code="method-not-allowed",
                    title=f"{request.method} is not allowed here.",
                    fmt=fmt,
                    headers={"Allow": ", ".join(methods)},
                )
            try:
                answer = response_format(request)
                user = _authenticate(request)
                return view(request, user=user, fmt=answer, **kwargs)
            except FormatError as error:
                return problem(
                    status=error.status,
                    code="bad-format" if error.status != 413 else "too-large",
                    title=error.title,
                    fmt=fmt,
                    detail=error.detail,
                    errors=[{"path": e.path, "message": e.message} for e in error.errors],
                )
            except DomainError as error:
                return _domain_problem(request, error, fmt)
            except APIException as error:
                return _api_problem(error, fmt)
            except Exception:
                logger.exception("IVOA %s %s failed", request.method, request.path)
                return problem(
                    status=500,
                    code="server-error",
                    title="The server failed on this request; it has been logged.",
                    fmt=fmt,
                )

        return wrapper

    return decorate


@csrf_exempt  # no state is changed; token callers must not meet the CSRF page
def not_found(request: HttpRequest, **kwargs) -> HttpResponse:
    """Every /ivoa/ path that is none of the interface's, whatever the method: a problem,
    never Django's HTML 404 (nor its CSRF page)."""
    return problem(
        status=404,
        code="not-found",
        title="No such IVOA resource.",
        fmt=problem_format(request),
        detail=f"{request.path!r} is none of /ivoa/offersets, /ivoa/offersets/{{uuid}}, "
        "/ivoa/sessions/{uuid} and /ivoa/direct.",
    )


def _parse_request(request: HttpRequest, *, user, max_offers: int) -> tuple[dict, dict]:
    _throttle(request, user)
    return translate.offerset_request_parse(
        parse_body(request), datasets=selectors.dataset_slugs(), max_offers=max_offers
    )


def _create(user, data: dict, paths: dict):
    try:
        return offer_set_create(owner=user, data=data)
    except DomainError as error:
        error.errors = translate.ivoa_errors(error.errors, paths)
        raise


def _offerset_body(request: HttpRequest, offer_set) -> dict:
    source, leases = selectors.offer_set_source(offer_set)
    return translate.offerset_render(source, leases, url=_url_for(request))


def _session_body(request: HttpRequest, lease_id) -> dict:
    lease = selectors.leases_with_parts().get(id=lease_id)
    return translate.session_render(selectors.lease_source(lease), url=_url_for(request))


@ivoa_view("POST")
def offerset_create(request: HttpRequest, *, user, fmt: str) -> HttpResponse:
    data, paths = _parse_request(request, user=user, max_offers=4)
    offer_set = _create(user, data, paths)
    body = _offerset_body(request, offer_set)
    return render(body, fmt=fmt, status=303, headers={"Location": body["meta"]["url"]})


@ivoa_view("GET")
def offerset_detail(request: HttpRequest, *, user, fmt: str, uuid: str) -> HttpResponse:
    offer_set = offer_set_for_user(offer_set_id=uuid, user=user)
    return render(_offerset_body(request, offer_set), fmt=fmt)


@ivoa_view("GET", "POST")
def session_detail(request: HttpRequest, *, user, fmt: str, uuid: str) -> HttpResponse:
    lease = lease_for_user(lease_id=uuid, user=user)
    if request.method == "POST":
        UPDATES[translate.update_parse(parse_body(request))](lease_id=lease.id, user=user)
    return render(_session_body(request, lease.id), fmt=fmt)


@ivoa_view("POST")
def direct(request: HttpRequest, *, user, fmt: str) -> HttpResponse:
    """The best single offer, accepted at once: 303 to the session; 409 when nothing fits."""
    data, paths = _parse_request(request, user=user, max_offers=1)
    offer_set = _create(user, data, paths)
    if offer_set.result == OfferSetResult.NO:
        body = _offerset_body(request, offer_set)
        return problem(
            status=409,
            code="nothing-fits",
            title="Nothing fits this request in its window.",
            fmt=fmt,
            detail="; ".join(m["message"] for m in body["meta"].get("messages", [])),
            messages=body["meta"].get("messages", []),
            offerset=body["meta"]["url"],
        )
    lease = offer_set.leases.order_by("rank").first()
    lease_accept(lease_id=lease.id, user=user)
    body = _session_body(request, lease.id)
    return render(body, fmt=fmt, status=303, headers={"Location": body["meta"]["url"]})
