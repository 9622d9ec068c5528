"""Which allocations count as load: the one rule, in its ORM form and as SQL parameters.

An allocation counts while its lease is in a load phase (`LOAD_PHASES`), except that an offer
(`Phase.OFFERED`) counts only while its hold is live (`expires > now`). `counting_allocations`
is the rule in the ORM; the hand-written forms (bookings.domain.sql.load, .capacity, the
copy's columns in planning.cache) take it from `LOAD_RULE` and are tested against it.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Q
from django.utils import timezone

from bookings.choices import LOAD_PHASES, Phase
from bookings.domain.sql.load import LOAD
from bookings.models import Allocation
from resources.choices import DIMENSIONS
from resources.models import Pool
from scheduler import engine


def counts_as_load(now: datetime) -> Q:
    """The rule, as a filter on allocations."""
    return Q(lease__phase__in=LOAD_PHASES) & (
        ~Q(lease__phase=Phase.OFFERED) | Q(lease__expires__gt=now)
    )


# The rule, as parameters of the hand-written statements; they add `now` (`rule_params`) or
# apply the hold rule themselves (planning.cache).
LOAD_RULE = {"phases": sorted(LOAD_PHASES), "offered": Phase.OFFERED}


def rule_params(now: datetime) -> dict:
    return {**LOAD_RULE, "now": now}


def counting_allocations(
    *, pool_ids: Iterable[int], start: datetime, end: datetime, exclude_lease=None
):
    """Allocations that consume capacity in [start, end): load phases, live holds only."""
    query = Allocation.objects.filter(
        counts_as_load(timezone.now()),
        pool_id__in=list(pool_ids),
        period__overlap=DateTimeTZRange(start, end, "[)"),
    )
    if exclude_lease is not None:
        query = query.exclude(lease_id=exclude_lease)
    return query


def load_params(
    *, slugs: list[str], start: datetime, end: datetime, exclude_lease=None, exclude_offer_set=None
) -> dict:
    """The parameters of `sql.load.LOAD` (and of the guard's statement that ends with it)."""
    return {
        **rule_params(timezone.now()),
        "slugs": slugs,
        "start": start,
        "end": end,
        "exclude": exclude_lease,
        "exclude_offer_set": exclude_offer_set,
    }


def engine_load(
    *,
    pools: Iterable[Pool],
    start: datetime,
    end: datetime,
    exclude_lease=None,
    exclude_offer_set=None,
) -> list:
    """What `counting_allocations` selects of `pools` over [start, end), as engine loads, in
    hand-written SQL: this runs under the pool locks of every offer set and accept, where the
    ORM's query building was a large share."""
    by_id = {p.id: p.slug for p in pools}
    params = load_params(
        slugs=list(by_id.values()),
        start=start,
        end=end,
        exclude_lease=exclude_lease,
        exclude_offer_set=exclude_offer_set,
    )
    with connection.cursor() as cursor:
        cursor.execute(LOAD, params)
        rows = cursor.fetchall()
    return engine_loads(rows, by_id)


def engine_loads(rows, slug_of: dict[int, str]) -> list:
    """Rows of `sql.load.LOAD` as engine loads."""
    # Most allocations share a few amount shapes: build each amounts mapping once (the engine
    # only reads them), which halves the Python time of a few thousand rows.
    shapes: dict[tuple, dict] = {}
    loads = []
    for pool_id, lo, hi, *amounts in rows:
        shape = tuple(amounts)
        mapping = shapes.get(shape)
        if mapping is None:
            mapping = shapes[shape] = {d: v for d, v in zip(DIMENSIONS, shape, strict=True) if v}
        loads.append(engine.Load(slug_of[pool_id], lo, hi, mapping))
    return loads
