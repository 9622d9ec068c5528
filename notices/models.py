"""Notices (the outbox), their deliveries per channel, webhook endpoints and preferences.

A `Notice` is written in the same transaction (and, for lease changes, the same statement) as
the change that causes it (bookings.domain.lease_writes), so a rolled-back change notices
nothing and a committed one is never lost. It is the web channel itself (`read_at`). The
sweep (notices.domain.deliveries) routes each new notice into `Delivery` rows — one per e-mail
and per matching webhook endpoint — and sends them with retries and backoff.
"""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from notices.choices import OPT_IN_KINDS, Channel, Choice, DeliveryState, Kind


class Notice(models.Model):
    # Also the `webhook-id` of every delivery of it: the receivers' idempotency key.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    lease = models.ForeignKey(
        "bookings.Lease", on_delete=models.CASCADE, null=True, blank=True, related_name="notices"
    )
    offer_set = models.ForeignKey(
        "bookings.OfferSet", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    endpoint = models.ForeignKey(
        "notices.WebhookEndpoint",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The one endpoint a test or disabling notice is about.",
    )
    # What the notice says, as it was when it was written (times in UTC, ISO 8601).
    data = models.JSONField(default=dict, blank=True)
    # One notice per (lease, kind, key) where a key is given: "ending soon" once per end.
    key = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    routed = models.BooleanField(default=False, help_text="Its deliveries are written.")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "id"]
        indexes = [
            models.Index(fields=["user", "-created"]),
            models.Index(fields=["created"], name="notice_unrouted_idx", condition=Q(routed=False)),
            models.Index(fields=["user"], name="notice_unread_idx", condition=Q(read_at=None)),
            models.Index(fields=["lease", "created"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="notice_kind_valid"),
            models.UniqueConstraint(
                fields=["lease", "kind", "key"], condition=~Q(key=""), name="notice_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user} ({self.created:%Y-%m-%d %H:%M})"


def _secret() -> str:
    # The Standard Webhooks form: whsec_ and 24 to 64 random bytes in standard base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """Where a platform wants to hear about leases: of its user, and those it booked for
    others (OfferSet.client). Bound to a token when registered with one: deleting the token
    deletes the endpoint."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    token = models.ForeignKey(
        "bookings.ApiToken",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The Standard Webhooks signing secret (whsec_ + base64), shown to its owner.
    secret = models.CharField(max_length=100, default=_secret)
    kinds = models.JSONField(default=list, blank=True, help_text="Event types; empty: all.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    failures = models.PositiveIntegerField(
        default=0, help_text="Failed attempts in a row (reset by a success)."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.user})"

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


class Delivery(models.Model):
    """One notice through one channel: e-mail to its user, or one webhook endpoint."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True, help_text="Next try (pending only).")
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then."
    )
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["due_at"],
                name="delivery_due_idx",
                condition=Q(state=DeliveryState.PENDING),
            ),
            models.Index(fields=["endpoint", "-created"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "channel", "endpoint"],
                nulls_distinct=False,
                name="delivery_unique",
            ),
            models.CheckConstraint(
                condition=Q(channel=Channel.WEBHOOK, endpoint__isnull=False)
                | Q(channel=Channel.EMAIL, endpoint__isnull=True),
                name="delivery_endpoint_matches_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} of {self.notice_id} ({self.state})"


class Preferences(models.Model):
    """Per kind, where the user wants it (Choice); a kind not listed has its default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preferences"
    )
    choices = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"notice preferences of {self.user}"

    def choice(self, kind: str) -> str:
        return self.choices.get(kind) or default_choice(kind)


def default_choice(kind: str) -> str:
    return Choice.OFF if kind in OPT_IN_KINDS else Choice.EMAIL
