from datetime import UTC, datetime, timedelta

import pytest

from bookings.domain.errors import DomainError
from bookings.domain.isotime import parse_duration
from bookings.domain.requests import request_normalise

pytestmark = [pytest.mark.unit]

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def errors(data) -> list[str]:
    with pytest.raises(DomainError) as info:
        request_normalise(data=data, now=NOW)
    return [str(e) for e in info.value.errors]


def test_the_design_example_is_normalised_with_every_default():
    data = {
        "name": "DR3 proper motions",
        "components": [
            {
                "name": "head",
                "kind": "compute",
                "replicas": 1,
                "amounts": {"cores": 54, "memory_gib": {"min": 86}},
            },
            {
                "name": "workers",
                "kind": "compute",
                "replicas": 6,
                "amounts": {"cores": {"min": 13, "max": 26}, "memory_gib": 43},
            },
            {"name": "scratch", "kind": "storage", "amounts": {"size_gib": 2000}},
        ],
        "datasets": ["gaia-dr3"],
        "site": None,
        "duration": "PT9H",
        "start": "2026-12-01T08:00:00Z/2026-12-04T00:00:00Z",
        "max_offers": 4,
        "executable": None,
    }
    assert request_normalise(data=data, now=NOW) == {
        "name": "DR3 proper motions",
        "components": [
            {
                "name": "head",
                "kind": "compute",
                "replicas": 1,
                "amounts": {"cores": {"min": 54, "max": 54}, "memory_gib": {"min": 86, "max": 86}},
            },
            {
                "name": "workers",
                "kind": "compute",
                "replicas": 6,
                "amounts": {"cores": {"min": 13, "max": 26}, "memory_gib": {"min": 43, "max": 43}},
            },
            {
                "name": "scratch",
                "kind": "storage",
                "replicas": 1,
                "amounts": {"size_gib": {"min": 2000, "max": 2000}},
            },
        ],
        "datasets": ["gaia-dr3"],
        "site": None,
        "duration": {"min": 9 * 3600, "max": 9 * 3600},
        "start": {"earliest": "2026-12-01T08:00:00Z", "latest": "2026-12-04T00:00:00Z"},
        "max_offers": 4,
        "executable": None,
    }


def test_defaults_window_is_now_to_seven_days_and_interval_may_end_in_a_duration():
    minimal = {"components": [{"name": "c", "amounts": {"cores": 1}}], "duration": "PT1H"}
    assert request_normalise(data=minimal, now=NOW)["start"] == {
        "earliest": "2026-11-30T10:00:00Z",
        "latest": "2026-12-07T10:00:00Z",
    }
    shifted = {
        **minimal,
        "start": "2026-12-01T00:00:00+01:00/P1D",
        "duration": {"min": "PT1H", "max": "PT3H30M"},
    }
    result = request_normalise(data=shifted, now=NOW)
    assert result["start"] == {"earliest": "2026-11-30T23:00:00Z", "latest": "2026-12-01T23:00:00Z"}
    assert result["duration"] == {"min": 3600, "max": 12600}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT9H", 32400), ("P1DT6H", 108000), ("PT90M", 5400), ("P2W", 1209600), ("pt45s", 45)],
)
def test_iso_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["P", "PT", "9H", "P1Y", "P1M", "PT1.5H", "", "P1DT"])
def test_bad_iso_durations(text):
    assert parse_duration(text) is None


def test_every_bad_field_is_named_at_once():
    data = {
        "components": [
            {"name": "head", "kind": "compute", "amounts": {"cores": -1, "size_gib": 4}},
            {"name": "workers", "kind": "gpu", "amounts": {"cores": 1}},
            {"name": "scratch", "kind": "storage", "amounts": {"size_gib": {"min": 9, "max": 3}}},
        ],
        "duration": "nine hours",
        "start": "2026-12-04T00:00:00Z/2026-12-01T00:00:00Z",
        "max_offers": 11,
        "colour": "blue",
    }
    assert errors(data) == [
        "colour: is not a known field",
        "components[0].amounts.cores: -1 is negative",
        "components[0].amounts.size_gib: a compute component has no 'size_gib' (cores, memory_gib,"
        " gpus)",
        "components[1].kind: 'gpu' is not one of compute, storage, data",
        "components[2].amounts.size_gib.max: 3 is less than min 9",
        "duration: 'nine hours' is not an ISO 8601 duration such as PT9H or P1DT6H",
        "start: the interval ends before it starts",
        "max_offers: must be a whole number from 1 to 10",
    ]


