"""What is noticed (the kinds, which are also the webhook event types), the channels and the
delivery states (issue 13, DESIGN §8a)."""

from django.db import models

from bookings.choices import Phase


class Kind(models.TextChoices):
    OFFER_SET_HELD = "offer_set.held", "offer set held"
    LEASE_ACCEPTED = "lease.accepted", "lease accepted"
    LEASE_PREPARING = "lease.preparing", "lease preparing"
    LEASE_AVAILABLE = "lease.available", "lease available"
    LEASE_ENDING_SOON = "lease.ending_soon", "lease ending soon"
    LEASE_COMPLETED = "lease.completed", "lease ended"
    LEASE_FAILED = "lease.failed", "lease failed"
    LEASE_CANCELLED = "lease.cancelled", "lease cancelled"
    LEASE_MOVED = "lease.moved", "lease moved"
    LEASE_DISPLACED = "lease.displaced", "lease displaced"
    LEASE_DEGRADED = "lease.degraded", "lease degraded"
    BUDGET_WARNING = "budget.warning", "budget warning"
    WEBHOOK_DISABLED = "webhook.disabled", "webhook endpoint disabled"
    WEBHOOK_TEST = "webhook.test", "webhook test event"


# The notice a lease's move into a phase causes (bookings.domain.lease_writes writes it).
PHASE_KINDS = {
    Phase.ACCEPTED: Kind.LEASE_ACCEPTED,
    Phase.PREPARING: Kind.LEASE_PREPARING,
    Phase.AVAILABLE: Kind.LEASE_AVAILABLE,
    Phase.COMPLETED: Kind.LEASE_COMPLETED,
    Phase.FAILED: Kind.LEASE_FAILED,
    Phase.CANCELLED: Kind.LEASE_CANCELLED,
}
# Sent only to whoever asked for them; every other kind is on by default, by e-mail too.
OPT_IN_KINDS = frozenset({Kind.OFFER_SET_HELD})
# What a user may choose for (a test event goes to one webhook endpoint, whoever asks).
CHOOSABLE_KINDS = [k for k in Kind if k != Kind.WEBHOOK_TEST]


class Channel(models.TextChoices):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Choice(models.TextChoices):
    """Where a user wants one kind of notice: the web list always has what e-mail gets."""

    OFF = "off", "not at all"
    WEB = "web", "in the web only"
    EMAIL = "email", "in the web and by e-mail"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
