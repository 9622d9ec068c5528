"""Pool rates as the engine's `Rate`s, and frozen on a lease as JSON (issue 15).

A lease keeps the rates its price was made at (`Lease.rates`): an extension and the used part
of a lease released early are priced the same way, whatever the rates are now.
"""

from decimal import Decimal

from bookings.domain.planning.pools import planning_cached
from projects.models import Rate
from resources.choices import DIMENSIONS
from scheduler import engine


def _minutes(value) -> int:
    return value.hour * 60 + value.minute if value is not None else 0


def engine_rate(rate) -> engine.Rate:
    """A `projects.models.Rate` row (with its pool's site loaded) as an engine rate."""
    return engine.Rate(
        per_hour={d: getattr(rate, d) for d in DIMENSIONS if getattr(rate, d)},
        peak_factor=rate.peak_factor,
        peak_start=_minutes(rate.peak_start),
        peak_end=_minutes(rate.peak_end),
        zone=rate.pool.site.timezone,
        peak_weekdays=(0, 1, 2, 3, 4, 5, 6) if rate.peak_weekends else (0, 1, 2, 3, 4),
    )


def every_rate() -> dict[str, engine.Rate]:
    """Pool slug → its rate, for the pools that have one (the others are free)."""
    rows = Rate.objects.select_related("pool__site")
    return {row.pool.slug: engine_rate(row) for row in rows}


def pool_rates(slugs, *, snapshot=None) -> dict[str, engine.Rate]:
    """The rates of the pools `slugs`, from the planning cache."""
    rates = planning_cached("rates", every_rate, snapshot=snapshot)
    return {slug: rates[slug] for slug in slugs if slug in rates}


def rates_json(rates: dict[str, engine.Rate], pools) -> dict:
    """The rates of `pools` (slugs) as JSON, to freeze on a lease."""
    return {
        slug: {
            "per_hour": {d: str(v) for d, v in rates[slug].per_hour.items()},
            "peak_factor": str(rates[slug].peak_factor),
            "peak_start": rates[slug].peak_start,
            "peak_end": rates[slug].peak_end,
            "zone": rates[slug].zone,
            "peak_weekdays": list(rates[slug].peak_weekdays),
        }
        for slug in sorted(set(pools))
        if slug in rates
    }


def rates_from_json(data: dict) -> dict[str, engine.Rate]:
    return {
        slug: engine.Rate(
            per_hour={d: Decimal(v) for d, v in r["per_hour"].items()},
            peak_factor=Decimal(r["peak_factor"]),
            peak_start=r["peak_start"],
            peak_end=r["peak_end"],
            zone=r["zone"],
            peak_weekdays=tuple(r["peak_weekdays"]),
        )
        for slug, r in (data or {}).items()
    }
