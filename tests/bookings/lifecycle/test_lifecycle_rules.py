"""Life-cycle rules of the domain, checked in-process without a worker: the lease lives in
the test's uncommitted transaction, which no worker or tick (the session's cluster may still
run for the other modules here) can see, let alone move under the check."""

import pytest

from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_accept, lease_release_early
from bookings.models import Lease
from tests.bookings.lifecycle.lifecycle_support import make_offer, soon

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_early_release_of_a_lease_that_has_not_started_is_refused(pool, user):
    lease = make_offer(user, pool, start=soon(3600), seconds=60)
    lease_accept(lease_id=lease.id, user=user)

    with pytest.raises(DomainError) as raised:
        lease_release_early(lease_id=lease.id, user=user)

    assert (raised.value.status, raised.value.code) == (409, "illegal-transition")
    assert raised.value.extra == {"phase": "ACCEPTED"}
    assert Lease.objects.get(id=lease.id).end == lease.end
