"""What the pages draw: calendar events, offer timelines, free-capacity charts, phase steps.

EventCalendar knows offsets but not IANA zones, so every time handed to it is the wall-clock
time in the user's zone without an offset ("floating"); the widget then shows it unchanged.
Free capacity comes from the engine's own `free_profile` over the same load the booking guard
counts, so the pictures agree with what an offer set would find.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from bookings.choices import FINAL_PHASES, Phase
from bookings.domain.inventory import eligible_pools, engine_pools, epoch, instant
from bookings.domain.isotime import from_iso
from bookings.domain.planning.load import engine_load
from bookings.models import Lease
from bookings.web.forms import DIMENSION_LABELS
from bookings.web.instants import shifted, shown, utc_offset
from resources.choices import DIMENSIONS_BY_KIND
from scheduler import engine

# Background and text colour per phase; every pair has a contrast ratio of at least 4.5:1, and
# pages always name the phase in text as well (never colour alone).
PHASE_COLOURS = {
    Phase.OFFERED: "#5a6470",
    Phase.ACCEPTED: "#1d5fa6",
    Phase.WAITING: "#3b4f9a",
    Phase.PREPARING: "#8a4b00",
    Phase.AVAILABLE: "#17733a",
    Phase.RUNNING: "#0b6157",
    Phase.RELEASING: "#6a4aa0",
    Phase.COMPLETED: "#444c55",
    Phase.CANCELLED: "#a3222b",
    Phase.FAILED: "#7d1020",
    Phase.REJECTED: "#5f5f5f",
    Phase.EXPIRED: "#5f5f5f",
}
# One colour per offer of a set (white text on each passes 4.5:1).
OFFER_COLOURS = ["#1d5fa6", "#7a2f9b", "#0d6b57", "#a3401a", "#374151", "#9b1d5f"]
CALENDAR_PHASES = [p for p in Phase if p not in {Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED}]


_ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")


def local_times(text: str) -> str:
    """Domain messages carry ISO instants ("held until 2026-11-23T19:45:00Z"); show them as
    wall-clock time in the user's zone, like every other time on the page."""
    return _ISO_INSTANT.sub(
        lambda m: date_format(timezone.localtime(shown(from_iso(m[0]))), "D j M H:i T"), text
    )


def offer_colour(rank: int) -> str:
    return OFFER_COLOURS[rank % len(OFFER_COLOURS)]


def floating(value: datetime) -> str:
    """`value` as wall-clock time in the active zone, without offset, for EventCalendar."""
    return timezone.localtime(shown(value)).strftime("%Y-%m-%dT%H:%M:%S")


def calendar_zone() -> str:
    """The active zone's offset now, for EventCalendar's `timeZone`: its "now" line and
    "today" then follow the user's zone, as the events do, not the browser's."""
    return utc_offset(timezone.localtime())


def amounts_text(amounts: dict) -> str:
    units = {"memory_gib": "GiB memory", "size_gib": "GiB storage", "gpus": "GPU"}
    parts = []
    for dim, value in amounts.items():
        if value:
            parts.append(f"{value} {units.get(dim, DIMENSION_LABELS.get(dim, dim).lower())}")
    return ", ".join(parts)


def allocation_summary(allocations) -> list[dict]:
    """Allocations grouped by component and amounts: "workers: 6 x 26 cores … on pools"."""
    groups: dict = {}
    for a in allocations:
        amounts = a.amounts(nonzero=True)
        group = groups.setdefault(
            (a.component, tuple(amounts.items())), {"pools": {}, "amounts": amounts}
        )
        group["pools"][a.pool.slug] = group["pools"].get(a.pool.slug, 0) + 1
    return [
        {
            "component": component,
            "count": sum(group["pools"].values()),
            "amounts": amounts_text(group["amounts"]),
            "pools": ", ".join(
                f"{pool} ({n})" if n > 1 else pool for pool, n in group["pools"].items()
            ),
        }
        for (component, _), group in groups.items()
    ]


# --- the calendar --------------------------------------------------------------------------


def phase_legend() -> list[dict]:
    return [{"phase": p.value, "colour": PHASE_COLOURS[p]} for p in CALENDAR_PHASES]


def calendar_events(leases) -> list[dict]:
    events = []
    for lease in leases:
        ended = lease.phase in FINAL_PHASES
        events.append(
            {
                "id": str(lease.id),
                "title": f"{lease.name or 'Lease'} · {lease.phase}",
                "start": floating(lease.start),
                "end": floating(lease.end),
                "backgroundColor": PHASE_COLOURS[lease.phase],
                "textColor": "#ffffff",
                "classNames": ["lease-event", f"phase-{lease.phase.lower()}"]
                + (["lease-ended"] if ended else []),
                "extendedProps": {"url": reverse("web:lease", args=[lease.id])},
            }
        )
    return events


# --- the resource timeline of an offer set -------------------------------------------------


@dataclass
class TimelineItem:
    """Something drawn on the timeline: one offer (or suggestion) and its allocations."""

    label: str
    colour: str
    allocations: list[dict] = field(default_factory=list)  # pool, component, amounts, start, end


