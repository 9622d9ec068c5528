"""Every answer under /api/ that is an error is problem+json, also those Django makes itself
before or after DRF: a CSRF refusal, a 400 for a bad Host or an oversized body, a 500 from a
middleware, the debug pages. DRF's views and the catch-all 404 already answer problems; this
rewrites whatever else would have been HTML."""

from django.http import JsonResponse

from bookings.api.exceptions import PROBLEM_CONTENT_TYPE, status_problem

API_PREFIX = "/api/"
# Headers of the original answer that still mean something on the problem.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary")


class ApiProblemMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        ):
            return response
        problem = JsonResponse(
            status_problem(response.status_code, path=request.path),
            status=response.status_code,
            content_type=PROBLEM_CONTENT_TYPE,
        )
        for header in KEPT_HEADERS:
            if header in response:
                problem[header] = response[header]
        return problem
