"""Round trips to PostgreSQL per call, counted by pytest-django (django_assert_num_queries).

The tests run in real transactions (`transaction=True`), as a server does: in the test
database's usual wrapping transaction an `atomic` block would be a SAVEPOINT and the load
cache (bookings.domain.load_cache) would not be used. BEGIN and COMMIT are captured and
counted. Every call is counted warm, after one like it: the first plan of a process reads
the whole load, and a token's `last_used` is written at most once a minute."""

import pytest

from tests.bookings.api.apidata import worker_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def offer_set(api, name: str, **changes) -> dict:
    response = api.post("/api/v1/offer-sets/", worker_request(name=name, **changes), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_an_offer_set_is_eight_round_trips(api, capacity, django_assert_num_queries):
    offer_set(api, "warm-up")  # another job: the same one asked again would supersede it
    # 1 the token (with its user); 2 the load cache's refresh, with the pools stamp;
    # 3 the caller's memberships (the project it charges; rates and policy rows are cached
    # with the pools); 4 the caller's held offers (the holds cap, the same job asked again);
    # 5 BEGIN; 6 lock the pools, stamp and load them again (the guard); 7 insert the offer
    # set, its leases, allocations and events; 8 COMMIT.
    for name in ("crossmatch", "another"):
        with django_assert_num_queries(8) as captured:
            body = offer_set(api, name)
        assert [q["sql"] for q in captured.captured_queries if q["sql"] in ("BEGIN", "COMMIT")] == [
            "BEGIN",
            "COMMIT",
        ]
        assert body["result"] == "YES" and body["offers"]


def test_an_accept_is_six_round_trips(api, capacity, django_assert_num_queries):
    first, second = (offer_set(api, name)["offers"][0]["id"] for name in ("warm-up", "job"))
    assert api.post(f"/api/v1/leases/{first}/accept").status_code == 200
    # 1 the token; 2 BEGIN; 3 the offer and its siblings, locked; 4 their new phases, versions
    # and events in one statement; 5 COMMIT; 6 the answer's allocations and events.
    with django_assert_num_queries(6):
        response = api.post(f"/api/v1/leases/{second}/accept")
    assert response.status_code == 200
    assert response.json()["phase"] == "ACCEPTED"


@pytest.mark.parametrize("leases", [1, 3])
def test_the_lease_list_does_not_grow_with_the_leases(
    api, capacity, leases, django_assert_num_queries
):
    for n in range(leases):
        offer_set(api, f"job-{n}", max_offers=1)
    # 1 the token; 2 the count of the page; 3 the leases with their sites; 4 their allocations
    # with their pools.
    with django_assert_num_queries(4):
        response = api.get("/api/v1/leases/")
    assert response.status_code == 200
    assert response.json()["count"] == leases
    assert [len(lease["allocations"]) for lease in response.json()["results"]] == [1] * leases