def offer_items(leases) -> list[TimelineItem]:
    items = []
    for lease in leases:
        items.append(
            TimelineItem(
                label=f"Offer {lease.rank + 1}",
                colour=offer_colour(lease.rank),
                allocations=[
                    {
                        "pool": a.pool.slug,
                        "component": a.component,
                        "amounts": a.amounts(nonzero=True),
                        "start": a.start,
                        "end": a.end,
                    }
                    for a in lease.allocations.all()
                ],
            )
        )
    return items


def suggestion_items(suggestions: list[dict]) -> list[TimelineItem]:
    return [
        TimelineItem(
            label=f"Suggestion {i + 1}",
            colour=offer_colour(i),
            allocations=[
                {**a, "start": from_iso(a["start"]), "end": from_iso(a["end"])}
                for a in s["offer"]["allocations"]
            ],
        )
        for i, s in enumerate(suggestions)
    ]


# A timeline spans at most the booking horizon plus the longest lease (legacy offers may end
# in 9999: they are drawn to the timeline's edge); past a month a column is a day.
TIMELINE_LONGEST = timedelta(days=120)
SLOT_HOURS = (1, 2, 3, 4, 6, 12, 24)
TIMELINE_LEAD_IN = timedelta(days=2)


def offer_timeline(items: list[TimelineItem], *, offer_set, now: datetime) -> dict | None:
    """EventCalendar options: pools of the offered sites as resources (grouped by site), each
    allocation as an event in its offer's colour, and the other bookings' load as shaded
    background (darker = fuller)."""
    allocations = [a for item in items for a in item.allocations]
    if not allocations:
        return None
    used_pools = {a["pool"] for a in allocations}
    enabled = eligible_pools()
    sites = {p.site_id for p in enabled if p.slug in used_pools}
    pools = [p for p in enabled if p.site_id in sites]
    first = shown(min(a["start"] for a in allocations))
    # From now, unless every offer is days ahead: then from the first one, so it is in view.
    start = first if first - now > TIMELINE_LEAD_IN else shown(min(now, first))
    end = min(shown(max(a["end"] for a in allocations)), shifted(start, TIMELINE_LONGEST))
    day_start = timezone.localtime(start).replace(hour=0, minute=0, second=0, microsecond=0)
    days = max(1, -(-(end - day_start) // timedelta(days=1)))
    range_end = day_start + timedelta(days=days)
    resources, events = [], []
    for site in dict.fromkeys(p.site for p in pools):
        resources.append(
            {
                "id": f"site:{site.slug}",
                "title": site.name,
                "children": [
                    {
                        "id": p.slug,
                        "title": p.slug,
                        "extendedProps": {"capacity": amounts_text(p.capacity())},
                    }
                    for p in pools
                    if p.site_id == site.id
                ],
            }
        )
    for pool, profile in _free_profiles(pools, day_start, range_end, exclude_offer_set=offer_set):
        capacity = pool.capacity()
        for seg_start, seg_end, free in profile:
            used = max((1 - free.get(d, 0) / c for d, c in capacity.items() if c), default=0.0)
            if used > 0.02:
                events.append(
                    {
                        "resourceId": pool.slug,
                        "start": floating(instant(seg_start)),
                        "end": floating(instant(seg_end)),
                        "display": "background",
                        "backgroundColor": f"rgba(90, 100, 112, {0.15 + 0.55 * used:.2f})",
                    }
                )
    for item in items:
        for a in item.allocations:
            events.append(
                {
                    "resourceId": a["pool"],
                    "start": floating(a["start"]),
                    "end": floating(a["end"]),
                    "title": f"{item.label}: {a['component']} · {amounts_text(a['amounts'])}",
                    "extendedProps": {"short": item.label},
                    "backgroundColor": item.colour,
                    "textColor": "#ffffff",
                }
            )
    return {
        "date": day_start.strftime("%Y-%m-%d"),
        "days": days,
        # About three dozen columns, so a few days fit a laptop screen without scrolling.
        "slotDuration": f"{next((h for h in SLOT_HOURS if days * 24 / h <= 36), 24):02d}:00",
        "timeZone": calendar_zone(),
        "scrollTime": timezone.localtime(start).strftime("%H:00"),
        "resources": resources,
        "events": events,
    }


def _free_profiles(pools, start: datetime, end: datetime, *, exclude_offer_set=None):
    load = engine_load(
        pools=pools,
        start=start,
        end=end,
        exclude_offer_set=exclude_offer_set.pk if exclude_offer_set is not None else None,
    )
    for pool, epool in zip(pools, engine_pools(pools), strict=True):
        yield pool, engine.free_profile(pool=epool, load=load, start=epoch(start), end=epoch(end))


# --- free capacity per pool, as SVG step charts ---------------------------------------------

CHART_WIDTH = 720
CHART_HEIGHT = 96


@dataclass
class Series:
    dimension: str
    label: str
    capacity: int
    area: str  # SVG path of the free area
    free_now: int
    lowest: int
    lowest_from: datetime
    lowest_to: datetime


@dataclass
class PoolChart:
    pool: object
    series: list[Series]
    ticks: list[dict]
    summary: str


def availability_charts(*, start: datetime, end: datetime) -> list[dict]:
    """Per site, per pool: the free capacity of each dimension over [start, end) as a step
    chart (SVG path coordinates in a CHART_WIDTH by CHART_HEIGHT box, 100 % = base capacity)."""
    pools = eligible_pools()
    load = engine_load(pools=pools, start=start, end=end)
    ticks = _day_ticks(start, end)
    sites: dict = {}
    for pool, epool in zip(pools, engine_pools(pools), strict=True):
        profile = engine.free_profile(pool=epool, load=load, start=epoch(start), end=epoch(end))
        series = []
        for dim in DIMENSIONS_BY_KIND[pool.kind]:
            capacity = max([pool.capacity()[dim], *(free.get(dim, 0) for _, _, free in profile)])
            if not capacity:
                continue
            series.append(_series(dim, capacity, profile, start, end))
        summary = "; ".join(
            f"{s.label.lower()}: {s.free_now} of {s.capacity} free now, lowest {s.lowest} "
            f"from {_short(s.lowest_from)} to {_short(s.lowest_to)}"
            for s in series
        )
        sites.setdefault(pool.site, []).append(PoolChart(pool, series, ticks, summary))
    return [{"site": site, "charts": charts} for site, charts in sites.items()]


def _series(dim, capacity, profile, start: datetime, end: datetime) -> Series:
    span = epoch(end) - epoch(start)

    def x(t: int) -> str:
        return f"{(t - epoch(start)) / span * CHART_WIDTH:.1f}"

    def y(free: int) -> str:
        return f"{CHART_HEIGHT - free / capacity * CHART_HEIGHT:.1f}"

    path = [f"M0,{CHART_HEIGHT}"]
    for seg_start, seg_end, free in profile:
        value = free.get(dim, 0)
        path.append(f"L{x(seg_start)},{y(value)} L{x(seg_end)},{y(value)}")
    path.append(f"L{CHART_WIDTH},{CHART_HEIGHT} Z")
    lowest = min(profile, key=lambda seg: seg[2].get(dim, 0))
    return Series(
        dimension=dim,
        label=DIMENSION_LABELS[dim],
        capacity=capacity,
        area=" ".join(path),
        free_now=profile[0][2].get(dim, 0) if profile else capacity,
        lowest=lowest[2].get(dim, 0),
        lowest_from=instant(lowest[0]),
        lowest_to=instant(lowest[1]),
    )


def _day_ticks(start: datetime, end: datetime) -> list[dict]:
    """A tick at every local midnight (labelled with the day) inside the window."""
    span = (end - start).total_seconds()
    local = timezone.localtime(start)
    # Arithmetic on a zoneinfo datetime is wall-clock: midnight stays midnight across DST.
    day = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    ticks = []
    while day < end:
        offset = (day - start).total_seconds() / span * CHART_WIDTH
        ticks.append(
            {
                "x": f"{offset:.1f}",
                "percent": f"{offset / CHART_WIDTH * 100:.2f}",
                "label": date_format(day, "D j M"),
            }
        )
        day = day + timedelta(days=1)
    return ticks


def _short(value: datetime) -> str:
    return date_format(timezone.localtime(value), "D j M H:i")


def lease_shown(lease: Lease) -> Lease:
    """The lease with its instants clamped for display (`instants.shown`); for pages only,
    never saved."""
    for name in ("start", "end", "preparation_start", "expires"):
        setattr(lease, name, shown(getattr(lease, name)))
    return lease


# --- a lease's phases -------------------------------------------------------------------------

HAPPY_PATH = [
    Phase.OFFERED,
    Phase.ACCEPTED,
    Phase.WAITING,
    Phase.PREPARING,
    Phase.AVAILABLE,
    Phase.RUNNING,
    Phase.RELEASING,
    Phase.COMPLETED,
]


def phase_steps(lease: Lease, events) -> list[dict]:
    """The phases the lease went through (with when) and, unless it is over, those ahead (with
    when they are planned). RUNNING only appears for leases that carry an executable."""
    reached = {}
    for event in events:
        if event.to_phase and event.to_phase not in reached:
            reached[event.to_phase] = event.time
    path = [p for p in HAPPY_PATH if p != Phase.RUNNING or lease.executable]
    if lease.phase in FINAL_PHASES and lease.phase != Phase.COMPLETED:
        path = [p for p in path if p in reached and p != lease.phase] + [lease.phase]
    planned = {
        Phase.WAITING: None,
        Phase.PREPARING: lease.preparation_start,
        Phase.AVAILABLE: lease.start,
        Phase.RELEASING: lease.end,
        Phase.COMPLETED: lease.end,
    }
    current = path.index(lease.phase) if lease.phase in path else len(path)
    return [
        {
            "phase": phase,
            "state": "done" if i < current else "current" if i == current else "upcoming",
            "time": reached.get(phase) or (planned.get(phase) if i > current else None),
            "planned": phase not in reached,
        }
        for i, phase in enumerate(path)
    ]
