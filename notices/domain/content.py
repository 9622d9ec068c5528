"""What a notice says: subject, lines and link for e-mail and the web (times in the owner's
zone), and the JSON payload of its webhook. Rendered when it is delivered or shown, from the
snapshot written with it (`Notice.data`) and the lease's name and site."""

from dataclasses import dataclass, field
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse

from bookings.domain.connectors import connector_rows
from bookings.domain.isotime import iso, parse_instant, shown
from bookings.models import Profile
from notices.choices import Kind
from notices.models import Notice


@dataclass
class Content:
    subject: str
    lines: list[str]
    link: str
    link_label: str = "Open it"
    what_next: list[str] = field(default_factory=list)


def site_url(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def user_zone(user) -> ZoneInfo:
    profile = Profile.objects.filter(user=user).only("timezone").first()
    return ZoneInfo(profile.timezone if profile else "UTC")


def local(value: str | None, zone: ZoneInfo) -> str:
    """An ISO instant of a snapshot in `zone`: "Thu 3 Dec 2026, 14:05 CET"."""
    instant = shown(parse_instant(value)) if value else None
    if instant is None:
        return "—"
    moment = instant.astimezone(zone)
    return f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M %Z}"


def _lease_name(notice: Notice) -> str:
    lease = notice.lease
    return (lease.name or f"Lease {str(lease.id)[:8]}") if lease else "Your lease"


def notice_content(notice: Notice, *, zone: ZoneInfo | None = None) -> Content:
    zone = zone or user_zone(notice.user)
    return RENDERERS[notice.kind](notice, notice.data, zone)


def _lease_link(notice: Notice) -> str:
    return site_url(reverse("web:lease", args=[notice.lease_id]))


DASH = "\N{EN DASH}"


def _between(start: str | None, end: str | None, zone: ZoneInfo) -> str:
    return f"{local(start, zone)} {DASH} {local(end, zone)}"


def _span(data: dict, zone: ZoneInfo) -> str:
    return _between(data.get("start"), data.get("end"), zone)


def _held(notice, data, zone) -> Content:
    name = (notice.offer_set.name if notice.offer_set else "") or "your request"
    lines = [f"Offers for {name} are held for you until {local(data.get('expires'), zone)}:"]
    lines += [f"• {_between(o['start'], o['end'], zone)}" for o in data["offers"]]
    link = site_url(reverse("web:offer-set", args=[notice.offer_set_id]))
    return Content(f"Offers held: {name}", lines, link, "Choose one")


def _accepted(notice, data, zone) -> Content:
    name = _lease_name(notice)
    site = notice.lease.site.name
    lines = [f"{name} is booked at {site}: {_span(data, zone)}."]
    return Content(f"Booked: {name}", lines, _lease_link(notice), "See the lease")


def _preparing(notice, data, zone) -> Content:
    name = _lease_name(notice)
    start = parse_instant(data.get("start"))
    verb = "started" if start and start <= notice.created else "starts"
    lines = [f"{name} is being prepared; it {verb} {local(data.get('start'), zone)}."]
    return Content(f"Preparing: {name}", lines, _lease_link(notice), "Watch it start")


def _available(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} is ready until {local(data.get('end'), zone)}."]
    connectors = connector_rows(data.get("connectors"))
    if connectors:
        lines.append("How to reach it:")
        lines += [f"• {c['label']}: {c['target']}" for c in connectors]
    return Content(f"Ready: {name}", lines, _lease_link(notice), "Open the lease")


def _ending_soon(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} ends {local(data.get('end'), zone)}."]
    latest = data.get("latest_end")
    what_next = []
    if latest and latest != data.get("end"):
        what_next.append(f"An extension could reach {local(latest, zone)} now.")
    else:
        what_next.append("It cannot be extended now: other bookings or less capacity follow.")
    link = site_url(reverse("web:lease-extend", args=[notice.lease_id]))
    return Content(f"Ending soon: {name}", lines, link, "Extend it", what_next)


def _completed(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} has ended ({_span(data, zone)}); its resources are released."]
    return Content(f"Ended: {name}", lines, _lease_link(notice), "See what happened")


def _failed(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} failed: {data.get('message') or 'no reason was given'}."]
    return Content(
        f"Failed: {name}",
        lines,
        _lease_link(notice),
        "See its events",
        ["Its resources are being released. Ask again for a new slot."],
    )


def _cancelled(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} ({_span(data, zone)}) is cancelled."]
    return Content(f"Cancelled: {name}", lines, _lease_link(notice), "See the lease")


