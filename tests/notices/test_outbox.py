"""The outbox: a notice is written with the change that causes it, in its transaction."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.isotime import iso
from bookings.domain.lease_writes import LeaseChange, leases_write
from bookings.domain.leases import lease_accept, lease_extend, lease_transition
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease
from notices.choices import Kind
from notices.domain import deliveries
from notices.domain.deliveries import notices_ending_soon
from notices.domain.preferences import preferences_set
from notices.models import Notice
from tests.bookings.lifecycle.lifecycle_support import make_offer

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def kinds(user) -> list[str]:
    return list(Notice.objects.filter(user=user).order_by("created").values_list("kind", flat=True))


def offer(user, pool, *, hours=1, seconds=3600):
    return make_offer(user, pool, start=timezone.now() + timedelta(hours=hours), seconds=seconds)


def test_accepting_writes_the_accepted_notice_with_the_leases_snapshot(astro, pool):
    lease = lease_accept(lease_id=offer(astro, pool).id, user=astro)
    notice = Notice.objects.get(user=astro)
    assert (notice.kind, notice.lease_id, notice.routed, notice.read_at) == (
        Kind.LEASE_ACCEPTED,
        lease.id,
        False,
        None,
    )
    assert notice.data == {
        "phase": "ACCEPTED",
        "from": "OFFERED",
        "start": iso(lease.start),
        "end": iso(lease.end),
        "version": lease.version,
        "message": "accepted",
    }


def test_a_rolled_back_change_leaves_no_notice(astro, pool):
    lease = offer(astro, pool)
    with pytest.raises(RuntimeError), transaction.atomic():
        lease_accept(lease_id=lease.id, user=astro)
        assert kinds(astro) == [Kind.LEASE_ACCEPTED]  # written in the transaction …
        raise RuntimeError("the request failed after the accept")
    assert kinds(astro) == []  # … and gone with it
    assert Lease.objects.get(id=lease.id).phase == Phase.OFFERED


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        (
            [Phase.PREPARING, Phase.AVAILABLE, Phase.RELEASING, Phase.COMPLETED],
            ["lease.preparing", "lease.available", "lease.completed"],
        ),
        ([Phase.WAITING, Phase.CANCELLED], ["lease.cancelled"]),
        ([Phase.PREPARING, Phase.FAILED], ["lease.preparing", "lease.failed"]),
    ],
    ids=["completed", "cancelled", "failed"],
)
def test_every_phase_move_that_matters_to_the_owner_is_noticed_once(astro, pool, moves, expected):
    lease = lease_accept(lease_id=offer(astro, pool).id, user=astro)
    for to in moves:
        lease_transition(lease=lease, to=to, actor_kind=ActorKind.WORKER, message=f"to {to}")
    assert kinds(astro) == ["lease.accepted", *expected]
    failed = Notice.objects.filter(kind=Kind.LEASE_FAILED).first()
    if failed:
        assert failed.data["message"] == "to FAILED"  # the reason


def test_an_available_notice_carries_the_connectors(astro, pool):
    lease = lease_accept(lease_id=offer(astro, pool).id, user=astro)
    lease_transition(lease=lease, to=Phase.PREPARING, actor_kind=ActorKind.WORKER)
    connectors = [{"kind": "ssh", "url": "ssh://head.edi", "label": "Head node"}]
    lease.connectors = connectors
    lease_transition(lease=lease, to=Phase.AVAILABLE, actor_kind=ActorKind.WORKER)
    assert Notice.objects.get(kind=Kind.LEASE_AVAILABLE).data["connectors"] == connectors


def test_a_change_may_ask_for_a_notice_of_its_own_kind(astro, pool):
    lease = lease_accept(lease_id=offer(astro, pool).id, user=astro)
    data = {"old_start": iso(lease.start), "old_end": iso(lease.end), "why": "maintenance"}
    leases_write(
        [LeaseChange(lease, message="moved", notice_kind=Kind.LEASE_MOVED, notice_data=data)],
        actor_kind=ActorKind.SYSTEM,
    )
    moved = Notice.objects.get(kind=Kind.LEASE_MOVED)
    assert moved.data["why"] == "maintenance" and moved.data["version"] == lease.version


def test_offer_held_is_noticed_only_for_who_asked(astro, pool):
    ask = {"components": [{"name": "c", "amounts": {"cores": 1}}], "duration": "PT1H"}
    offer_set_create(owner=astro, data={**ask, "name": "quiet"})
    assert kinds(astro) == []
    preferences_set(user=astro, choices={Kind.OFFER_SET_HELD: "web"})
    offer_set = offer_set_create(owner=astro, data={**ask, "name": "loud"})
    notice = Notice.objects.get(user=astro)
    assert (notice.kind, notice.offer_set_id) == (Kind.OFFER_SET_HELD, offer_set.id)
    assert notice.data["expires"] == iso(offer_set.expires)
    assert [o["id"] for o in notice.data["offers"]] == [
        str(lease.id) for lease in offer_set.leases.all()
    ]


def test_ending_soon_once_per_end_and_again_after_an_extension(astro, pool, settings):
    settings.NOTICE_BEFORE_END = "PT15M"
    start = timezone.now() - timedelta(minutes=50)
    lease = make_offer(astro, pool, start=start, seconds=3600)  # ends in 10 minutes
    lease = lease_accept(lease_id=lease.id, user=astro)
    for to in (Phase.PREPARING, Phase.AVAILABLE):
        lease_transition(lease=lease, to=to, actor_kind=ActorKind.WORKER)
    now = timezone.now()
    assert notices_ending_soon(now=now) == 1
    assert notices_ending_soon(now=now) == 0
    soon = Notice.objects.get(kind=Kind.LEASE_ENDING_SOON)
    # Nothing else is booked on the pool: an extension could reach the policy's limit.
    assert soon.data["latest_end"] > soon.data["end"]
    lease_extend(lease_id=lease.id, user=astro, end=lease.end + timedelta(minutes=2))
    assert notices_ending_soon(now=now) == 1
    assert Notice.objects.filter(kind=Kind.LEASE_ENDING_SOON).count() == 2


def test_a_lease_far_from_its_end_is_not_ending_soon(astro, pool):
    lease = lease_accept(lease_id=offer(astro, pool, hours=-1, seconds=7200).id, user=astro)
    for to in (Phase.PREPARING, Phase.AVAILABLE):
        lease_transition(lease=lease, to=to, actor_kind=ActorKind.WORKER)
    assert notices_ending_soon(now=timezone.now()) == 0


def test_leases_already_told_do_not_crowd_out_the_others(astro, pool, monkeypatch):
    monkeypatch.setattr(deliveries, "BATCH", 1)
    start = timezone.now() - timedelta(minutes=50)
    for seconds in (3600, 3660):  # both end within the next 15 minutes
        lease = lease_accept(
            lease_id=make_offer(astro, pool, start=start, seconds=seconds).id, user=astro
        )
        for to in (Phase.PREPARING, Phase.AVAILABLE):
            lease_transition(lease=lease, to=to, actor_kind=ActorKind.WORKER)
    now = timezone.now()
    assert [notices_ending_soon(now=now) for _ in range(3)] == [1, 1, 0]
    assert Notice.objects.filter(kind=Kind.LEASE_ENDING_SOON).count() == 2
