"""Capacity writes through the guard (resources.domain.capacity): impact first, then moves
within consent, displacements with fresh offers, degraded started leases, withdrawn holds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.choices import ActorKind, Phase
from bookings.domain.errors import DomainError
from bookings.domain.isotime import iso
from bookings.domain.leases import lease_accept, lease_transition
from bookings.domain.lifecycle import leases_tick
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.planning.capacity import pools_over_capacity
from bookings.models import Lease
from notices.choices import Kind
from notices.models import Notice
from resources.domain.capacity import (
    ADD,
    CHANGE,
    POOL,
    REMOVE,
    capacity_edit,
    capacity_impact,
)
from resources.domain.capacity import capacity_apply as apply_edit
from resources.models import CapacityChange, Pool
from resources.tasks import capacity_on_worker, capacity_run
from tests.resources.capacity_support import HOUR, book, hour

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def maintenance(pool, *, at: float, hours: float, cores: int = 0, reason="maintenance"):
    return capacity_edit(
        action=ADD,
        pool=pool,
        data={
            "start": iso(hour(at)),
            "end": iso(hour(at + hours)),
            "capacity": {"cores": cores},
            "reason": reason,
        },
    )


@pytest.fixture
def capacity_apply(django_capture_on_commit_callbacks):
    """The service, with what it does after the commit (fresh offers) run as on a commit."""

    def apply(edit, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return apply_edit(edit, **kwargs)

    return apply


def fresh(lease) -> Lease:
    return Lease.objects.get(id=lease.id)


def test_a_maintenance_window_moves_within_consent_and_displaces_the_rest(
    pools, owner, settings, capacity_apply
):
    """Both pools full from 3 h to 5 h; maintenance on each pool in turn, over its lease."""
    flexible = book(owner, at=3, hours=2, cores=8, flex={"after": "PT24H"}, name="flexible")
    rigid = book(owner, at=3, hours=2, cores=8, name="rigid")
    assert {fresh(x).allocations.get().pool.slug for x in (flexible, rigid)} == {"edi-a", "edi-b"}
    # the flexible one's pool first: it moves (the other pool is full then too)
    pool = flexible.allocations.get().pool
    edit = maintenance(pool, at=3, hours=2)
    preview = capacity_impact(edit)
    assert [(row.lease.id, row.verdict) for row in preview.rows] == [(flexible.id, "moved")]
    assert CapacityChange.objects.count() == 0  # the preview wrote nothing
    impact = capacity_apply(edit, proposal=preview.proposal())
    assert impact.applied and not impact.replanned
    assert CapacityChange.objects.get().reason == "maintenance"
    assert pools_over_capacity() == []
    lease = fresh(flexible)
    assert (lease.start, lease.end) == (hour(5), hour(7))  # right after the window
    assert lease.version == flexible.version + 1
    notice = Notice.objects.get(lease=lease, kind=Kind.LEASE_MOVED)
    assert notice.data["old_start"] == iso(hour(3)) and notice.data["start"] == iso(hour(5))
    assert f"moved (maintenance on {pool.slug})" in lease.events.last().message
    # then the rigid one's pool: it has no consent and no free equivalent pool
    other = rigid.allocations.get().pool
    preview = capacity_impact(maintenance(other, at=3, hours=2))
    assert [(row.lease.id, row.verdict) for row in preview.rows] == [(rigid.id, "displaced")]
    capacity_apply(maintenance(other, at=3, hours=2), proposal=preview.proposal())
    lease = fresh(rigid)
    assert lease.displaced and lease.allocations.count() == 0
    assert pools_over_capacity() == []


def test_displaced_lease_gets_fresh_offers_until_its_deadline_then_is_cancelled(
    pools, owner, capacity_apply
):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    rigid = book(owner, at=30, hours=2, cores=4, name="rigid")
    impact = capacity_apply(maintenance(a, at=29, hours=4))
    assert [r.verdict for r in impact.rows] == ["displaced"]
    lease = fresh(rigid)
    # the earlier of 24 h from now and its preparation start (30 h ahead)
    expected = timezone.now() + timedelta(hours=24)
    assert lease.displaced and abs(lease.displaced_deadline - expected) < timedelta(minutes=1)
    assert lease.displaced_allocations[0]["pool"] == "edi-a"
    assert lease.allocations.count() == 0
    notice = Notice.objects.get(lease=lease, kind=Kind.LEASE_DISPLACED)
    offers = lease.displaced_offer_set.leases.filter(phase=Phase.OFFERED)
    assert [o["id"] for o in notice.data["offers"]] == [str(o.id) for o in offers]
    assert offers and all(o.expires == lease.displaced_deadline for o in offers)
    assert notice.data["why"] == "maintenance on edi-a: 4 cores short within its consent"
    # the deadline passes: the tick cancels it, the notice says so
    Lease.objects.filter(id=lease.id).update(
        displaced_deadline=timezone.now() - timedelta(seconds=1),
        next_action_at=timezone.now() - timedelta(seconds=1),
    )
    leases_tick()
    lease = fresh(rigid)
    assert lease.phase == Phase.CANCELLED
    assert "no fresh offer was accepted by its deadline" in lease.events.last().message


def test_accepting_a_fresh_offer_replaces_the_displaced_lease(pools, owner, capacity_apply):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    rigid = book(owner, at=30, hours=2, cores=4, name="rigid")
    capacity_apply(maintenance(a, at=29, hours=4))
    offer = fresh(rigid).displaced_offer_set.leases.first()
    assert offer.start >= hour(33)
    lease_accept(lease_id=offer.id, user=owner)
    old = fresh(rigid)
    assert old.phase == Phase.CANCELLED
    assert f"replaced by lease {offer.id}" in old.events.last().message
    assert fresh(offer).phase == Phase.ACCEPTED


def test_a_pool_change_is_a_move_when_an_equivalent_pool_has_room(pools, owner, capacity_apply):
    _a, _b = pools
    lease = book(owner, at=10, hours=1, cores=4, name="small")
    pool = lease.allocations.get().pool
    impact = capacity_apply(maintenance(pool, at=9, hours=4))
    (row,) = impact.rows
    other = "edi-b" if pool.slug == "edi-a" else "edi-a"
    assert (row.verdict, row.pools) == ("moved", [(pool.slug, other)])
    moved = fresh(lease)
    assert moved.start == lease.start and moved.allocations.get().pool.slug == other
    assert Notice.objects.get(lease=lease, kind=Kind.LEASE_MOVED).data["pools"] == [
        {"from": pool.slug, "to": other}
    ]


def test_flex_pools_narrows_the_pools_a_lease_may_move_to(pools, owner, capacity_apply):
    _a, _b = pools
    lease = book(owner, at=10, hours=1, cores=4, flex={"pools": []}, name="stay")
    pool = lease.allocations.get().pool
    impact = capacity_apply(maintenance(pool, at=9, hours=4))
    assert [r.verdict for r in impact.rows] == ["displaced"]


def test_a_started_lease_hit_by_a_drop_is_degraded_told_and_kept(pools, owner, capacity_apply):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=1, hours=3, cores=6, name="running")
    lease = fresh(lease)
    for phase in (Phase.PREPARING, Phase.AVAILABLE):
        lease_transition(lease=lease, to=phase, actor_kind=ActorKind.WORKER, message=phase)
    Lease.objects.filter(id=lease.id).update(preparation_start=timezone.now() - HOUR)
    impact = capacity_apply(maintenance(a, at=2, hours=1, cores=4, reason="a host failed"))
    assert [(r.verdict, r.missing) for r in impact.rows] == [("degraded", "over by 2 cores")]
    kept = fresh(lease)
    assert kept.degraded and kept.phase == Phase.AVAILABLE and kept.allocations.count() == 1
    assert Notice.objects.filter(lease=lease, kind=Kind.LEASE_DEGRADED).count() == 1


def test_a_hold_that_no_longer_fits_is_withdrawn(pools, owner, capacity_apply):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    data = {
        "components": [{"name": "c", "kind": "compute", "amounts": {"cores": 2}}],
        "duration": "PT1H",
        "start": iso(hour(20)),
        "max_offers": 1,
    }
    hold = offer_set_create(owner=owner, data=data).leases.get()
    impact = capacity_apply(maintenance(a, at=19, hours=3))
    assert [(r.lease.id, r.verdict) for r in impact.rows] == [(hold.id, "withdrawn")]
    assert fresh(hold).phase == Phase.REJECTED


def test_a_stale_proposal_is_planned_again_never_forced(pools, owner, capacity_apply):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=4, flex={"after": "PT6H"}, name="moving")
    edit = maintenance(a, at=9, hours=2)
    preview = capacity_impact(edit)
    assert preview.proposal() == [{"id": str(lease.id), "shift": 3600, "pools": ["edi-a"]}]
    book(owner, at=11, hours=1, cores=8, name="took the slot")  # the calendar moves on
    impact = capacity_apply(edit, proposal=preview.proposal())
    assert impact.replanned and "changed since the preview" in impact.messages[0]
    assert pools_over_capacity() == []
    assert fresh(lease).start == hour(12)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (
            {
                "start": "2030-01-02T00:00:00Z",
                "end": "2030-01-01T00:00:00Z",
                "capacity": {"cores": 0},
            },
            "end",
        ),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"size_gib": 0}}, "capacity.size_gib"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": -1}}, "capacity.cores"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": "1"}}, "capacity.cores"),
        ({"start": "tomorrow", "capacity": {"cores": 1}}, "start"),
        ({"capacity": {"cores": 1}}, "start"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {}}, "capacity"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": None}}, "capacity"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": 1}, "colour": 1}, "colour"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": 1}, "reason": 5}, "reason"),
    ],
)
def test_a_bad_capacity_change_names_the_field_and_writes_nothing(pools, data, path):
    with pytest.raises(DomainError) as refused:
        capacity_edit(action=ADD, pool=pools[0], data=data)
    assert path in [e.path for e in refused.value.errors]
    assert CapacityChange.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"capacity": {"cores": -4}}, "capacity.cores"),
        ({"capacity": {"readers": 4}}, "capacity.readers"),
        ({"enabled": "no"}, "enabled"),
        ({"kind": "storage"}, "kind"),
    ],
)
def test_a_bad_pool_edit_names_the_field(pools, data, path):
    with pytest.raises(DomainError) as refused:
        capacity_edit(action=POOL, pool=pools[0], data=data)
    assert path in [e.path for e in refused.value.errors]


def test_lowering_base_capacity_and_disabling_go_through_the_guard(pools, owner, capacity_apply):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=6, name="big")
    impact = capacity_apply(
        capacity_edit(action=POOL, pool=a, data={"capacity": {"cores": 4, "memory_gib": 32}})
    )
    assert [r.verdict for r in impact.rows] == ["displaced"]
    assert Pool.objects.get(id=a.id).cores == 4
    assert fresh(lease).displaced


def test_changing_and_removing_a_change(pools, owner, capacity_apply):
    a, b = pools
    capacity_apply(maintenance(a, at=50, hours=1))
    change = CapacityChange.objects.get()
    capacity_apply(capacity_edit(action=CHANGE, pool=a, change=change, data={"end": iso(hour(53))}))
    assert CapacityChange.objects.get().end == hour(53)
    capacity_apply(capacity_edit(action=REMOVE, pool=a, change=change, data={}))
    assert CapacityChange.objects.count() == 0
    with pytest.raises(DomainError) as refused:
        capacity_edit(action=REMOVE, pool=b, change=change, data={})
    assert refused.value.status == 404


def test_the_worker_path_answers_503_when_no_worker_answers(pools, settings):
    settings.REPLAN_IN_PROCESS = False
    settings.REPLAN_WAIT_SECONDS = 1
    with pytest.raises(DomainError) as refused:
        capacity_on_worker(maintenance(pools[0], at=50, hours=1), apply=True, actor=None)
    assert refused.value.status == 503 and refused.value.retry_after > 0
    assert CapacityChange.objects.count() == 0


def test_capacity_run_json_has_the_plan(pools, owner):
    a, _b = pools
    book(owner, at=10, hours=1, cores=8, flex={"after": "PT4H"})
    book(owner, at=10, hours=1, cores=8, flex={"after": "PT4H"})
    result = capacity_run(maintenance(a, at=9, hours=3), apply=False, actor=None)
    assert result["counts"]["moved"] == 1 and result["plan"]["stages"] is not None
    (row,) = result["leases"]
    # an hour later on the other pool (60 steps, one pool change) beats two hours later on
    # its own (120 steps): least shift comes before fewest pool changes
    assert (row["verdict"], row["new_start"]) == ("moved", iso(hour(11)))
    assert row["pools"] == [{"from": "edi-a", "to": "edi-b"}]
    assert result["plan"]["proposal"][0]["shift"] == 3600
