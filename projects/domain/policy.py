"""Policy limits in force for a request, as the engine's constraints (issue 15, DESIGN §8a).

The defaults are settings (`POLICY_*`, `BOOKING_MAX_DURATION`, `BOOKING_MAX_LEAD`), read at call
time; `PolicyLimit` rows (admin) narrow them for one site, one project, or one project at one
site. The limit in force is the strictest of the default and every row that applies: rows
can tighten, never loosen, what the settings allow. `request_limits` turns them into
`engine.Limit`s, each with the words a NO names it by:

- at most N concurrent leases per user: the instants the user already has N live leases at
  are blocked (a lease is live from its preparation to its end);
- at most H booked hours ahead per user: the longest duration is what is left of H;
- lead time and duration: the latest start and the longest duration at the site;
- at most P % of a pool per project: the pool's capacity that the project's live leases and
  holds already use is taken off P % of it, instant by instant;
- quiet hours (site's local time): no lease holds resources then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from bookings.choices import ACTIVE_PHASES, LOAD_PHASES, Phase
from bookings.domain import policy as booking_policy
from bookings.domain.inventory import epoch
from bookings.domain.planning.pools import planning_cached
from bookings.models import Allocation, Lease
from projects.domain.ledger import ZERO
from projects.domain.pricing import pool_rates
from projects.models import PolicyLimit, SUAllocation
from resources.choices import DIMENSIONS
from scheduler import engine

FIELDS = (
    "max_concurrent_leases",
    "max_future_hours",
    "max_lead",
    "max_duration",
    "max_extension",
    "max_pool_share",
)


@dataclass(frozen=True)
class Limits:
    """The limits in force for one (site, project); None: no limit of that kind."""

    max_concurrent_leases: int | None = None
    max_future_hours: int | None = None
    max_lead: int | None = None  # seconds
    max_duration: int | None = None  # seconds
    max_extension: int | None = None  # seconds
    max_pool_share: int | None = None  # percent
    quiet: tuple[time, time] | None = None


def _defaults() -> Limits:
    quiet = None
    if settings.POLICY_QUIET_HOURS:
        first, last = settings.POLICY_QUIET_HOURS.split("-")
        quiet = (time.fromisoformat(first.strip()), time.fromisoformat(last.strip()))
    return Limits(
        max_concurrent_leases=settings.POLICY_MAX_CONCURRENT_LEASES or None,
        max_future_hours=settings.POLICY_MAX_FUTURE_HOURS or None,
        max_lead=booking_policy.limit_seconds("BOOKING_MAX_LEAD"),
        max_duration=booking_policy.max_duration(),
        max_extension=(
            booking_policy.limit_seconds("POLICY_MAX_EXTENSION")
            if settings.POLICY_MAX_EXTENSION
            else None
        ),
        max_pool_share=settings.POLICY_MAX_POOL_SHARE
        if settings.POLICY_MAX_POOL_SHARE < 100
        else None,
        quiet=quiet,
    )


def limits_rows(*, site_ids=None, project_id=None, snapshot=None) -> list[PolicyLimit]:
    """The policy rows that may apply, from the planning cache (the table is small)."""
    rows = planning_cached("policy", lambda: list(PolicyLimit.objects.all()), snapshot=snapshot)
    sites = None if site_ids is None else set(site_ids)
    return [
        row
        for row in rows
        if row.project_id in (None, project_id)
        and (sites is None or row.site_id is None or row.site_id in sites)
    ]


def limits_for(rows: list[PolicyLimit], *, site_id, project_id) -> Limits:
    """The strictest of the defaults and the rows that apply to (site, project)."""
    limits = _defaults()
    for row in rows:
        if row.site_id not in (None, site_id) or row.project_id not in (None, project_id):
            continue
        values = {}
        for name in FIELDS:
            value = getattr(row, name)
            if value is None:
                continue
            if isinstance(value, timedelta):
                value = int(value.total_seconds())
            current = getattr(limits, name)
            values[name] = value if current is None else min(current, value)
        if row.quiet_start is not None and limits.quiet is None:
            values["quiet"] = (row.quiet_start, row.quiet_end)
        limits = replace(limits, **values)
    return limits


def _live_leases(owner, now: datetime) -> list[tuple[int, int]]:
    """The owner's accepted leases still to end, as [preparation start, end) in epoch s."""
    rows = Lease.objects.filter(owner=owner, phase__in=sorted(ACTIVE_PHASES), end__gt=now)
    return [(epoch(p), epoch(e)) for p, e in rows.values_list("preparation_start", "end")]


