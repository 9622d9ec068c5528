"""Every list endpoint and every query parameter: a bad value is a 400 problem naming the
parameter, never a silent default or a server error (issue 11, defects 11 and 17). Each test
loops over the whole class of values (one database setup, many requests)."""

import pytest

from bookings.api.pagination import MAX_OFFSET, MAX_PAGE_SIZE
from bookings.choices import Phase
from tests.bookings.api.apidata import problem, worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

LISTS = ["/api/v1/sites/", "/api/v1/pools/", "/api/v1/leases/"]
AVAILABILITY = "/api/v1/pools/edi-workers-1/availability"
BAD_LIMITS = [
    "abc", "-1", "0", "", " 5", "5 ", "1.5", "1e3", "+5", "0x10", "\uff15", "\u0665",
    str(MAX_PAGE_SIZE + 1), "99999999999999999999", "9" * 5000,
]  # fmt: skip
BAD_OFFSETS = [
    "abc", "-5", "", " 1", "1.5", "0x10", "\uff15", "99999999999999999999",
    str(MAX_OFFSET + 1), "9" * 5000,
]  # fmt: skip
BAD_INSTANTS = ["", " ", "yesterday", "2030-01-07T08:00:00", "2030-13-01T00:00:00Z", "P1D"]
EMPTY_PHASE = "names an empty phase (give e.g. phase=OFFERED,ACCEPTED)"
UNKNOWN_DONE = f"unknown phase 'DONE' (one of {', '.join(Phase)})"


def assert_refused(response, *errors, title="A query parameter is not valid."):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    detail = "; ".join(f"{p}: {m}" for p, m in errors)
    assert response.json() == problem(400, "invalid", title, detail, errors)


@pytest.fixture
def one_lease(api, capacity):
    response = api.post("/api/v1/offer-sets/", worker_request(max_offers=1), format="json")
    return [offer["id"] for offer in response.json()["offers"]]


@pytest.mark.parametrize("url", LISTS)
def test_bad_page_parameters_are_400_naming_them(api, one_lease, url):
    for value in BAD_LIMITS:
        message = f"{value!r} is not a whole number from 1 to {MAX_PAGE_SIZE}"
        assert_refused(api.get(url, {"limit": value}), ("limit", message))
    for value in BAD_OFFSETS:
        message = f"{value!r} is not a whole number from 0 to {MAX_OFFSET}"
        assert_refused(api.get(url, {"offset": value}), ("offset", message))
    assert_refused(
        api.get(url, {"limit": "0", "offset": "-1"}),
        ("limit", f"'0' is not a whole number from 1 to {MAX_PAGE_SIZE}"),
        ("offset", f"'-1' is not a whole number from 0 to {MAX_OFFSET}"),
    )


@pytest.mark.parametrize("url", LISTS)
def test_the_page_bounds_themselves_are_served(api, one_lease, url):
    count = api.get(url).json()["count"]
    assert count >= 1
    for query, shown in [
        ({"limit": "1"}, 1),
        ({"limit": str(MAX_PAGE_SIZE)}, count),
        ({"limit": "1", "offset": str(count)}, 0),
        ({"offset": str(MAX_OFFSET)}, 0),
        ({"limit": str(MAX_PAGE_SIZE), "offset": str(MAX_OFFSET)}, 0),
    ]:
        response = api.get(url, query)
        assert response.status_code == 200, (query, response.content)
        assert (response.json()["count"], len(response.json()["results"])) == (count, shown)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", EMPTY_PHASE),
        (" ", EMPTY_PHASE),
        (",,,", EMPTY_PHASE),
        ("OFFERED,", EMPTY_PHASE),
        ("OFFERED,,ACCEPTED", EMPTY_PHASE),
        ("DONE", UNKNOWN_DONE),
        ("offered,DONE", UNKNOWN_DONE),
    ],
)
def test_an_empty_or_unknown_phase_is_400(api, capacity, value, message):
    assert_refused(api.get("/api/v1/leases/", {"phase": value}), ("phase", message))
    # also when another phase parameter is fine
    assert_refused(api.get(f"/api/v1/leases/?phase=OFFERED&phase={value}"), ("phase", message))


def test_phases_in_any_case_and_repeated_parameters_add_up(api, one_lease):
    for query in (
        "phase=offered",
        "phase=OFFERED,ACCEPTED",
        "phase=ACCEPTED&phase=offered",
        "phase=%20Offered%20",
    ):
        response = api.get(f"/api/v1/leases/?{query}")
        assert [r["id"] for r in response.json()["results"]] == one_lease, query
    assert api.get("/api/v1/leases/?phase=ACCEPTED").json()["count"] == 0


def test_an_empty_site_is_400(api, capacity):
    for value in ("", "  "):
        message = "is empty (leave it out, or give a site slug)"
        assert_refused(api.get("/api/v1/leases/", {"site": value}), ("site", message))


@pytest.mark.parametrize("url", ["/api/v1/leases/", AVAILABILITY])
def test_a_bad_or_empty_instant_is_400_naming_it(api, capacity, url):
    for name in ("start", "end"):
        for value in BAD_INSTANTS:
            message = (
                "is empty (leave it out, or give an ISO 8601 date-time with a time zone)"
                if value.strip() == ""
                else f"{value!r} is not an ISO 8601 date-time with a time zone"
            )
            assert_refused(api.get(url, {name: value}), (name, message))


FAR = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z"]


@pytest.mark.parametrize("url", ["/api/v1/leases/", AVAILABILITY])
def test_far_instants_are_answered_or_refused_by_name(api, one_lease, url):
    for start in [*FAR, None]:
        for end in [*FAR, None]:
            query = {k: v for k, v in (("start", start), ("end", end)) if v}
            response = api.get(url, query)
            assert response.status_code in (200, 400), (query, response.content)
            if response.status_code == 400:
                assert {e["path"] for e in response.json()["errors"]} <= {"start", "end"}


def test_availability_near_the_ends_of_time(api, capacity):
    window = "must be from 0001-01-02 to 9999-12-01"
    for query, errors in [
        ({"start": "9999-12-31T00:00:00Z"}, [("start", window), ("end", window)]),
        ({"start": "9999-11-30T00:00:00Z"}, [("end", window)]),
        ({"start": "0001-01-01T00:00:00Z"}, [("start", window)]),
    ]:
        assert_refused(
            api.get(AVAILABILITY, query), *errors, title="The availability window is not valid."
        )
    for query in (
        {"start": "9999-11-01T00:00:00Z", "end": "9999-12-01T00:00:00Z"},
        {"start": "0001-01-02T00:00:00Z"},
    ):
        response = api.get(AVAILABILITY, query)
        assert response.status_code == 200, response.content
        assert response.json()[0]["start"] == query["start"]
