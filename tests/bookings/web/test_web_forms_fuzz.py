"""Any input to the web forms (/book/, the quick box, extend, profile) gives a page with field
errors or a result, never a server error, and what was typed comes back as typed."""

import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.domain.leases import lease_accept
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Profile

pytestmark = [pytest.mark.integration]

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What people (and robots) type into number and date boxes: fine values, the ones seen to
# break the pages (480 h, 87600 h, 20 digits), and the odd ones.
NASTY = ["9" * 20, str(2**63), "9" * 5000, "1e20", "4.8E+2", "87600", "-1", "0", "NaN", "x", ""]
numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.integers(min_value=10**15, max_value=10**25).map(str),
    st.sampled_from(["480", "1440", "8760", "87600", "0.017", "4.8E+2", "1e20", "1e-30"]),
    st.sampled_from(["9" * 20, "9" * 5000, "-0", "NaN", "Infinity", "sNaN", " 8 ", "", "٣"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.text(max_size=12),
)
instants = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.sampled_from(["9999-12-31T23:59", "0001-01-01T00:00", "2026-02-30T10:00", "", "now"]),
    st.text(max_size=20),
)
BOOKING_FIELDS = {
    "components-0-cores_min": numbers,
    "components-0-cores_max": numbers,
    "components-0-memory_gib_min": numbers,
    "components-0-replicas": numbers,
    "duration_hours": numbers,
    "duration_max_hours": numbers,
    "max_offers": numbers,
    "earliest": instants,
    "latest": instants,
    "name": st.text(max_size=40),
}


def booking_post(**fields) -> dict:
    data = {
        "components-TOTAL_FORMS": "1",
        "components-INITIAL_FORMS": "0",
        "components-MIN_NUM_FORMS": "0",
        "components-MAX_NUM_FORMS": "32",
        "components-0-name": "main",
        "components-0-kind": "compute",
        "components-0-replicas": "1",
        "components-0-cores_min": "2",
        "duration_hours": "1",
        "max_offers": "2",
    }
    data.update(fields)
    return data


def _clean(value: str) -> str:
    # What a browser would post: no NUL (Django refuses it in any field, as a field error).
    return value.replace("\x00", "")


def assert_answered(client, response, typed: dict) -> None:
    """A redirect to a page that renders, or the form again with its errors and the input."""
    assert response.status_code in {302, 400}, response.status_code
    if response.status_code == 302:
        assert client.get(response["Location"]).status_code == 200
        return
    page = response.content.decode()
    assert 'class="error' in page
    for name, value in typed.items():
        if value:
            shown = re.escape(html.escape(value))
            assert re.search(rf'name="{re.escape(name)}"[^>]*value="{shown}"', page), (name, value)


@FUZZ
@given(st.fixed_dictionaries({}, optional=BOOKING_FIELDS))
def test_the_booking_form_answers_any_input(astro_client, fields):
    fields = {k: _clean(v) for k, v in fields.items()}
    response = astro_client.post("/book/", booking_post(**fields))
    assert_answered(astro_client, response, fields)


def test_every_number_box_takes_every_nasty_number(astro_client):
    """The loop behind the fuzzing: each number field of both forms with each value that once
    broke a page (20 digits reached the engine as an OverflowError)."""
    failures = []
    posts = [("/book/", name, booking_post) for name in BOOKING_FIELDS if name != "name"]
    posts += [("/ask/", name, quick_post) for name in ("cores", "memory_gib", "hours")]
    for url, name, base in posts:
        for value in NASTY:
            response = astro_client.post(url, base(**{name: value}))
            try:
                assert_answered(astro_client, response, {name: value})
            except AssertionError as error:
                failures.append(f"{url} {name}={value[:30]}: {response.status_code} {error}")
    assert failures == []


def quick_post(**fields) -> dict:
    return {"cores": "2", "hours": "1", **fields}


@FUZZ
@given(st.fixed_dictionaries({}, optional=dict.fromkeys(["cores", "memory_gib", "hours"], numbers)))
def test_the_quick_box_answers_any_input(astro_client, fields):
    fields = {k: _clean(v) for k, v in fields.items()}
    response = astro_client.post("/ask/", fields)
    assert_answered(astro_client, response, fields)


@pytest.fixture
def accepted(astro):
    request = {
        "name": "fuzzed",
        "components": [{"name": "main", "kind": "compute", "amounts": {"cores": 2}}],
        "duration": "PT2H",
        "max_offers": 1,
    }
    offer_set = offer_set_create(owner=astro, data=request)
    return lease_accept(lease_id=offer_set.leases.get(rank=0).id, user=astro)


@FUZZ
@given(end=instants, method=st.sampled_from(["get", "post"]))
def test_the_extend_form_answers_any_input(astro_client, accepted, end, method):
    end = _clean(end)
    response = getattr(astro_client, method)(f"/leases/{accepted.id}/extend/", {"end": end})
    if response.status_code == 200 and method == "get":
        assert "Yes, end it then" in response.content.decode()
        return
    if response.status_code == 409:  # does not fit: the latest end that does, on the field
        assert 'id="id_end_error"' in response.content.decode()
        return
    assert_answered(astro_client, response, {"end": end})


@FUZZ
@given(zone=st.one_of(st.sampled_from(["UTC", "Pacific/Chatham", "Etc/GMT-14"]), st.text()))
def test_the_profile_form_answers_any_input(astro_client, astro, zone):
    zone = _clean(zone)
    response = astro_client.post("/profile/", {"timezone": zone})
    assert response.status_code in {302, 400}
    if response.status_code == 400:
        assert 'id="id_timezone_error"' in response.content.decode()
    else:
        assert Profile.objects.get(user=astro).timezone == zone
        assert astro_client.get("/").status_code == 200


def test_long_durations_come_back_as_typed_on_the_offers_page(astro_client):
    for hours in ["0.02", "1", "480", "1440", "8760", "87600"]:
        response = astro_client.post("/book/", booking_post(duration_hours=hours))
        if response.status_code == 302:
            page = astro_client.get(response["Location"])
            assert page.status_code == 200
            assert f'name="duration_hours" value="{hours}"' in page.content.decode()
        else:
            assert response.status_code == 400
            assert 'id="id_duration_hours_error"' in response.content.decode()
