"""Policy limits and the budget as constraints of the planning: offers keep them, a NO names
the limit (API and IVOA), with a suggestion that fits."""

from datetime import time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_accept, lease_extend
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease
from projects.models import PolicyLimit
from tests.projects.support import job

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def ask(user, **kwargs):
    return offer_set_create(owner=user, data=job(**kwargs))


def accept_one(user, **kwargs) -> Lease:
    offers = ask(user, **kwargs)
    assert offers.result == "YES", offers.messages
    lease = offers.leases.first()
    lease_accept(lease_id=lease.id, user=user)
    return lease


def kinds(offers) -> dict:
    return {m["kind"]: m["message"] for m in offers.messages}


def test_over_budget_is_a_no_naming_the_budget_with_a_suggestion_that_pays(project, user):
    offers = ask(user, cores=32, hours=9)  # about 290 SU, 100 left
    assert offers.result == "NO"
    message = kinds(offers)["budget"]
    assert "SU" in message and "100.00 left" in message
    assert any(m["path"] == "project" for m in offers.messages)
    (fit,) = [s for s in offers.suggestions if s["kind"] == "within-budget"]
    assert Decimal(fit["offer"]["cost"]["su"]) <= 100
    again = offer_set_create(owner=user, data={**fit["request"], "start": _window(fit)})
    assert again.result == "YES" and again.leases.get().cost_su <= 100


def test_a_ranged_request_is_cut_to_what_the_budget_pays(project, user):
    data = job(hours=2)
    data["components"][0]["amounts"] = {"cores": {"min": 4, "max": 64}}
    offers = offer_set_create(owner=user, data=data)
    assert offers.result == "YES"
    lease = offers.leases.get()
    assert lease.cost_su <= 100
    assert lease.allocations.get().cores == 4  # 64 cores would cost more than 100 SU


def test_a_user_with_no_project_gets_only_free_offers(priced, other_user):
    offers = ask(other_user)
    assert offers.result == "NO"
    assert "project" in {m["path"] for m in offers.messages}


def test_charging_a_project_one_is_not_a_member_of_is_403_naming_it(project, other_user):
    with pytest.raises(DomainError) as caught:
        offer_set_create(owner=other_user, data=job(project="gaia"))
    assert caught.value.status == 403
    assert caught.value.errors[0].path == "project"
    assert "gaia" in caught.value.title


def test_concurrent_lease_limit_moves_the_offer_past_the_users_live_leases(project, user):
    PolicyLimit.objects.create(max_concurrent_leases=1)
    first = accept_one(
        user, cores=1, hours=2, start_in=timedelta(hours=1), window=timedelta(minutes=1)
    )
    offers = ask(user, cores=1, hours=1, start_in=timedelta(hours=1), window=timedelta(hours=6))
    lease = offers.leases.get()
    assert lease.preparation_start >= first.end
    pinned = ask(user, cores=1, hours=1, start_in=timedelta(hours=1), window=timedelta(minutes=5))
    assert pinned.result == "NO"
    assert "at most 1 concurrent lease per user" in kinds(pinned)["policy"]


def test_booked_hours_ahead_cap_the_duration(project, user):
    PolicyLimit.objects.create(max_future_hours=5)
    accept_one(user, cores=1, hours=3)
    offers = ask(user, cores=1, hours=4)
    assert offers.result == "NO"
    assert "at most 5 booked hours ahead per user" in kinds(offers)["policy"]
    shorter = [s for s in offers.suggestions if s["kind"] == "shorter-duration"]
    assert shorter and shorter[0]["request"]["duration"]["max"] <= 2 * 3600


def test_lead_time_and_duration_of_a_site_row(project, user, priced):
    PolicyLimit.objects.create(
        site=priced.site, max_lead=timedelta(hours=2), max_duration=timedelta(hours=3)
    )
    far = ask(user, cores=1, hours=1, start_in=timedelta(hours=5))
    assert far.result == "NO" and "leases start at most 2 hours ahead" in kinds(far)["policy"]
    data = job(cores=1, hours=1)
    data["duration"] = {"min": "PT1H", "max": "PT8H"}
    ranged = offer_set_create(owner=user, data=data)
    lease = ranged.leases.get()
    assert lease.end - lease.start == timedelta(hours=3)


def test_a_project_holds_at_most_its_share_of_a_pool(project, user, priced):
    PolicyLimit.objects.create(project=project, max_pool_share=25)  # 16 of 64 cores
    accept_one(user, cores=12, hours=1)
    offers = ask(user, cores=8, hours=1, window=timedelta(minutes=1))
    assert offers.result == "NO"
    assert "project 'gaia' may hold at most 25 % of a pool at once" in kinds(offers)["policy"]
    fits = ask(user, cores=4, hours=1, window=timedelta(minutes=1))
    assert fits.result == "YES"


def test_quiet_hours_keep_leases_out_of_them(project, user, priced):
    PolicyLimit.objects.create(site=priced.site, quiet_start=time(0, 0), quiet_end=time(6, 0))
    offers = ask(user, cores=1, hours=2, start_in=timedelta(0), window=timedelta(days=2))
    lease = offers.leases.get()
    zone = ZoneInfo("Europe/London")
    for a in lease.allocations.all():
        t = a.start
        while t < a.end:
            assert not time(0, 0) <= t.astimezone(zone).time() < time(6, 0), t
            t += timedelta(minutes=5)


def test_an_extension_is_capped_by_the_policy(project, user):
    PolicyLimit.objects.create(max_extension=timedelta(hours=1))
    lease = accept_one(user, cores=1, hours=1)
    lease.refresh_from_db()
    with pytest.raises(DomainError) as caught:
        lease_extend(lease_id=lease.id, user=user, end=lease.end + timedelta(hours=2))
    assert (
        caught.value.errors[0].path == "end" and "at most 1 hour" in caught.value.errors[0].message
    )
    lease_extend(lease_id=lease.id, user=user, end=lease.end + timedelta(hours=1))


def _window(suggestion) -> str:
    start = suggestion["offer"]["start"]
    return f"{start}/{start}"
