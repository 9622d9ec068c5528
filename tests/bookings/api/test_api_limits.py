"""A request's limits are bookings.domain.policy's, in every interface that describes or checks
them before the domain does: the API's schema, the web form, the IVOA translation."""

from datetime import UTC, datetime

import pytest

from bookings.api.serializers import ComponentRequestSerializer, OfferSetRequestSerializer
from bookings.domain import policy
from bookings.domain.errors import DomainError
from bookings.domain.requests import request_normalise
from bookings.ivoa import translate
from bookings.web.forms import BookingForm, ComponentForm, ComponentFormSet
from tests.bookings.api.apidata import worker_request

pytestmark = pytest.mark.unit


def bounds(field) -> dict:
    names = ("max_length", "min_value", "max_value", "min_length")
    return {name: getattr(field, name, None) for name in names if getattr(field, name, None)}


def test_the_api_schema_states_the_policy():
    request = OfferSetRequestSerializer().fields
    component = ComponentRequestSerializer().fields
    assert bounds(request["name"]) == {"max_length": policy.MAX_NAME_LENGTH}
    assert bounds(request["components"]) == {"max_length": policy.MAX_COMPONENTS, "min_length": 1}
    assert bounds(request["max_offers"]) == {"min_value": 1, "max_value": policy.MAX_OFFERS}
    assert bounds(component["name"]) == {
        "max_length": policy.MAX_COMPONENT_NAME_LENGTH,
        "min_length": 1,
    }
    assert bounds(component["replicas"]) == {"min_value": 1, "max_value": policy.MAX_REPLICAS}


def test_the_web_form_states_the_policy():
    booking, component = BookingForm.base_fields, ComponentForm().fields
    assert booking["name"].max_length == policy.MAX_NAME_LENGTH
    assert (booking["max_offers"].max_value, booking["max_offers"].initial) == (
        policy.MAX_OFFERS,
        policy.DEFAULT_OFFERS,
    )
    assert component["name"].max_length == policy.MAX_COMPONENT_NAME_LENGTH
    assert component["replicas"].max_value == policy.MAX_REPLICAS
    assert component["cores_min"].max_value == policy.MAX_AMOUNT
    assert ComponentFormSet.absolute_max == ComponentFormSet.max_num == policy.MAX_COMPONENTS
    assert translate.MAX_PARTS == policy.MAX_COMPONENTS


def component(**changes) -> dict:
    return {"name": "c", "amounts": {"cores": 1}, **changes}


LIMITS = [
    ("name", lambda n: {"name": "n" * n}, policy.MAX_NAME_LENGTH),
    ("max_offers", lambda n: {"max_offers": n}, policy.MAX_OFFERS),
    (
        "components",
        lambda n: {"components": [component(name=f"c{i}") for i in range(n)]},
        policy.MAX_COMPONENTS,
    ),
    (
        "components[0].replicas",
        lambda n: {"components": [component(replicas=n)]},
        policy.MAX_REPLICAS,
    ),
    (
        "components[0].name",
        lambda n: {"components": [component(name="c" * n)]},
        policy.MAX_COMPONENT_NAME_LENGTH,
    ),
]


@pytest.mark.parametrize(("path", "request_of", "limit"), LIMITS, ids=[p for p, *_ in LIMITS])
def test_the_domain_takes_each_limit_and_refuses_one_past_it(path, request_of, limit):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    request_normalise(data=worker_request(**request_of(limit)), now=now)
    with pytest.raises(DomainError) as raised:
        request_normalise(data=worker_request(**request_of(limit + 1)), now=now)
    assert [e.path for e in raised.value.errors] == [path]
