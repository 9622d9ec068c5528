from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from bookings.models import ApiToken, Lease
from resources.domain.capacity_file import capacity_file_dump
from resources.models import Pool

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_seed_demo_builds_the_gaia_site_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    first = capacity_file_dump()
    call_command("seed_demo", stdout=StringIO())
    assert capacity_file_dump() == first
    head = Pool.objects.get(slug="edi-head")
    assert head.capacity() == {"cores": 54, "memory_gib": 86, "gpus": 0}
    workers = Pool.objects.filter(slug__startswith="edi-workers-")
    assert [p.capacity() for p in workers] == [{"cores": 52, "memory_gib": 86, "gpus": 0}] * 3
    assert Pool.objects.get(slug="edi-scratch").capacity() == {"size_gib": 51200}
    assert Pool.objects.get(slug="cam-gpu").capacity()["gpus"] == 8
    assert [d["slug"] for d in first["datasets"]] == ["gaia-dr3"]
    assert first["datasets"][0]["size_gib"] == 3700
    assert [c["reason"] for c in first["capacity_changes"]] == ["maintenance: firmware"]
    assert Lease.objects.count() == 3
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    assert users.get(username="astro").check_password("astro")


def test_create_api_token_prints_only_a_key_that_authenticates():
    out = StringIO()
    call_command("create_api_token", "--user", "platform", stdout=out)
    key = out.getvalue().strip()
    assert len(key) >= 40 and "\n" not in key
    token = ApiToken.find(key)
    assert token.user.username == "platform"
    assert token.key_hash != key and key not in token.key_hash
    assert ApiToken.find(key + "x") is None