def _moved(notice, data, zone) -> Content:
    name = _lease_name(notice)
    old = _between(data.get("old_start"), data.get("old_end"), zone)
    lines = [f"{name} was moved from {old} to {_span(data, zone)}."]
    if data.get("why"):
        lines.append(f"Why: {data['why']}")
    what_next = [data.get("what_next") or "If the new time does not suit you, cancel it."]
    return Content(f"Moved: {name}", lines, _lease_link(notice), "See the lease", what_next)


def _displaced(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} ({_span(data, zone)}) cannot keep its time."]
    if data.get("why"):
        lines.append(f"Why: {data['why']}")
    offers = data.get("offers") or []
    if offers:
        lines.append("Fresh offers, held for you until the deadline:")
        lines += [f"• {_between(o['start'], o['end'], zone)}" for o in offers]
    elif "offers" in data:
        lines.append("No fresh offer fits within the booking limits now.")
    what_next = [data.get("what_next") or "Pick one of the fresh offers, or cancel it."]
    if data.get("deadline"):
        what_next.append(f"Decide by {local(data['deadline'], zone)}.")
    if data.get("offer_set"):
        link = site_url(reverse("web:offer-set", args=[data["offer_set"]]))
        return Content(f"Needs a new time: {name}", lines, link, "Choose", what_next)
    return Content(
        f"Needs a new time: {name}", lines, _lease_link(notice), "See the lease", what_next
    )


def _degraded(notice, data, zone) -> Content:
    name = _lease_name(notice)
    lines = [f"{name} ({_span(data, zone)}) lost some of the capacity it runs on."]
    if data.get("why"):
        lines.append(f"Why: {data['why']}")
    what_next = [data.get("what_next") or "It keeps running; expect it to be slower."]
    return Content(f"Degraded: {name}", lines, _lease_link(notice), "See the lease", what_next)


def _budget(notice, data, zone) -> Content:
    lines = [data.get("message") or "A budget you spend from is running low."]
    return Content(
        f"Budget warning: {data.get('project', 'your project')}",
        lines,
        site_url(reverse("web:dashboard")),
        "Open the dashboard",
    )


def _webhook_disabled(notice, data, zone) -> Content:
    url = data.get("url", "")
    lines = [
        f"Your webhook endpoint {url} was disabled after {data.get('failures')} failed"
        f" attempts in a row. The last: {data.get('last_error') or 'unknown'}."
    ]
    what_next = [
        "Fix the receiver, then enable it again: PATCH /api/v1/webhooks/"
        f'{notice.endpoint_id}/ with {{"enabled": true}}.'
    ]
    return Content(
        "Webhook endpoint disabled", lines, site_url("/api/docs/"), "API documentation", what_next
    )


def _test(notice, data, zone) -> Content:
    return Content("Test event", ["A test event, sent on request."], site_url("/"), "Home")


RENDERERS = {
    Kind.OFFER_SET_HELD: _held,
    Kind.LEASE_ACCEPTED: _accepted,
    Kind.LEASE_PREPARING: _preparing,
    Kind.LEASE_AVAILABLE: _available,
    Kind.LEASE_ENDING_SOON: _ending_soon,
    Kind.LEASE_COMPLETED: _completed,
    Kind.LEASE_FAILED: _failed,
    Kind.LEASE_CANCELLED: _cancelled,
    Kind.LEASE_MOVED: _moved,
    Kind.LEASE_DISPLACED: _displaced,
    Kind.LEASE_DEGRADED: _degraded,
    Kind.BUDGET_WARNING: _budget,
    Kind.WEBHOOK_DISABLED: _webhook_disabled,
    Kind.WEBHOOK_TEST: _test,
}


def notice_payload(notice: Notice) -> dict:
    """The Standard Webhooks payload: {"type", "timestamp", "data"}; the data names the
    notice and, for a lease notice, the lease as the API shows where to find it."""
    data = {"notice": str(notice.id), **notice.data}
    if notice.lease_id:
        lease = notice.lease
        data["lease"] = {
            "id": str(lease.id),
            "name": lease.name,
            "site": lease.site.slug,
            "url": site_url(reverse("api:lease-detail", args=[lease.id])),
            "web_url": _lease_link(notice),
        }
    if notice.offer_set_id:
        data["offer_set"] = {
            "id": str(notice.offer_set_id),
            "url": site_url(reverse("api:offer-set-detail", args=[notice.offer_set_id])),
        }
    return {"type": notice.kind, "timestamp": iso(notice.created), "data": data}
