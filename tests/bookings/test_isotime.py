"""The one time helper: what `iso` writes, `from_iso` and `parse_instant` read back."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookings.domain.isotime import from_iso, iso, parse_instant

pytestmark = pytest.mark.unit

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
INSTANTS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES
)


@given(INSTANTS)
def test_iso_writes_utc_with_z_and_reads_back_as_the_same_instant(moment):
    text = iso(moment)
    assert text.endswith("Z") and "+" not in text
    assert from_iso(text) == moment
    assert from_iso(text).utcoffset() == timedelta(0)
    assert parse_instant(text) == moment


def test_iso_drops_nothing_but_the_offset():
    moment = datetime(2030, 1, 2, 3, 4, 5, 600, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2030-01-02T02:04:05.000600Z"


@pytest.mark.parametrize("text", ["", "tomorrow", "2030-13-01T00:00:00Z", "2030-01-01T25:00Z"])
def test_from_iso_refuses_what_no_iso_wrote(text):
    with pytest.raises(ValueError):
        from_iso(text)
