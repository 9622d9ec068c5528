import pytest

from resources.models import Pool, Site


@pytest.fixture
def pool(db):
    site = Site.objects.create(slug="edi", name="Edinburgh", timezone="UTC")
    return Pool.objects.create(
        slug="edi-a", site=site, kind="compute", cores=8, memory_gib=16, adapter="simulated"
    )
