"""A priced site: pool edi-a (64 cores, 256 GiB) at 1 SU per core-hour, and project gaia whose
default member is `user`, with an allocation of 100 SU everywhere."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from projects.models import Membership, Project, Rate, SUAllocation
from resources.models import Pool, Site


@pytest.fixture
def priced(db):
    site = Site.objects.create(slug="edi", name="Edinburgh", timezone="Europe/London")
    pool = Pool.objects.create(
        slug="edi-a", site=site, kind="compute", cores=64, memory_gib=256, adapter="simulated"
    )
    Rate.objects.create(pool=pool, cores=Decimal(1))
    return pool


@pytest.fixture
def project(priced, user):
    project = Project.objects.create(slug="gaia", name="Gaia DMP")
    Membership.objects.create(project=project, user=user, role="pi", default=True)
    now = timezone.now()
    SUAllocation.objects.create(
        project=project,
        su=Decimal(100),
        valid_from=now - timedelta(days=1),
        valid_to=now + timedelta(days=60),
    )
    return project
