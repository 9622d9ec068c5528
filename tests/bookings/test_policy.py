"""Policy limits on one request (bookings/domain/policy.py): what a request may claim is
bounded, refused with the field named, and nothing a client sends can overflow."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bookings.domain.errors import DomainError
from bookings.domain.isotime import duration_seconds, parse_duration, parse_instant
from bookings.domain.requests import request_normalise

pytestmark = [pytest.mark.unit]

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
CORES = [{"name": "w", "amounts": {"cores": 2}}]


@pytest.fixture(autouse=True)
def default_limits(settings):
    """The defaults a platform gets (tests/conftest.py widens the horizon for fixed data)."""
    settings.BOOKING_MAX_DURATION = "P14D"
    settings.BOOKING_MAX_LEAD = "P90D"
    settings.BOOKING_MAX_END = "P90D"


def refusal(**fields) -> list[tuple[str, str]]:
    data = {"components": CORES, "duration": "PT1H", **fields}
    with pytest.raises(DomainError) as info:
        request_normalise(data=data, now=NOW)
    assert info.value.status == 400
    return [(e.path, e.message) for e in info.value.errors]


LONGEST = "must be at most 14 days (a lease's longest)"
AHEAD = "a lease may start at most 90 days ahead, by 2027-03-02T10:00:00Z at the latest"
REACH = "the window may reach at most 90 days ahead, to 2027-03-02T10:00:00Z"


@pytest.mark.parametrize(
    ("duration", "path"),
    [
        ("P200D", "duration"),
        (17280000, "duration"),  # 200 days as seconds: the same limit as the ISO form (#10)
        ("P15D", "duration"),
        ("P9999999999D", "duration"),
        ("PT99999999999999999999H", "duration"),
        (10**12, "duration"),
        (10**20, "duration"),
        (2**63, "duration"),
        ({"min": "PT1H", "max": "P99999999999D"}, "duration.max"),
        ({"min": 10**30, "max": 10**31}, "duration.min"),
    ],
)
def test_a_duration_over_the_limit_is_refused_in_any_spelling(duration, path):
    errors = refusal(duration=duration)
    assert errors[0] == (path, LONGEST)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-12-03T00:00:00Z/P99999999999D", REACH),
        ("2026-12-03T00:00:00Z/PT99999999999999999999H", REACH),
        ("2026-12-03T00:00:00Z/P91D", REACH),
        ("2026-12-03T00:00:00Z/2027-12-03T00:00:00Z", REACH),
        ("9999-12-31T00:00:00Z/P2D", AHEAD),
        ("9999-12-31T20:00:00Z", AHEAD),
        ("9999-12-31T23:59:59Z/9999-12-31T23:59:59Z", AHEAD),
        ("2027-03-03T00:00:00Z", AHEAD),
    ],
)
def test_a_start_past_the_lead_or_a_window_past_the_horizon_is_refused(start, message):
    assert refusal(start=start) == [("start", message)]


def test_the_limits_are_read_when_asked_not_at_import(settings):
    settings.BOOKING_MAX_DURATION = 7200  # seconds work too
    assert refusal(duration="PT3H") == [("duration", "must be at most 2 hours (a lease's longest)")]
    settings.BOOKING_MAX_DURATION = timedelta(days=1)
    assert request_normalise(data={"components": CORES, "duration": "PT3H"}, now=NOW)[
        "duration"
    ] == {"min": 10800, "max": 10800}
    settings.BOOKING_MAX_LEAD = "P1D"
    settings.BOOKING_MAX_END = "P2D"
    assert refusal(start="2026-12-03T11:00:00Z") == [
        ("start", "a lease may start at most 1 day ahead, by 2026-12-03T10:00:00Z at the latest")
    ]
    assert refusal(start="2026-12-03T09:00:00Z/2026-12-04T11:00:00Z") == [
        ("start", "the window may reach at most 2 days ahead, to 2026-12-04T10:00:00Z")
    ]


def test_the_limits_themselves_are_accepted():
    normalised = request_normalise(
        data={"components": CORES, "duration": "P14D", "start": "2026-12-02T10:00:00Z/P90D"},
        now=NOW,
    )
    assert (normalised["duration"], normalised["start"]) == (
        {"min": 1209600, "max": 1209600},
        {"earliest": "2026-12-02T10:00:00Z", "latest": "2027-03-02T10:00:00Z"},
    )


@pytest.mark.parametrize("cores", [2**31, 10**20, 2**63, 10**4000])
def test_an_amount_wider_than_any_capacity_column_is_refused(cores):
    errors = refusal(components=[{"name": "w", "amounts": {"cores": cores}}])
    assert errors[0][0] == "components[0].amounts.cores"
    assert errors[0][1].endswith("is more than any pool has")
    assert len(errors[0][1]) < 80  # never the whole of a huge number


def test_a_huge_maximum_means_as_much_as_there_is():
    components = [{"name": "w", "amounts": {"cores": {"min": 1, "max": 10**30}}}]
    normalised = request_normalise(data={"components": components, "duration": "PT1H"}, now=NOW)
    assert normalised["components"][0]["amounts"]["cores"] == {"min": 1, "max": 2**31 - 1}


def test_mixed_key_types_are_named_not_a_crash():
    data = {1: "x", None: 2, "duration": "PT1H"}
    data["components"] = [{"name": "w", 3: 4, "amounts": {"cores": 1}}]
    with pytest.raises(DomainError) as info:
        request_normalise(data=data, now=NOW)
    errors = [(e.path, e.message) for e in info.value.errors]
    assert sorted(errors) == [
        ("1", "is not a known field"),
        ("None", "is not a known field"),
        ("components[0].3", "is not a known field"),
    ]


# Anything a JSON client can put in these fields.
huge_ints = st.one_of(st.integers(), st.integers(min_value=10**15, max_value=10**400))
digits = st.integers(min_value=0, max_value=10**25).map(str)
iso_durations = st.builds(
    lambda d, h, m: f"P{d}DT{h}H{m}M" if d != "0" else f"PT{h}H{m}M", digits, digits, digits
)
instants = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00"]),
)
windows = st.one_of(
    st.none(),
    instants,
    st.builds(lambda a, b: f"{a}/{b}", instants, st.one_of(instants, iso_durations)),
    st.text(max_size=30),
)
durations = st.one_of(
    huge_ints,
    iso_durations,
    st.text(max_size=20),
    st.fixed_dictionaries({"min": st.one_of(huge_ints, iso_durations)}),
    st.fixed_dictionaries(
        {"min": st.one_of(huge_ints, iso_durations), "max": st.one_of(huge_ints, iso_durations)}
    ),
)
amounts = st.one_of(
    huge_ints,
    st.floats(allow_nan=True),
    st.fixed_dictionaries({"min": huge_ints, "max": huge_ints}),
)


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(duration=durations, start=windows, cores=amounts, replicas=huge_ints, offers=huge_ints)
def test_any_request_is_normalised_within_the_limits_or_refused_naming_fields(
    duration, start, cores, replicas, offers
):
    data = {
        "components": [{"name": "w", "replicas": replicas, "amounts": {"cores": cores}}],
        "duration": duration,
        "start": start,
        "max_offers": offers,
    }
    try:
        normalised = request_normalise(data=data, now=NOW)
    except DomainError as error:  # nothing else may escape
        assert error.status == 400
        assert error.errors and all(isinstance(e.path, str) and e.message for e in error.errors)
        assert all(len(e.message) < 200 for e in error.errors)
        return
    assert 0 < normalised["duration"]["min"] <= normalised["duration"]["max"] <= 14 * 86400
    earliest, latest = (parse_instant(normalised["start"][k]) for k in ("earliest", "latest"))
    assert NOW <= earliest <= latest <= NOW + timedelta(days=90)
    assert normalised["components"][0]["amounts"]["cores"]["max"] < 2**31


@given(st.one_of(iso_durations, st.text(max_size=80)))
def test_durations_parse_without_overflow(text):
    seconds = duration_seconds(text)
    parsed = parse_duration(text)
    assert parsed is None or parsed.total_seconds() == seconds
