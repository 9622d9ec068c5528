"""Webhook endpoints (services under the domain's errors) and the signed POST of a delivery.

Payloads are signed to the Standard Webhooks specification with the `standardwebhooks`
package: headers `webhook-id` (the notice id: the receiver's idempotency key),
`webhook-timestamp` and `webhook-signature` (v1, HMAC-SHA256 over id.timestamp.body).
"""

import ipaddress
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from standardwebhooks import Webhook

from bookings.domain.errors import DomainError, FieldErrors
from notices.choices import CHOOSABLE_KINDS, Kind
from notices.models import Notice, WebhookEndpoint

USER_AGENT = "WhenCanIDoThis-Webhooks/1"
# What of a receiver's answer is kept in the delivery log.
KEEP_BODY = 300


class SendFailed(Exception):
    """A delivery attempt that did not get a 2xx (or an accepted mail): retried with backoff."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def webhook_url_problems(url) -> list[str]:
    """Why `url` cannot receive webhooks: not http(s), no host, credentials in it, this
    service itself, or (unless WEBHOOK_ALLOW_PRIVATE) an address that is not public."""
    if not isinstance(url, str) or not url.strip():
        return ["is required"]
    if len(url) > 2000:
        return ["is longer than 2000 characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [f"is not a URL ({exc})"]
    if parts.scheme not in ("http", "https"):
        return ["must be an http:// or https:// URL"]
    if not parts.hostname:
        return ["must name a host"]
    if parts.username or parts.password:
        return ["must not carry a user name or password (sign with the secret instead)"]
    port = port or (443 if parts.scheme == "https" else 80)
    if _is_self(parts.hostname, port):
        return ["points at this service itself"]
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return []
    return _not_public(parts.hostname, port)


def _not_public(host: str, port: int) -> list[str]:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port)}
    except (socket.gaierror, UnicodeError):
        return [f"has a host that does not resolve: {host}"]
    for address in sorted(addresses):
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            return [f"points at a private or local address ({address}); not allowed here"]
    return []


def _is_self(host: str, port: int) -> bool:
    site = urlsplit(settings.SITE_URL)
    site_port = site.port or (443 if site.scheme == "https" else 80)
    own = {(site.hostname or "").lower()} | {
        h.lower() for h in settings.ALLOWED_HOSTS if h and not h.startswith(".") and h != "*"
    }
    return host.lower() in own and port == site_port


MISSING = object()  # a field the input does not give (None is a value: refused)


def _check(errors: FieldErrors, *, url=MISSING, kinds=MISSING, description=MISSING) -> None:
    if url is not MISSING:
        for problem in webhook_url_problems(url):
            errors.add("url", problem)
    if kinds is not MISSING:
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            errors.add("kinds", "must be a list of event types")
        else:
            for i, kind in enumerate(kinds):
                if kind not in CHOOSABLE_KINDS:
                    errors.add(f"kinds[{i}]", f"is not an event type: {kind!r}")
    if description is not MISSING and (not isinstance(description, str) or len(description) > 200):
        errors.add("description", "must be text of at most 200 characters")


def webhook_endpoint_create(*, user, url, kinds=None, description="", token=None):
    kinds = [] if kinds is None else kinds
    errors = FieldErrors()
    _check(errors, url=url, kinds=kinds, description=description)
    errors.raise_if_any("This webhook endpoint cannot be saved.")
    return WebhookEndpoint.objects.create(
        user=user, token=token, url=url, kinds=kinds, description=description
    )


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    """Change url, kinds, description or enabled; enabling again starts its count afresh."""
    errors = FieldErrors()
    _check(
        errors,
        url=changes.get("url", MISSING),
        kinds=changes.get("kinds", MISSING),
        description=changes.get("description", MISSING),
    )
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        errors.add("enabled", "must be true or false")
    errors.raise_if_any("This webhook endpoint cannot be saved.")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        for name in ("url", "kinds", "description"):
            if name in changes:
                setattr(endpoint, name, changes[name])
        if changes.get("enabled") is True and not endpoint.enabled:
            endpoint.enabled, endpoint.failures, endpoint.disabled_reason = True, 0, ""
        elif changes.get("enabled") is False:
            endpoint.enabled, endpoint.disabled_reason = False, "disabled by its owner"
        endpoint.save()
    return endpoint


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> Notice:
    """Queue a `webhook.test` event for this one endpoint (through the outbox, as any)."""
    if not endpoint.enabled:
        raise DomainError(
            "This endpoint is disabled; enable it before testing it.",
            status=409,
            code="endpoint-disabled",
        )
    return Notice.objects.create(
        user=endpoint.user,
        kind=Kind.WEBHOOK_TEST,
        endpoint=endpoint,
        data={"message": "A test event, sent on request.", "endpoint": str(endpoint.id)},
    )


@dataclass(frozen=True)
class Signed:
    body: bytes
    headers: dict[str, str]


def webhook_sign(*, endpoint: WebhookEndpoint, msg_id: str, payload: dict, now: datetime):
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    signature = Webhook(endpoint.secret).sign(msg_id=msg_id, timestamp=now, data=body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    return Signed(body.encode(), headers)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead anywhere (a private address, say): it is an answer, not a hop.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_post(*, url: str, signed: Signed) -> int:
    """POST the signed payload; the status of a 2xx answer, else SendFailed."""
    request = urllib.request.Request(url, data=signed.body, headers=signed.headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        body = exc.read(KEEP_BODY).decode("utf-8", "replace")
        raise SendFailed(f"HTTP {exc.code}: {body}".strip(), status=exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"no answer: {reason}") from None
