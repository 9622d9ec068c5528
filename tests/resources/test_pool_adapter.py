"""A pool's adapter must be one the registry knows, wherever a pool is written (#6), and a
legacy row with an unknown one is never offered."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import ADAPTER_NAMES
from bookings.domain.errors import DomainError
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.planning.pools import planning_pools
from resources.models import Pool, Site

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

KNOWN = ", ".join(ADAPTER_NAMES)
UNKNOWN = st.text(min_size=1, max_size=64).filter(lambda name: name not in ADAPTER_NAMES)


@pytest.fixture
def site():
    return Site.objects.create(slug="lab", name="Lab")


def pool(site, slug="w1", adapter="simulated") -> Pool:
    return Pool(slug=slug, site=site, kind="compute", cores=8, memory_gib=16, adapter=adapter)


# The site is only read: it needs no reset between examples.
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=UNKNOWN)
def test_the_model_refuses_every_unknown_adapter_naming_the_known_ones(site, name):
    with pytest.raises(ValidationError) as info:
        pool(site, adapter=name).full_clean()
    assert info.value.message_dict["adapter"] == [
        f"{name!r} is not a known adapter (known: {KNOWN})"
    ]


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_the_model_accepts_every_registered_adapter(site, name):
    pool(site, adapter=name).full_clean()


def _admin_form(site, adapter: str) -> dict:
    return {
        "slug": "w1",
        "site": site.id,
        "kind": "compute",
        "enabled": "on",
        "description": "",
        **{"cores": 8, "memory_gib": 16, "gpus": 0, "size_gib": 0, "readers": 0},
        "adapter": adapter,
        "adapter_settings": "{}",
        "capacity_changes-TOTAL_FORMS": "0",
        "capacity_changes-INITIAL_FORMS": "0",
    }


@pytest.mark.parametrize("name", ["simulatd", "Spark", "kubernetes", ""])
def test_the_admin_refuses_an_unknown_adapter_inline_and_writes_nothing(client, staff, site, name):
    client.force_login(staff)
    response = client.post("/admin/resources/pool/add/", _admin_form(site, name))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["adapter"]
    assert errors in (
        [f"{name!r} is not a known adapter (known: {KNOWN})"],
        ["This field is required."],  # the empty name
    )
    assert not Pool.objects.exists()


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_the_admin_offers_and_saves_every_registered_adapter(client, staff, site, name):
    client.force_login(staff)
    page = client.get("/admin/resources/pool/add/").content.decode()
    response = client.post("/admin/resources/pool/add/", _admin_form(site, name))

    assert f'<option value="{name}"' in page
    assert response.status_code == 302
    assert Pool.objects.get().adapter == name


def test_a_legacy_pool_shows_its_unknown_adapter_in_the_admin_until_corrected(client, staff, site):
    legacy = pool(site)
    legacy.save()
    Pool.objects.filter(id=legacy.id).update(adapter="simulatd")
    client.force_login(staff)

    page = client.get(f"/admin/resources/pool/{legacy.id}/change/").content.decode()

    assert '<option value="simulatd" selected>simulatd (unknown' in page


def test_a_pool_with_an_unknown_adapter_is_never_planned_or_offered(site, user):
    good = pool(site, "good")
    good.save()
    legacy = pool(site, "legacy", adapter="simulated")
    legacy.cores = 64
    legacy.save()
    Pool.objects.filter(id=legacy.id).update(adapter="simulatd")  # a row from before the check

    pools, _ = planning_pools()
    with pytest.raises(DomainError) as refused:  # only the legacy pool would have room
        offer_set_create(
            owner=user,
            data={
                "components": [{"name": "c", "kind": "compute", "amounts": {"cores": 32}}],
                "duration": "PT1H",
            },
        )
    small = offer_set_create(
        owner=user,
        data={
            "components": [{"name": "c", "kind": "compute", "amounts": {"cores": 4}}],
            "duration": "PT1H",
        },
    )

    assert [p.slug for p in pools] == ["good"]
    assert [str(e) for e in refused.value.errors] == [
        "components[0].amounts.cores: 32 is more than any compute pool has (the largest has 8"
        " cores)"
    ]
    offered = {a.pool.slug for lease in small.leases.all() for a in lease.allocations.all()}
    assert small.result == "YES"
    assert offered == {"good"}
