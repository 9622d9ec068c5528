"""The HTTP side of `Idempotency-Key` (see bookings.domain.idempotency for the guarantees)."""

import json

from django.db import transaction
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from bookings.api.exceptions import PROBLEM_CONTENT_TYPE
from bookings.domain.errors import DomainError
from bookings.domain.idempotency import (
    idempotency_claim,
    idempotency_complete,
    idempotency_fingerprint,
)

REPLAYED_HEADERS = ("Location", "ETag")


def idempotent(view, request, run) -> Response:
    """`run()` once per (user, Idempotency-Key); a retry with the same body gets the stored
    answer with `Idempotent-Replayed: true`. Without the header, just `run()`."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return run()
    fingerprint = idempotency_fingerprint(
        method=request.method, path=request.path, data=request.data
    )
    with transaction.atomic():
        record, claimed = idempotency_claim(user=request.user, key=key, fingerprint=fingerprint)
        if not claimed:
            response = Response(
                record.body,
                status=record.status,
                headers={**record.headers, "Idempotent-Replayed": "true"},
                content_type=PROBLEM_CONTENT_TYPE if record.status >= 400 else None,
            )
            return response
        try:
            response = run()
        except (DomainError, APIException) as error:
            # Refusals are answers too; anything else propagates and rolls the claim back.
            response = view.handle_exception(error)
        idempotency_complete(
            record=record,
            status=response.status_code,
            body=json.loads(JSONRenderer().render(response.data)),
            headers={h: response[h] for h in REPLAYED_HEADERS if h in response},
        )
        return response
