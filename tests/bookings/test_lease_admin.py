"""The lease admin shows leases and changes them only through the lease services."""

import pytest
from django.urls import reverse

from bookings.choices import Phase
from bookings.models import Lease, LeaseEvent
from tests.bookings.leasedata import lease_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_an_operator_cancels_leases_through_the_service_and_cannot_edit_them(
    client,
    staff,
    user,
    pool,
):
    accepted = lease_in(Phase.ACCEPTED, user, pool)
    done = lease_in(Phase.COMPLETED, user, pool)
    client.force_login(staff)
    change = reverse("admin:bookings_lease_change", args=[accepted.id])
    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # view only
    assert client.post(change, {"phase": Phase.COMPLETED}).status_code == 403
    assert Lease.objects.get(id=accepted.id).phase == Phase.ACCEPTED

    response = client.post(
        reverse("admin:bookings_lease_changelist"),
        {"action": "cancel", "_selected_action": [str(accepted.id), str(done.id)]},
        follow=True,
    )
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert f"{done.id}: A lease in phase COMPLETED cannot become CANCELLED." in texts
    assert "Cancelled 1 lease(s)." in texts
    assert Lease.objects.get(id=accepted.id).phase == Phase.CANCELLED
    event = LeaseEvent.objects.get(lease=accepted)
    assert (event.to_phase, event.actor_id, event.message) == (
        Phase.CANCELLED,
        staff.pk,
        "cancelled by operator: no reason given",
    )


def test_an_operator_declines_offer_sets_through_the_service(client, staff, user, pool):
    offer = lease_in(Phase.OFFERED, user, pool)
    client.force_login(staff)
    change = reverse("admin:bookings_offerset_change", args=[offer.offer_set_id])
    assert b'name="_save"' not in client.get(change).content
    response = client.post(
        reverse("admin:bookings_offerset_changelist"),
        {"action": "decline", "_selected_action": [str(offer.offer_set_id)]},
        follow=True,
    )
    assert "Declined 1 offer(s)." in [str(m) for m in response.context["messages"]]
    assert Lease.objects.get(id=offer.id).phase == Phase.REJECTED
    assert LeaseEvent.objects.get(lease=offer).message == "declined by operator"
