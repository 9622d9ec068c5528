"""Every page and every API GET, for leases in every phase and of every length, in zones ahead
of and behind UTC: never a server error.

The URL list comes from the resolver, so a new page is swept as soon as it is routed; a route
with a parameter this sweep does not know how to fill is itself a failure. Leases and offer
sets are written straight into the database (as legacy rows would be), including ends in the
year 9999 that the domain no longer accepts but older databases hold.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from bookings.choices import ActorKind, OfferSetResult, Phase
from bookings.domain import policy
from bookings.models import Lease, LeaseEvent, OfferSet, Profile
from bookings.web.pictures import floating
from notices.choices import Kind
from notices.domain.outbox import lease_notice, offer_held_notice
from notices.domain.preferences import unsubscribe_token
from notices.models import Delivery, Notice, WebhookEndpoint
from resources.models import Pool

pytestmark = [pytest.mark.integration]

# A health check is 503 while no tick runs (its contract); everything else must be below 500.
FINE = {"healthz": {503}}
ZONES = ["UTC", "Australia/Sydney", "America/Los_Angeles", "Pacific/Chatham"]
LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# What each adapter's prepare() returns (adapters/simulated.py, spark.py, slurm.py).
CONNECTORS = [
    {"kind": "simulated", "url": "simulated://x", "label": "Simulated"},
    {"kind": "spark", "url": "spark://127.0.0.1:7077", "label": "Spark master"},
    {"kind": "spark-ui", "url": "http://127.0.0.1:8080", "label": "Spark master web UI"},
    {"kind": "slurm-reservation", "name": "wcidt-x", "url": "slurm://c/reservation/wcidt-x"},
    {"kind": "ssh", "host": "edi-1", "port": 22},
    None,
]


def _setting(name: str, default: timedelta) -> timedelta:
    return timedelta(seconds=policy.limit_seconds(name))


def shapes(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """(start, end) of each kind of lease: shortest, longest, at the horizon, past, legacy."""
    longest = _setting("BOOKING_MAX_DURATION", timedelta(days=14))
    horizon = now + _setting("BOOKING_MAX_END", timedelta(days=90))
    return {
        "1 min": (now + timedelta(minutes=5), now + timedelta(minutes=6)),
        "started": (now - timedelta(minutes=5), now + timedelta(minutes=25)),
        "longest": (now + timedelta(hours=1), now + timedelta(hours=1) + longest),
        "at the horizon": (horizon - longest, horizon),
        "past": (now - timedelta(days=3), now - timedelta(days=2)),
        "legacy 9999": (now + timedelta(hours=2), LAST),
        "legacy 9999 start": (LAST - timedelta(hours=9), LAST),
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _request(start: datetime, end: datetime) -> dict:
    """A normalised request (as offer sets store it) asking for [start, end)."""
    seconds = int((end - start).total_seconds())
    return {
        "name": "sweep",
        "components": [
            {
                "name": "main",
                "kind": "compute",
                "replicas": 1,
                "amounts": {"cores": {"min": 2, "max": 2}},
            }
        ],
        "datasets": [],
        "site": None,
        "duration": {"min": seconds, "max": seconds},
        "start": {"earliest": _iso(start), "latest": _iso(end)},
        "max_offers": 4,
        "executable": None,
    }


def write_rows(owner, now: datetime) -> dict:
    pool = Pool.objects.filter(kind="compute", enabled=True).order_by("slug").first()
    leases, offer_sets = [], []
    for name, (start, end) in shapes(now).items():
        yes = OfferSet.objects.create(
            owner=owner,
            name=name,
            request=_request(start, end),
            result=OfferSetResult.YES,
            expires=now + timedelta(minutes=5),
        )
        allocation = {
            "pool": pool.slug,
            "component": "main",
            "replica": 0,
            "amounts": {"cores": 2},
            "start": _iso(start),
            "end": _iso(end),
        }
        suggestion = {
            "kind": "later",
            "message": f"first slot {_iso(start)} until {_iso(end)}",
            "offer": {
                "site": pool.site.slug,
                "start": _iso(start),
                "end": _iso(end),
                "preparation_start": _iso(start),
                "allocations": [allocation],
            },
            "request": _request(start, end),
        }
        no = OfferSet.objects.create(
            owner=owner,
            name=name,
            request=_request(start, end),
            result=OfferSetResult.NO,
            messages=[{"kind": "window", "path": "", "message": f"nothing until {_iso(end)}"}],
            suggestions=[suggestion],
            expires=now + timedelta(minutes=5),
        )
        offer_sets += [yes, no]
        for rank, phase in enumerate(Phase):
            lease = Lease.objects.create(
                offer_set=yes,
                rank=rank,
                name=f"{name} {phase}",
                owner=owner,
                phase=phase,
                site=pool.site,
                start=start,
                end=end,
                preparation_start=start - timedelta(minutes=1),
                expires=now + timedelta(minutes=5) if phase == Phase.OFFERED else None,
                connectors=CONNECTORS if phase in {Phase.AVAILABLE, Phase.RUNNING} else [],
                executable={"kind": "spark-job"} if phase == Phase.RUNNING else None,
            )
            lease.allocations.create(
                pool=pool, component="main", cores=2, period=DateTimeTZRange(start, end, "[)")
            )
            LeaseEvent.objects.create(
                lease=lease,
                from_phase=Phase.OFFERED,
                to_phase=phase,
                actor_kind=ActorKind.SYSTEM,
                message=f"moved; it ends {_iso(end)}, began {_iso(start)}",
            )
            leases.append(lease)
    endpoint = WebhookEndpoint.objects.create(user=owner, url="https://93.184.215.14/hook")
    notices = write_notices(owner, leases, offer_sets, endpoint)
    return {
        "leases": leases,
        "offer_sets": offer_sets,
        "pool": pool,
        "endpoint": endpoint,
        "notices": notices,
    }


def write_notices(owner, leases, offer_sets, endpoint) -> list[Notice]:
    """A notice of every kind: for each lease kind, one per lease shape (its AVAILABLE
    lease), with the data its writer gives it (legacy 9999 times included)."""
    notices = []
    for lease in (lease for lease in leases if lease.phase == Phase.AVAILABLE):
        extra = {
            "connectors": CONNECTORS,
            "latest_end": _iso(lease.end),
            "old_start": _iso(lease.start),
            "old_end": _iso(lease.end),
            "why": "maintenance",
            "deadline": _iso(lease.end),
            "message": f"failed at {_iso(lease.end)}",
        }
        notices += [
            lease_notice(lease, kind=kind, data=extra) for kind in Kind if kind.startswith("lease.")
        ]
    for offer_set in offer_sets:
        notices.append(offer_held_notice(offer_set, list(offer_set.leases.all())))
    notices += [
        Notice(user=owner, kind=Kind.BUDGET_WARNING, data={"project": "gaia", "message": "80 %"}),
        Notice(user=owner, kind=Kind.WEBHOOK_TEST, endpoint=endpoint),
        Notice(user=owner, kind=Kind.WEBHOOK_DISABLED, endpoint=endpoint, data={"failures": 15}),
    ]
    Notice.objects.bulk_create(notices)
    Delivery.objects.create(notice=notices[0], channel="webhook", endpoint=endpoint)
    return notices


def routes() -> list[tuple[str, str | None, list[str]]]:
    """(path template with {param} holes, URL name, params) of every routed GET-able page
    outside the admin (Django's own)."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            text = prefix + _route(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, text)
            elif isinstance(p, URLPattern) and not text.startswith("admin/"):
                found.append((text, p.name, re.findall(r"\{(\w+)\}", text)))

    walk(get_resolver().url_patterns, "")
    return found


def _route(pattern) -> str:
    text = str(pattern)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    return text.replace("^", "").replace("$", "").replace("/?", "")


def fillings(path: str, param: str, rows: dict) -> list[str] | None:
    leases = [str(lease.id) for lease in rows["leases"]]
    offer_sets = [str(o.id) for o in rows["offer_sets"]]
    if param == "lease_id" or (param in {"id", "uuid"} and re.search("lease|session", path)):
        return leases
    if param == "offer_set_id" or (param in {"id", "uuid"} and "offer" in path):
        return offer_sets
    if param == "id" and "webhooks" in path:
        return [str(rows["endpoint"].id)]
    if param in {"id", "slug"} and "projects" in path:  # the demo's, and one nobody has
        return ["gaia-dmp", "nope"]
    if param == "id" and "capacity-changes" in path:  # no GET: 405 as problem+json
        return ["1", "99999999999999999999"]
    return {
        "slug": [rows["pool"].slug],
        "index": ["0", "5"],
        "path": ["nope/"],
        "token": [unsubscribe_token(rows["endpoint"].user), "not-a-token"],
        "name": ["nope.eml", "..", "x"],
    }.get(param)


def queries(name: str, rows: dict, now: datetime, token: str) -> list[str]:
    """Query strings worth sending to a page besides none: windows around every kind of lease."""
    windows = []
    for start, end in shapes(now).values():
        for t in {start, end}:
            low, high = max(t - timedelta(days=1), now - timedelta(days=4)), t
            windows.append((low, high))
    local = [(floating(a), floating(b)) for a, b in windows]
    utc = [(_iso(a), _iso(b)) for a, b in windows]
    return {
        "calendar-events": [f"start={a}&end={b}" for a, b in local]
        + [
            "start=9999-12-30T00:00:00&end=9999-12-31T23:59:59",
            "start=0001-01-01T00:00:00&end=0001-01-02T00:00:00",
        ],
        "calendar": [
            "date=9999-12-31",
            "date=0001-01-01",
            f"date={now:%Y-%m-%d}",
            "token=" + token,
        ],
        "availability": ["days=1", "days=14", "days=99999999999999999999"],
        # every page of notices (of every kind, for every shape of lease), and bad pages
        "list": [f"page={n}" for n in range(1, len(rows["notices"]) // 25 + 2)]
        + ["page=0", "page=x", "page=99999999999999999999"],
        "lease-extend": [
            "end=9999-12-31T23:59",
            "end=0001-01-01T00:00",
            "end=2030-01-01T00:00",
            "end=x",
        ],
        "pool-availability": [f"start={a}&end={b}" for a, b in utc],
        "lease-list": [f"start={a}&end={b}" for a, b in utc] + [f"phase={p}" for p in Phase],
    }.get(name, [])


def sweep_urls(rows, now, token) -> tuple[list[tuple[str, str]], list[str]]:
    """(route name, url) for every route filled with every row and query; and the routes the
    sweep could not fill, as failures."""
    urls, failures = [], []
    for path, name, params in routes():
        values = [fillings(path, p, rows) for p in params]
        if any(v is None for v in values):
            failures.append(f"{path}: the sweep cannot fill {params}; teach fillings() about it")
            continue
        combos = [{}]
        for param, options in zip(params, values, strict=True):
            combos = [{**c, param: v} for c in combos for v in options]
        for combo in combos:
            url = "/" + path.format(**combo)
            urls.append((name, url))
            urls += [(name, f"{url}?{q}") for q in queries(name, rows, now, token)]
    return urls, failures


def sweep_failures(client, astro, urls) -> list[str]:
    """Every GET of `urls` in every zone that raised or answered 5xx (bar FINE)."""
    failures, not_get = [], set()
    for zone in ZONES:
        Profile.objects.filter(user=astro).update(timezone=zone)
        for name, url in urls:
            if name in not_get:
                continue
            try:
                response = client.get(url)
            except Exception as error:
                failures.append(f"{zone} {url}: {type(error).__name__}: {error}")
                continue
            if response.status_code == 405:
                not_get.add(name)  # a POST-only route: its GET renders nothing worth repeating
            elif response.status_code >= 500 and response.status_code not in FINE.get(name, ()):
                failures.append(f"{zone} {url}: {response.status_code}")
    return failures


def test_every_page_and_api_get_renders_for_every_lease_in_every_zone(astro_client, astro):
    now = timezone.now()
    rows = write_rows(astro, now)
    token = Profile.objects.get_or_create(user=astro)[0].ical_token
    urls, failures = sweep_urls(rows, now, token)
    assert len(urls) > 1000
    failures += sweep_failures(astro_client, astro, urls)
    assert failures == [], f"{len(failures)} failures, first: " + "\n".join(failures[:40])


def test_the_sweep_covers_every_phase_shape_and_route(astro, demo):
    rows = write_rows(astro, timezone.now())
    assert {lease.phase for lease in rows["leases"]} == set(Phase)
    assert {lease.end for lease in rows["leases"]} >= {LAST}
    names = {name for _path, name, _params in routes()}
    assert {"lease", "lease-live", "offer-set", "calendar-events", "lease-detail"} <= names
