"""A NO caused by a policy limit names it on the IVOA interface too."""

from datetime import timedelta

import pytest

from projects.models import PolicyLimit
from tests.bookings.ivoa.ivoadata import example_text
from tests.bookings.ivoa.test_ivoa_limits import load

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_a_policy_limit_is_named_in_the_ivoa_messages(ivoa):
    PolicyLimit.objects.create(max_duration=timedelta(minutes=1))
    text, media = example_text("notebook.yaml")
    response = ivoa.post("/ivoa/offersets", text, content_type=media)
    assert response.status_code == 303
    body = load(ivoa.get(response["Location"]))
    assert body["result"] == "NO"
    messages = [m["message"] for m in body["meta"]["messages"]]
    assert any(m.startswith("policy: a lease lasts at most 1 minute") for m in messages), messages
