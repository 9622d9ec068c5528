"""The owner's holds (sql.offer_sets.HOLDS) are what the ORM finds: live offers only, split
by the shape of their request."""

import json

import pytest
from django.db import connection

from bookings.choices import Phase
from bookings.domain.sql.offer_sets import HOLDS
from bookings.models import Lease

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

NOT_SHAPE = ["start", "max_offers"]


def test_holds_are_the_orm_selection(every_phase, user):
    _, sets, now = every_phase
    sets[0].request = {"name": "a", "start": "x", "max_offers": 1}
    sets[1].request = {"name": "a", "start": "y", "max_offers": 3, "site": None}
    for offer_set in sets:
        offer_set.save()
    live = Lease.objects.filter(owner=user, phase=Phase.OFFERED, expires__gt=now)
    assert live.exists()
    for shape in ({"name": "a"}, {"name": "a", "site": None}, {"name": "b"}):
        with connection.cursor() as cursor:
            params = {
                "shape": json.dumps(shape),
                "not_shape": NOT_SHAPE,
                "owner": user.pk,
                "offered": Phase.OFFERED,
                "now": now,
            }
            cursor.execute(HOLDS, params)
            same, others, first_lapse = cursor.fetchone()

        def shaped(lease, shape=shape):
            request = lease.offer_set.request
            return {k: v for k, v in request.items() if k not in NOT_SHAPE} == shape

        twin_same = sorted(lease.id for lease in live if shaped(lease))
        twin_others = [lease for lease in live if not shaped(lease)]
        assert sorted(same or []) == twin_same
        assert others == len(twin_others)
        assert first_lapse == min((x.expires for x in twin_others), default=None)
