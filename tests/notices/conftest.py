import pytest
from django.contrib.auth import get_user_model

from resources.models import Pool, Site
from tests.notices.support import Receiver


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def astro(db):
    return get_user_model().objects.create_user(
        "astro", email="astro@example.org", password="astro-pass"
    )


@pytest.fixture
def pool(db):
    site = Site.objects.create(slug="edi", name="Edinburgh", timezone="UTC")
    return Pool.objects.create(
        slug="edi-a", site=site, kind="compute", cores=8, memory_gib=16, adapter="simulated"
    )
