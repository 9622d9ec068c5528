"""`Idempotency-Key` on POSTs: a retried request gets the first answer and books nothing twice.

The key is claimed by inserting its unique (user, key) row *before* the work, in the same
transaction as the work and the stored answer. A concurrent duplicate blocks on that row's
unique index until the first commits, then finds the answer and replays it; if the first
rolls back (a crash, a server error), nothing of it remains and the retry runs afresh.
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.domain.errors import DomainError, FieldError
from bookings.models import IdempotencyKey

# After this a key may be reused for a new request (clients retry within minutes, not days).
KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def idempotency_fingerprint(*, method: str, path: str, data) -> str:
    canonical = json.dumps([method, path, data], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _usable(key: str) -> bool:
    return bool(key) and len(key) <= MAX_KEY_LENGTH and key.isprintable()


def idempotency_key_recorded(*, user, key: str) -> bool:
    """Whether a live (not yet reusable) record of this key exists: a request with it replays
    that answer, waits for it, or is refused as a reuse, but never runs afresh."""
    if not _usable(key):
        return False
    return IdempotencyKey.objects.filter(
        user=user, key=key, created__gte=timezone.now() - KEY_LIFETIME
    ).exists()


def idempotency_claim(*, user, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """(record, True) when the key is ours to run now; (earlier record, False) to replay it.

    Call inside the transaction that does the work. Reusing a key for another request is a
    422 problem.
    """
    if not _usable(key):
        raise DomainError(
            "The Idempotency-Key header is not valid.",
            errors=[
                FieldError(
                    "Idempotency-Key",
                    f"must be 1 to {MAX_KEY_LENGTH} printable characters (a UUID is best)",
                )
            ],
        )
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint), True
    except IntegrityError:
        pass
    earlier = IdempotencyKey.objects.select_for_update().get(user=user, key=key)
    if earlier.created < timezone.now() - KEY_LIFETIME:
        earlier.fingerprint = fingerprint
        earlier.status = None
        earlier.body = None
        earlier.headers = {}
        earlier.created = timezone.now()
        earlier.save()
        return earlier, True
    if earlier.fingerprint != fingerprint:
        raise DomainError(
            "This Idempotency-Key was used for a different request.",
            status=422,
            code="idempotency-key-reused",
            errors=[
                FieldError("Idempotency-Key", "already used with another method, path or body")
            ],
        )
    return earlier, False


def idempotency_complete(*, record: IdempotencyKey, status: int, body, headers: dict) -> None:
    record.status = status
    record.body = body
    record.headers = headers
    record.save(update_fields=["status", "body", "headers"])
