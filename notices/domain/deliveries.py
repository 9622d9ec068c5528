"""Routing and delivery of the outbox (DESIGN §8a): the sweep, every NOTICE_SWEEP_SECONDS.

1. "Ending soon" notices for leases within NOTICE_BEFORE_END of their end (once per end).
2. Routing: each new notice gets its `Delivery` rows — an e-mail if its user wants that kind by
   e-mail, one per enabled webhook endpoint of its user (or of the platform that booked the
   lease for them) that takes its kind — in one transaction with `routed`.
3. Claiming: due, unclaimed deliveries are claimed for NOTICE_CLAIM_SECONDS and handed back
   for the tasks to send, each in its own task on the notices queue.

`delivery_send` sends one and records the outcome; a failure is tried again after
base·2^(n-1) s, and is final after NOTICE_MAX_ATTEMPTS. A worker that dies while sending loses
its claim when it lapses, and the delivery is sent again with the same `webhook-id` (the
notice id), so a receiver that keeps the ids it has seen acts on each notice once. An endpoint
that fails WEBHOOK_DISABLE_AFTER attempts in a row is disabled, and its owner told.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bookings.choices import Phase
from bookings.domain import policy
from bookings.domain.isotime import iso
from bookings.domain.leases import lease_latest_end
from bookings.models import Lease
from notices.choices import Channel, Choice, DeliveryState, Kind
from notices.domain.content import notice_payload
from notices.domain.mail import notice_email
from notices.domain.outbox import lease_notice
from notices.domain.preferences import preferences_by_user
from notices.domain.webhooks import SendFailed, webhook_post, webhook_sign
from notices.models import Delivery, Notice, WebhookEndpoint

logger = logging.getLogger(__name__)
BATCH = 200
ENDING_PHASES = (Phase.AVAILABLE, Phase.RUNNING)


@dataclass(frozen=True)
class SweepResult:
    ending_soon: int
    routed: int
    claimed: list[int]


def notices_sweep(*, now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    ending = notices_ending_soon(now=now)
    routed = notices_route(now=now)
    return SweepResult(ending, routed, deliveries_claim(now=now))


def notices_ending_soon(*, now: datetime) -> int:
    """Write the "ending soon" notice of each running lease within NOTICE_BEFORE_END of its
    end that has none for that end yet (keyed by the end: an extended lease gets another)."""
    before = timedelta(seconds=policy.limit_seconds("NOTICE_BEFORE_END"))
    # The leases within the window are few (they end in the next NOTICE_BEFORE_END); those
    # already told are dropped before the batch is cut, so they never crowd the others out.
    ending = Lease.objects.filter(phase__in=ENDING_PHASES, end__gt=now, end__lte=now + before)
    seen = set(
        Notice.objects.filter(lease__in=ending, kind=Kind.LEASE_ENDING_SOON).values_list(
            "lease_id", "key"
        )
    )
    due = [
        lease
        for lease in ending.select_related("site").order_by("end")
        if (lease.id, iso(lease.end)) not in seen
    ][:BATCH]
    notices = [
        lease_notice(
            lease,
            kind=Kind.LEASE_ENDING_SOON,
            data={"latest_end": iso(lease_latest_end(lease=lease, now=now))},
            key=iso(lease.end),
        )
        for lease in due
    ]
    # Two sweeps at once: the unique (lease, kind, key) keeps one.
    Notice.objects.bulk_create(notices, ignore_conflicts=True)
    return len(notices)


def notices_route(*, now: datetime) -> int:
    with transaction.atomic():
        notices = list(
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "lease__offer_set")
            .filter(routed=False)
            .order_by("created")[:BATCH]
        )
        if not notices:
            return 0
        users = {user for n in notices for user in _endpoint_owners(n)}
        preferences = preferences_by_user(n.user_id for n in notices)
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(user_id__in=users, enabled=True):
            endpoints.setdefault(endpoint.user_id, []).append(endpoint)
        deliveries = [
            delivery
            for notice in notices
            for delivery in _deliveries_of(notice, preferences[notice.user_id], endpoints, now)
        ]
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Notice.objects.filter(id__in=[n.id for n in notices]).update(routed=True)
    return len(notices)


def _deliveries_of(notice: Notice, preferences, endpoints, now) -> list[Delivery]:
    if notice.kind == Kind.WEBHOOK_TEST:
        return [_delivery(notice, Channel.WEBHOOK, now, endpoint_id=notice.endpoint_id)]
    out = []
    if notice.user.email and preferences.choice(notice.kind) == Choice.EMAIL:
        out.append(_delivery(notice, Channel.EMAIL, now))
    for owner in _endpoint_owners(notice):
        for endpoint in endpoints.get(owner, ()):
            if endpoint.wants(notice.kind) and endpoint.id != notice.endpoint_id:
                out.append(_delivery(notice, Channel.WEBHOOK, now, endpoint_id=endpoint.id))
    return out


def _endpoint_owners(notice: Notice) -> list[int]:
    """Whose webhook endpoints hear of `notice`: its user's, and those of the platform that
    booked its lease for them (OfferSet.client)."""
    owners = [notice.user_id]
    offer_set = notice.lease.offer_set if notice.lease_id else None
    if offer_set and offer_set.client_id and offer_set.client_id != notice.user_id:
        owners.append(offer_set.client_id)
    return owners


def _delivery(notice, channel, now, endpoint_id=None) -> Delivery:
    return Delivery(
        notice=notice, channel=channel, endpoint_id=endpoint_id, due_at=now, created=now
    )


def deliveries_claim(*, now: datetime) -> list[int]:
    """Claim the due deliveries nobody is sending; their ids, for the tasks."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.PENDING, due_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .order_by("due_at")
            .values_list("id", flat=True)[:BATCH]
        )
        until = now + timedelta(seconds=settings.NOTICE_CLAIM_SECONDS)
        Delivery.objects.filter(id__in=ids).update(claimed_until=until)
    return ids


