import pytest
from django.contrib.auth import get_user_model

from resources.models import Pool, Site


@pytest.fixture
def site(db):
    return Site.objects.create(slug="edi", name="Edinburgh", timezone="Europe/London")


@pytest.fixture
def pools(site):
    a = Pool.objects.create(slug="edi-a", site=site, kind="compute", cores=8, memory_gib=32)
    b = Pool.objects.create(slug="edi-b", site=site, kind="compute", cores=8, memory_gib=32)
    return a, b


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("astro", email="astro@example.org")