def test_missing_parts_are_named():
    assert errors({}) == [
        "components: must be a non-empty list",
        "duration: is required (an ISO 8601 duration such as PT9H)",
    ]
    assert errors([1, 2]) == ["not an object"]


def test_a_window_in_the_past_is_refused():
    data = {
        "components": [{"name": "c", "amounts": {"cores": 1}}],
        "duration": "PT1H",
        "start": "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z",
    }
    assert errors(data) == ["start: the window is in the past"]


def test_duplicate_component_names_and_nothing_asked():
    data = {
        "components": [
            {"name": "c", "amounts": {"cores": 0}},
            {"name": "c", "amounts": {"cores": 2}},
        ],
        "duration": "PT1H",
    }
    assert errors(data) == [
        "components[0].amounts: asks for nothing (every amount is 0)",
        "components[1].name: 'c' is used by another component",
    ]


def test_each_part_of_the_request_reports_in_the_order_of_the_parts():
    data = {
        "executable": "run.sh",
        "max_offers": True,
        "start": "2026-12-01T00:00:00Z/soon",
        "duration": {"min": "PT0S", "max": "forever", "step": 1},
        "site": 7,
        "datasets": ["gaia-dr3", 3],
        "components": [
            "head",
            {"name": "", "amounts": {"cores": 1}},
            {"name": "w", "replicas": 0, "amounts": {"cores": {"max": 2}}, "colour": 1},
            {"name": "s", "kind": "storage", "amounts": []},
        ],
        "name": ["not", "a", "string"],
        "priority": "high",
    }
    assert errors(data) == [
        "priority: is not a known field",
        "name: must be a string of at most 200 characters",
        "components[0]: must be an object",
        "components[1].name: must be a non-empty string of at most 100 characters",
        "components[2].colour: is not a known field",
        "components[2].replicas: must be a whole number from 1 to 256",
        "components[2].amounts.cores.min: is required",
        "components[3].amounts: must be a non-empty object of dimension: amount",
        "datasets: must be a list of dataset slugs",
        "site: must be a site slug or null",
        "duration.step: is not a known key (min, max)",
        "duration.min: must be longer than zero",
        "duration.max: 'forever' is not an ISO 8601 duration such as PT9H or P1DT6H",
        "start: 'soon' is not an ISO 8601 date-time with a time zone",
        "max_offers: must be a whole number from 1 to 10",
        "executable: must be an object or null",
    ]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("soon", "must be an ISO 8601 interval (a/b or a/duration) or an instant"),
        ("soon/P1D", "'soon' is not an ISO 8601 date-time with a time zone"),
        ("2026-12-01T00:00:00Z/P1X", "'P1X' is not an ISO 8601 duration"),
        ("2026-12-01T00:00:00Z/2026-11-30T00:00:00Z", "the interval ends before it starts"),
        (
            "2026-12-01T00:00:00Z/P99999999999999D",
            "the window may reach at most 3660 days ahead, to 2036-12-07T10:00:00Z",
        ),
        (
            "2037-01-01T00:00:00Z/P1D",
            "a lease may start at most 3660 days ahead, by 2036-12-07T10:00:00Z at the latest",
        ),
    ],
)
def test_every_kind_of_bad_start_window_is_named(start, message):
    data = {"components": [{"amounts": {"cores": 1}}], "duration": "PT1H", "start": start}
    assert errors(data) == [f"start: {message}"]
