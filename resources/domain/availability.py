"""`pool_availability`: a pool's free capacity over a window, as the engine sees it."""

from datetime import UTC, datetime, timedelta

from bookings.domain.errors import DomainError, FieldError
from bookings.domain.inventory import engine_pools, epoch, instant
from bookings.domain.planning.load import engine_load
from resources.models import Pool
from scheduler import engine

MAX_SPAN = timedelta(days=366)
# The engine rounds to its step and back: keep a margin from datetime's own limits.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 1, tzinfo=UTC)


def pool_availability(*, pool: Pool, start: datetime, end: datetime) -> list[dict]:
    """[{start, end, free: {dim: n}}] on [start, end): capacity timeline minus counting load
    (live holds included, lapsed holds not), clamped at 0, equal neighbours merged."""
    far = [
        FieldError(name, f"must be from {EARLIEST.date()} to {LATEST.date()}")
        for name, value in (("start", start), ("end", end))
        if not EARLIEST <= value <= LATEST
    ]
    if far:
        raise DomainError("The availability window is not valid.", errors=far)
    if end <= start:
        raise DomainError(
            "The availability window is not valid.",
            errors=[FieldError("end", "must be after start")],
        )
    if end - start > MAX_SPAN:
        raise DomainError(
            "The availability window is not valid.",
            errors=[FieldError("end", f"the window may be at most {MAX_SPAN.days} days long")],
        )
    load = engine_load(pools=[pool], start=start, end=end)
    (epool,) = engine_pools([pool])
    return [
        {"start": instant(s), "end": instant(e), "free": free}
        for s, e, free in engine.free_profile(
            pool=epool, load=load, start=epoch(start), end=epoch(end)
        )
    ]
