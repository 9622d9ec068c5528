"""The interfaces of capacity writes: admin (impact first, then confirm), the staff API
(dry_run, problem+json), `load_capacity --dry-run`, the lease admin's actions, /healthz."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from bookings.choices import Phase
from bookings.domain.isotime import iso
from bookings.models import Lease
from notices.choices import Kind
from notices.models import Notice
from resources.domain.capacity import capacity_apply, capacity_edit
from resources.models import CapacityChange, Pool
from tests.resources.capacity_support import book, hour

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def in_process(settings):
    settings.REPLAN_IN_PROCESS = True  # the planner's task runs here instead of on a worker


def admin_form(pool, *, at: float, hours: float, cores: int = 0, memory: str = "") -> dict:
    start, end = hour(at), hour(at + hours)
    return {
        "pool": pool.id,
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": start.strftime("%H:%M:%S"),
        "end_0": end.strftime("%Y-%m-%d"),
        "end_1": end.strftime("%H:%M:%S"),
        "cores": cores,
        "memory_gib": memory,
        "gpus": "",
        "size_gib": "",
        "readers": "",
        "reason": "kernel upgrade",
    }


def test_admin_shows_the_impact_then_applies_it_on_confirm(
    client, staff, pools, owner, django_capture_on_commit_callbacks, settings
):
    settings.TIME_ZONE = "UTC"
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    moving = book(owner, at=10, hours=1, cores=4, flex={"after": "PT6H"}, name="moving")
    stuck = book(owner, at=10, hours=1, cores=4, name="stuck")
    client.force_login(staff)
    url = reverse("admin:resources_capacitychange_add")
    form = admin_form(a, at=9, hours=2)
    preview = client.post(url, form)
    assert preview.status_code == 200
    assert preview.templates[0].name == "admin/resources/capacity_impact.html"
    html = preview.content.decode()
    assert "moving" in html and "stuck" in html and "displaced" in html and "4 cores" in html
    assert CapacityChange.objects.count() == 0  # nothing written by the preview
    proposal = preview.context["proposal"]
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            url, {**form, "_confirm_impact": "1", "_proposal": proposal}, follow=True
        )
    texts = [str(m) for m in done.context["messages"]]
    assert any("applied (1 moved, 1 displaced)" in t for t in texts), texts
    assert CapacityChange.objects.get().reason == "kernel upgrade"
    assert Lease.objects.get(id=moving.id).start == hour(11)
    assert Lease.objects.get(id=stuck.id).displaced
    assert Notice.objects.filter(kind=Kind.LEASE_DISPLACED, lease=stuck).exists()


def test_admin_refuses_a_bad_change_inline_and_writes_nothing(client, staff, pools):
    client.force_login(staff)
    form = admin_form(pools[0], at=9, hours=2)
    form["end_0"], form["end_1"] = form["start_0"], form["start_1"]
    page = client.post(reverse("admin:resources_capacitychange_add"), form)
    assert page.status_code == 200
    assert "end: must be after the start" in page.content.decode()
    assert CapacityChange.objects.count() == 0


def test_admin_pool_capacity_goes_through_the_service(client, staff, pools, owner):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=6, name="big")
    client.force_login(staff)
    url = reverse("admin:resources_pool_change", args=[a.id])
    data = {
        "slug": a.slug,
        "site": a.site_id,
        "enabled": "on",
        "description": "renamed",
        "cores": 4,
        "memory_gib": 32,
        "gpus": 0,
        "size_gib": 0,
        "readers": 0,
        "adapter": "simulated",
        "adapter_settings": "{}",
        "capacity_changes-TOTAL_FORMS": 0,
        "capacity_changes-INITIAL_FORMS": 0,
    }
    preview = client.post(url, data)
    assert preview.templates[0].name == "admin/resources/capacity_impact.html"
    assert Pool.objects.get(id=a.id).cores == 8
    client.post(url, {**data, "_confirm_impact": "1", "_proposal": preview.context["proposal"]})
    pool = Pool.objects.get(id=a.id)
    assert (pool.cores, pool.description) == (4, "renamed")
    assert Lease.objects.get(id=lease.id).displaced
    assert client.get(reverse("admin:resources_pool_delete", args=[a.id])).status_code == 403


def test_admin_removes_a_change_through_the_service(client, staff, pools):
    change = CapacityChange.objects.create(pool=pools[0], start=hour(5), cores=0)
    client.force_login(staff)
    url = reverse("admin:resources_capacitychange_delete", args=[change.id])
    client.post(url, {"post": "yes"})
    assert CapacityChange.objects.count() == 0


def test_api_dry_run_then_apply_the_proposal(client, staff, pools, owner):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=4, flex={"after": "PT6H"})
    client.force_login(staff)
    url = f"/api/v1/pools/{a.slug}/capacity-changes/"
    body = {"start": iso(hour(9)), "end": iso(hour(11)), "capacity": {"cores": 0}}
    preview = client.post(url, {**body, "dry_run": True}, content_type="application/json")
    assert preview.status_code == 200, preview.content
    data = preview.json()
    assert (data["applied"], data["counts"]["moved"]) == (False, 1)
    assert data["leases"][0]["new_start"] == iso(hour(11))
    assert CapacityChange.objects.count() == 0
    applied = client.post(
        url, {**body, "proposal": data["plan"]["proposal"]}, content_type="application/json"
    )
    assert applied.status_code == 201 and applied.json()["applied"] is True
    assert Lease.objects.get(id=lease.id).start == hour(11)
    change = applied.json()["change"]
    removed = client.delete(f"/api/v1/capacity-changes/{change}")
    assert removed.status_code == 200 and CapacityChange.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {
                "start": "2030-01-02T00:00:00Z",
                "end": "2030-01-01T00:00:00Z",
                "capacity": {"cores": 0},
            },
            "end",
        ),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"readers": 0}}, "capacity.readers"),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": -2}}, "capacity.cores"),
        (
            {"start": "2030-01-01T00:00:00Z", "capacity": {"cores": 0}, "dry_run": "maybe"},
            "dry_run",
        ),
        ({"start": "2030-01-01T00:00:00Z", "capacity": {"cores": 0}, "proposal": 3}, "proposal"),
        ([1, 2], ""),
    ],
)
def test_api_refuses_bad_input_as_problem_json(client, staff, pools, body, path):
    client.force_login(staff)
    response = client.post(
        f"/api/v1/pools/{pools[0].slug}/capacity-changes/",
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert path in [e["path"] for e in response.json()["errors"]]
    assert CapacityChange.objects.count() == 0


def test_api_capacity_endpoints_are_for_staff_only(client, owner, pools):
    client.force_login(owner)
    response = client.post(
        f"/api/v1/pools/{pools[0].slug}/capacity-changes/",
        {"start": iso(hour(9)), "capacity": {"cores": 0}},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert (
        client.patch(
            f"/api/v1/pools/{pools[0].slug}/capacity", {}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/pools/nope/capacity-changes/", {}, content_type="application/json"
        ).status_code
        == 403
    )


@pytest.mark.parametrize("id", ["0", "4242", "99999999999999999999"])
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_api_unknown_capacity_change_is_a_404_problem(client, staff, pools, id, method):
    client.force_login(staff)
    response = getattr(client, method)(
        f"/api/v1/capacity-changes/{id}", {"reason": "x"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")


def test_api_pool_capacity_and_unknown_pool(client, staff, pools):
    client.force_login(staff)
    response = client.patch(
        f"/api/v1/pools/{pools[0].slug}/capacity",
        {"capacity": {"cores": 4}, "dry_run": True},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["applied"] is False
    assert Pool.objects.get(id=pools[0].id).cores == 8
    missing = client.patch("/api/v1/pools/nope/capacity", {}, content_type="application/json")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")


def test_load_capacity_dry_run_shows_the_impact_and_writes_nothing(tmp_path, pools, owner):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=4, name="stuck")
    path = tmp_path / "maintenance.json"
    path.write_text(
        json.dumps(
            {
                "sites": [],
                "pools": [],
                "capacity_changes": [
                    {
                        "pool": a.slug,
                        "start": iso(hour(9)),
                        "end": iso(hour(12)),
                        "capacity": {"cores": 0},
                        "reason": "maintenance",
                    }
                ],
            }
        )
    )
    out = io.StringIO()
    call_command("load_capacity", str(path), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "displaced" in text and str(lease.id) in text and "missing 4 cores" in text
    assert "nothing was written" in text
    assert CapacityChange.objects.count() == 0 and not Lease.objects.get(id=lease.id).displaced
    call_command("load_capacity", str(path), stdout=io.StringIO())
    assert CapacityChange.objects.count() == 1 and Lease.objects.get(id=lease.id).displaced


def test_lease_admin_actions_cancel_with_a_reason_mark_failed_and_replan(
    client, staff, pools, owner
):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    first = book(owner, at=10, hours=1, cores=2, name="first")
    second = book(owner, at=12, hours=1, cores=2, name="second")
    client.force_login(staff)
    url = reverse("admin:bookings_lease_changelist")
    client.post(
        url, {"action": "cancel", "reason": "hardware retired", "_selected_action": [str(first.id)]}
    )
    lease = Lease.objects.get(id=first.id)
    assert lease.phase == Phase.CANCELLED
    assert lease.events.last().message == "cancelled by operator: hardware retired"
    client.post(
        url, {"action": "mark_failed", "reason": "node lost", "_selected_action": [str(second.id)]}
    )
    assert Lease.objects.get(id=second.id).phase == Phase.FAILED
    # re-plan: displaced by maintenance, which is then removed: room comes back
    third = book(owner, at=20, hours=1, cores=2, name="third")
    capacity_apply(
        capacity_edit(
            action="add",
            pool=a,
            data={"start": iso(hour(19)), "end": iso(hour(22)), "capacity": {"cores": 0}},
        )
    )
    assert Lease.objects.get(id=third.id).displaced
    response = client.post(
        url, {"action": "replan", "_selected_action": [str(third.id)]}, follow=True
    )
    assert Lease.objects.get(id=third.id).displaced  # still: the window is still there
    assert any("still no room" in str(m) for m in response.context["messages"])
    change = CapacityChange.objects.get()
    capacity_apply(capacity_edit(action="remove", pool=a, change=change, data={}))
    response = client.post(
        url, {"action": "replan", "_selected_action": [str(third.id)]}, follow=True
    )
    assert "Re-planned 1 lease(s)." in [str(m) for m in response.context["messages"]]
    back = Lease.objects.get(id=third.id)
    assert not back.displaced and back.allocations.count() == 1 and back.start == hour(20)


def test_healthz_says_over_capacity_and_counts_flags(client, pools, owner):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=10, hours=1, cores=6)
    # a write beside the guard (as the old admin did): healthz must not stay "ok"
    CapacityChange.objects.create(pool=a, start=timezone.now(), end=hour(30), cores=2)
    body = client.get("/healthz").json()
    assert body["status"] in ("over-capacity", "degraded")
    assert body["capacity"]["ok"] is False
    assert body["capacity"]["over"][0]["pool"] == a.slug
    Lease.objects.filter(id=lease.id).update(degraded=True)
    assert client.get("/healthz").json()["capacity"]["degraded"] == 1


def test_the_owner_sees_a_displaced_lease_and_cannot_extend_it(client, pools, owner):
    a, b = pools
    Pool.objects.filter(id=b.id).update(enabled=False)
    lease = book(owner, at=30, hours=2, cores=4, flex={"after": "PT1H"}, name="stuck")
    client.force_login(owner)
    before = client.get(reverse("web:lease", args=[lease.id])).content.decode()
    assert "If a capacity change hits it, it may start up to 1 hour later." in before
    capacity_apply(
        capacity_edit(
            action="add",
            pool=a,
            data={"start": iso(hour(29)), "end": iso(hour(40)), "capacity": {"cores": 0}},
        )
    )
    html = client.get(reverse("web:lease", args=[lease.id])).content.decode()
    assert "This lease needs a new time." in html and "given back when it was displaced" in html
    assert "Extend or shorten" not in html
    response = client.post(
        f"/api/v1/leases/{lease.id}/extend",
        {"end": iso(hour(35))},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert Lease.objects.get(id=lease.id).end == hour(32)
