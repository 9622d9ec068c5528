"""Limit/offset pages whose bad parameters are 400 problems naming them (DRF's own pagination
silently falls back to the default for `?limit=abc` or `-1` and sends any size to the
database, where 20 digits overflow a bigint)."""

import re

from rest_framework.pagination import LimitOffsetPagination

from bookings.api.filters import INVALID
from bookings.domain.errors import FieldErrors

# The largest page a client may ask for; the default page is REST_FRAMEWORK["PAGE_SIZE"].
MAX_PAGE_SIZE = 500
# PostgreSQL's OFFSET is a bigint.
MAX_OFFSET = 2**63 - 1 - MAX_PAGE_SIZE
_WHOLE = re.compile(r"\A[0-9]{1,19}\Z")


def _whole_param(params, name: str, *, low: int, high: int, errors: FieldErrors) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    number = int(value) if _WHOLE.match(value) else None
    if number is None or not low <= number <= high:
        errors.add(name, f"{value!r} is not a whole number from {low} to {high}")
    return number


class ProblemLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        errors = FieldErrors()
        params = request.query_params
        limit = _whole_param(
            params, self.limit_query_param, low=1, high=MAX_PAGE_SIZE, errors=errors
        )
        offset = _whole_param(
            params, self.offset_query_param, low=0, high=MAX_OFFSET, errors=errors
        )
        errors.raise_if_any(INVALID)
        self._limit = self.default_limit if limit is None else limit
        self._offset = offset or 0
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request):
        return self._limit

    def get_offset(self, request):
        return self._offset

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"].update(minimum=1, maximum=MAX_PAGE_SIZE)
        limit["description"] = f"Number of results to return per page (1 to {MAX_PAGE_SIZE})."
        offset["schema"].update(minimum=0, maximum=MAX_OFFSET)
        return [limit, offset]