def _saturated(intervals: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """The instants at which at least `limit` of `intervals` are live."""
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    out, live, since = [], 0, None
    for t, delta in points:
        live += delta
        if live >= limit and since is None:
            since = t
        elif live < limit and since is not None:
            if t > since:
                out.append((since, t))
            since = None
    return out


def _quiet(zone: str, quiet: tuple[time, time], lo: int, hi: int) -> list[tuple[int, int]]:
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(lo, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(hi, tz).date()
    out = []
    while day <= last:
        start = datetime.combine(day, quiet[0], tz)
        end = datetime.combine(
            day if quiet[1] > quiet[0] else day + timedelta(days=1), quiet[1], tz
        )
        a, b = int(start.timestamp()), int(end.timestamp())
        if b > lo and a < hi:
            out.append((a, b))
        day += timedelta(days=1)
    return out


def _hm(value: time) -> str:
    return value.strftime("%H:%M")


def request_limits(  # noqa: C901 (one block per kind of limit, in the docstring's order)
    *,
    owner,
    project,
    sites,
    epools,
    normalised: dict,
    now: datetime,
    start: datetime,
    horizon: int,
    snapshot=None,
) -> tuple[engine.Limit, ...]:
    """The engine limits of a request by `owner` charging `project` (or None) over the
    sites (slug → Site) and engine pools it may use, from `start` (the window's beginning
    less its preparation) to `horizon` seconds past the window's end (what the engine looks
    at: the window for offers, a week more for a NO's suggestions)."""
    project_id = project.id if project else None
    rows = limits_rows(
        site_ids=[s.id for s in sites.values()], project_id=project_id, snapshot=snapshot
    )
    per_site = {
        slug: limits_for(rows, site_id=site.id, project_id=project_id)
        for slug, site in sites.items()
    }
    if not per_site:
        return ()
    lo = epoch(now)
    latest = epoch(datetime.fromisoformat(normalised["start"]["latest"].replace("Z", "+00:00")))
    hi = latest + normalised["duration"]["max"] + horizon
    found: list[engine.Limit] = []

    concurrent = {
        slug: v.max_concurrent_leases for slug, v in per_site.items() if v.max_concurrent_leases
    }
    future = {slug: v.max_future_hours for slug, v in per_site.items() if v.max_future_hours}
    if concurrent or future:
        live = _live_leases(owner, now)
        for n in sorted(set(concurrent.values())):
            blocked = _saturated(live, n)
            if blocked:
                found.append(
                    engine.Limit(
                        "policy",
                        f"at most {n} concurrent lease{'s' if n != 1 else ''} per user"
                        f" (you have {n} at some instants of the window)",
                        blocked={slug: blocked for slug, m in concurrent.items() if m == n},
                    )
                )
        booked = sum(max(0, e - max(lo, p)) for p, e in live)
        for h in sorted(set(future.values())):
            left = h * 3600 - booked
            if left < normalised["duration"]["max"]:
                found.append(
                    engine.Limit(
                        "policy",
                        f"at most {h} booked hours ahead per user ({booked / 3600:.4g} h booked,"
                        f" {max(0, left) / 3600:.4g} h left)",
                        longest={slug: max(0, left) for slug, m in future.items() if m == h},
                    )
                )
    for name, words in (
        ("max_lead", "leases start at most {} ahead"),
        ("max_duration", "a lease lasts at most {}"),
    ):
        values = {slug: getattr(v, name) for slug, v in per_site.items() if getattr(v, name)}
        for seconds in sorted(set(values.values())):
            if name == "max_lead" and lo + seconds >= latest:
                continue
            if name == "max_duration" and seconds >= normalised["duration"]["max"]:
                continue
            slugs = [slug for slug, m in values.items() if m == seconds]
            field = "latest_start" if name == "max_lead" else "longest"
            value = lo + seconds if name == "max_lead" else seconds
            found.append(
                engine.Limit(
                    "policy",
                    words.format(booking_policy.words(seconds)) + _at(slugs, per_site),
                    **{field: dict.fromkeys(slugs, value)},
                )
            )
    quiet = {slug: v.quiet for slug, v in per_site.items() if v.quiet}
    for hours in sorted(set(quiet.values())):
        slugs = [slug for slug, q in quiet.items() if q == hours]
        found.append(
            engine.Limit(
                "policy",
                f"no lease holds resources in the quiet hours {_hm(hours[0])}-{_hm(hours[1])}"
                f" (the site's time){_at(slugs, per_site)}",
                blocked={
                    slug: _quiet(sites[slug].timezone, hours, lo - 86400, hi) for slug in slugs
                },
            )
        )
    if project is not None:
        shares = {slug: v.max_pool_share for slug, v in per_site.items() if v.max_pool_share}
        if shares:
            caps = _share_caps(project, epools, shares, min(lo, epoch(start)), hi)
            for share in sorted(set(shares.values())):
                pools = {p: c for p, c in caps.items() if shares.get(c[0]) == share}
                found.append(
                    engine.Limit(
                        "policy",
                        f"project {project.slug!r} may hold at most {share} % of a pool at once",
                        caps={p: c[1] for p, c in pools.items()},
                    )
                )
    return tuple(found)


def _at(slugs, per_site) -> str:
    return "" if len(slugs) == len(per_site) else f" at {', '.join(sorted(slugs))}"


def _share_caps(project, epools, shares: dict, lo: int, hi: int) -> dict:
    """Pool slug → (site slug, cap segments): P % of the pool's capacity less what the
    project's live leases and holds use there, instant by instant."""
    pools = [p for p in epools if p.site in shares]
    if not pools:
        return {}
    by_slug = {p.slug: p for p in pools}
    now = datetime.now(UTC)
    rows = (
        Allocation.objects.filter(
            lease__project=project,
            lease__phase__in=sorted(LOAD_PHASES),
            pool__slug__in=list(by_slug),
            period__overlap=(datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)),
        )
        .exclude(lease__phase=Phase.OFFERED, lease__expires__lte=now)
        .values_list("pool__slug", "period", *DIMENSIONS)
    )
    loads = [
        engine.Load(
            slug,
            epoch(period.lower),
            epoch(period.upper),
            {d: v for d, v in zip(DIMENSIONS, values, strict=True) if v},
        )
        for slug, period, *values in rows
    ]
    caps = {}
    for slug, pool in by_slug.items():
        share = shares[pool.site]

        def part(capacity, share=share):
            return {d: v * share // 100 for d, v in capacity.items()}

        scaled = replace(
            pool,
            base=part(pool.base),
            changes=tuple(replace(c, capacity=part(c.capacity)) for c in pool.changes),
        )
        mine = [load for load in loads if load.pool == slug]
        segments = engine.free_profile(pool=scaled, load=mine, start=lo, end=hi)
        caps[slug] = (pool.site, [(a, b, dict(free)) for a, b, free in segments])
    return caps


def extension_limit(lease) -> int | None:
    """The longest single extension of `lease` in seconds (None: no limit of its own)."""
    rows = limits_rows(site_ids=[lease.site_id], project_id=lease.project_id)
    return limits_for(rows, site_id=lease.site_id, project_id=lease.project_id).max_extension


def duration_limit(lease) -> int:
    rows = limits_rows(site_ids=[lease.site_id], project_id=lease.project_id)
    return limits_for(rows, site_id=lease.site_id, project_id=lease.project_id).max_duration


def request_budget(
    *, project, pools, normalised: dict, snapshot=None, credit=None
) -> engine.Budget:
    """What a request may cost: the SU left, per site, in the allocations of `project` that
    apply to a lease starting in its window (none without a project), at the pools' rates."""
    rates = pool_rates((p.slug for p in pools), snapshot=snapshot)
    if project is None or not rates:
        return engine.Budget(remaining=ZERO if rates else None, rates=rates)
    earliest = normalised["start"]["earliest"].replace("Z", "+00:00")
    latest = normalised["start"]["latest"].replace("Z", "+00:00")
    rows = SUAllocation.objects.filter(
        project=project, valid_from__lte=latest, valid_to__gt=earliest
    ).values_list("site__slug", "su", "spent_su")
    left: dict[str | None, object] = {}
    for site, su, spent in rows:
        left[site] = left.get(site, ZERO) + max(ZERO, su - spent)
    everywhere = left.pop(None, ZERO) + (credit or ZERO)
    by_site = {p.site.slug: everywhere + left.get(p.site.slug, ZERO) for p in pools}
    return engine.Budget(remaining=everywhere, rates=rates, by_site=by_site)