def delivery_send(*, delivery_id: int) -> str:
    """Send one claimed delivery and record what happened; its state afterwards."""
    delivery = (
        Delivery.objects.select_related(
            "notice__user", "notice__lease__site", "notice__offer_set", "endpoint"
        )
        .filter(id=delivery_id)
        .first()
    )
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return delivery.state if delivery else "gone"
    if delivery.channel == Channel.WEBHOOK and not delivery.endpoint.enabled:
        return _record(delivery_id, error="its endpoint is disabled", final=True)
    try:
        status = SENDERS[delivery.channel](delivery)
    except SendFailed as exc:
        return _record(delivery_id, error=str(exc), status=exc.status)
    return _record(delivery_id, status=status)


def _send_email(delivery: Delivery) -> int | None:
    try:
        notice_email(delivery.notice).send()
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise SendFailed(f"{type(exc).__name__}: {exc}") from None
    return None


def _send_webhook(delivery: Delivery) -> int:
    notice = delivery.notice
    now = timezone.now()
    signed = webhook_sign(
        endpoint=delivery.endpoint,
        msg_id=str(notice.id),
        payload=notice_payload(notice),
        now=now,
    )
    return webhook_post(url=delivery.endpoint.url, signed=signed)


SENDERS = {Channel.EMAIL: _send_email, Channel.WEBHOOK: _send_webhook}


def _record(delivery_id: int, *, error: str = "", status=None, final: bool = False) -> str:
    """The outcome of one attempt, under the delivery's lock (a second sender of a lapsed
    claim may have finished it meanwhile: the first outcome stays)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(id=delivery_id)
        )
        if delivery.state != DeliveryState.PENDING:
            return delivery.state
        delivery.attempts += 1
        delivery.claimed_until = None
        delivery.response_status = status
        if not error:
            delivery.state, delivery.sent_at, delivery.due_at = DeliveryState.SENT, now, None
            delivery.last_error = ""
        else:
            delivery.last_error = error[:2000]
            if final or delivery.attempts >= settings.NOTICE_MAX_ATTEMPTS:
                delivery.state, delivery.due_at = DeliveryState.FAILED, None
            else:
                delay = policy.retry_delay(
                    delivery.attempts,
                    base=settings.NOTICE_RETRY_BASE_SECONDS,
                    most=settings.NOTICE_RETRY_MAX_SECONDS,
                )
                delivery.due_at = now + timedelta(seconds=delay)
        delivery.save()
        if delivery.endpoint_id and not final:
            _endpoint_count(delivery.endpoint, ok=not error, error=error)
    if error:
        logger.warning("delivery %s (%s) failed: %s", delivery_id, delivery.channel, error)
    return delivery.state


def _endpoint_count(endpoint: WebhookEndpoint, *, ok: bool, error: str) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.failures = 0 if ok else endpoint.failures + 1
    fields = ["failures"]
    if not ok and endpoint.enabled and endpoint.failures >= settings.WEBHOOK_DISABLE_AFTER:
        endpoint.enabled = False
        endpoint.disabled_reason = f"{endpoint.failures} failed attempts in a row; last: {error}"
        fields += ["enabled", "disabled_reason"]
        Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).update(
            state=DeliveryState.FAILED, due_at=None, last_error="its endpoint was disabled"
        )
        Notice.objects.create(
            user_id=endpoint.user_id,
            kind=Kind.WEBHOOK_DISABLED,
            endpoint=endpoint,
            data={"url": endpoint.url, "failures": endpoint.failures, "last_error": error},
        )
    endpoint.save(update_fields=fields)
