"""The astronomers' pages (DESIGN §7 Web). Thin: parse the form, call one domain function,
render or redirect. Every write is a POST with the CSRF token; every lease and offer set is
looked up for the signed-in user, so another user's id is a 404."""

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookings.choices import ACTIVE_PHASES, FINAL_PHASES, OfferSetResult, Phase
from bookings.domain import policy
from bookings.domain.connectors import connector_rows
from bookings.domain.errors import DomainError
from bookings.domain.isotime import from_iso
from bookings.domain.leases import (
    lease_accept,
    lease_actions,
    lease_cancel,
    lease_extend,
    lease_for_user,
    lease_release_early,
)
from bookings.domain.offer_sets import offer_set_create, offer_set_decline
from bookings.domain.requests import request_normalise
from bookings.domain.selectors import offer_set_for_user
from bookings.models import Allocation, Lease, OfferSet
from bookings.web import forms, pictures
from bookings.web.instants import shifted, showable, shown
from bookings.web.profiles import profile_for_user, profile_ical_token_reset, profile_timezone_set
from resources.models import Template

AVAILABILITY_DAYS = (1, 3, 7, 14)
LIVE_POLL_SECONDS = 3


def _with_allocations(leases):
    return leases.prefetch_related(
        Prefetch("allocations", queryset=Allocation.objects.select_related("pool"))
    )


# --- dashboard -------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request):
    return _dashboard(request, forms.QuickAskForm())


def _dashboard(request, quick_form, status=200):
    upcoming = (
        Lease.objects.filter(owner=request.user, phase__in=ACTIVE_PHASES, end__gt=timezone.now())
        .select_related("site")
        .order_by("start")[:10]
    )
    context = {
        "leases": [pictures.lease_shown(lease) for lease in upcoming],
        "quick_form": quick_form,
    }
    return render(request, "web/dashboard.html", context, status=status)


@login_required
@require_POST
def ask(request):
    """The dashboard's quick question, answered at once with an offer set."""
    form = forms.QuickAskForm(request.POST)
    if form.is_valid():
        try:
            offer_set = offer_set_create(owner=request.user, data=form.request_data())
        except DomainError as error:
            forms.quick_errors_attach(error, form)
        else:
            return redirect("web:offer-set", offer_set.id)
    return _dashboard(request, form, status=400)


# --- booking ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def book(request):
    now = timezone.now()
    templates = Template.objects.all()
    if request.method == "POST":
        form = forms.BookingForm(request.POST, user=request.user)
        formset = forms.ComponentFormSet(request.POST, prefix="components")
        if form.is_valid() and formset.is_valid():
            data = forms.request_data(form, formset, now=now)
            try:
                offer_set = offer_set_create(owner=request.user, data=data)
            except DomainError as error:
                forms.domain_errors_attach(error, form, formset)
            else:
                return redirect("web:offer-set", offer_set.id)
        return _book(request, form, formset, templates, status=400)
    chosen = request.GET.get("template")
    template = templates.filter(slug=chosen).first() if chosen else None
    if chosen and template is None:
        messages.error(request, f"There is no template “{chosen}”; pick one from the list.")
    initial, rows = {"max_offers": 4}, [{"name": "main", "kind": "compute", "replicas": 1}]
    if template is not None:
        try:
            normalised = request_normalise(data=template.request, now=now)
        except DomainError as error:
            messages.error(request, f"The template “{template.name}” is not valid: {error}")
        else:
            initial, rows = forms.booking_initial(normalised, now=now)
    form = forms.BookingForm(initial=initial, user=request.user)
    formset = forms.ComponentFormSet(initial=rows, prefix="components")
    return _book(request, form, formset, templates, template=template)


def _book(request, form, formset, templates, *, template=None, status=200):
    context = {"form": form, "formset": formset, "templates": templates, "template": template}
    return render(request, "web/book.html", context, status=status)


def _offer_set_for(request, offer_set_id) -> OfferSet:
    try:
        return offer_set_for_user(offer_set_id=offer_set_id, user=request.user)
    except DomainError as error:
        raise Http404(error.title) from None


@login_required
@require_GET
def offer_set_detail(request, offer_set_id):
    now = timezone.now()
    offer_set = _offer_set_for(request, offer_set_id)
    offers = list(_with_allocations(offer_set.leases.select_related("site")).order_by("rank"))
    offer_set.expires = shown(offer_set.expires)
    for offer in offers:
        pictures.lease_shown(offer)
        offer.colour = pictures.offer_colour(offer.rank)
        offer.summary = pictures.allocation_summary(offer.allocations.all())
    if offer_set.result == OfferSetResult.YES:
        items = pictures.offer_items(offers)
    else:
        items = pictures.suggestion_items(offer_set.suggestions)
    initial, rows = forms.booking_initial(offer_set.request, now=now)
    context = {
        "offer_set": offer_set,
        "offers": offers,
        "holding": any(o.phase == Phase.OFFERED for o in offers),
        "timeline": pictures.offer_timeline(items, offer_set=offer_set, now=now),
        "reasons": [pictures.local_times(m["message"]) for m in offer_set.messages],
        "suggestions": [
            {
                "message": pictures.local_times(s["message"]),
                "site": s["offer"]["site"],
                "start": shown(from_iso(s["offer"]["start"])),
                "end": shown(from_iso(s["offer"]["end"])),
            }
            for s in offer_set.suggestions
        ],
        "form": forms.BookingForm(initial=initial, user=request.user),
        "formset": forms.ComponentFormSet(initial=rows, prefix="components"),
    }
    return render(request, "web/offer_set.html", context)


@login_required
@require_POST
def offer_set_relax(request, offer_set_id, index):
    """Ask again with one of the relaxed requests a NO suggested."""
    offer_set = _offer_set_for(request, offer_set_id)
    if not 0 <= index < len(offer_set.suggestions):
        raise Http404("No such suggestion.")
    data = forms.request_input(offer_set.suggestions[index]["request"])
    if from_iso(offer_set.suggestions[index]["request"]["start"]["latest"]) < timezone.now():
        data.pop("start")  # the suggested window has passed: look from now on
    try:
        relaxed = offer_set_create(owner=request.user, data=data)
    except DomainError as error:
        messages.error(request, f"Asking again did not work: {error}")
        return redirect("web:offer-set", offer_set.id)
    return redirect("web:offer-set", relaxed.id)


@login_required
@require_POST
def offer_set_decline_view(request, offer_set_id):
    """Release every offer of the set not yet accepted (the "Decline these offers" button)."""
    offer_set = _offer_set_for(request, offer_set_id)
    declined = offer_set_decline(offer_set=offer_set, user=request.user)
    if declined:
        messages.success(request, f"Declined {declined} offer{pluralize(declined)}: released.")
    return redirect("web:offer-set", offer_set.id)


@login_required
@require_POST
def accept(request, lease_id):
    try:
        lease = lease_accept(lease_id=lease_id, user=request.user)
    except DomainError as error:
        if error.status == 404:
            raise Http404(error.title) from None
        messages.error(request, error.title)
        fresh = error.extra.get("fresh_offer_set")
        if fresh:
            messages.info(request, "Here are fresh offers for the same request.")
            return redirect("web:offer-set", fresh)
        lease = _lease(request, lease_id)
        if lease.offer_set_id:
            return redirect("web:offer-set", lease.offer_set_id)
        return redirect("web:lease", lease.id)
    messages.success(request, f"Booked: {lease.name or 'your lease'} is yours.")
    return redirect("web:lease", lease.id)


# --- calendar and profile -------------------------------------------------------------------


@login_required
@require_GET
def calendar(request):
    token = profile_for_user(user=request.user).ical_token
    feed = request.build_absolute_uri(reverse("api:calendar")) + f"?token={token}"
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        day = timezone.localdate()  # no (or no valid) day asked for: today
    context = {
        "feed_url": feed,
        "legend": pictures.phase_legend(),
        "day": day,
        "time_zone": pictures.calendar_zone(),
    }
    return render(request, "web/calendar.html", context)


@login_required
@require_GET
def calendar_events(request):
    """EventCalendar's event source: the user's bookings overlapping [start, end) (wall-clock
    times in the user's zone, as the widget sends them)."""
    try:
        start, end = (_local(request.GET.get(key, "")) for key in ("start", "end"))
    except ValueError:
        return JsonResponse(
            {"error": "start and end must be ISO 8601 date-times, start before end"}, status=400
        )
    if end <= start or end - start > timedelta(days=62):
        return JsonResponse({"error": "end must follow start, at most 62 days later"}, status=400)
    leases = (
        Lease.objects.filter(owner=request.user, start__lt=end, end__gt=start)
        .exclude(phase__in=[Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED])
        .order_by("start")
    )
    return JsonResponse(pictures.calendar_events(leases), safe=False)


@login_required
@require_POST
def ical_reset(request):
    profile_ical_token_reset(user=request.user)
    messages.success(request, "A new subscribe link is ready; the old one no longer works.")
    return redirect("web:calendar")


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    current = profile_for_user(user=request.user)
    form = forms.ProfileForm(request.POST or None, initial={"timezone": current.timezone})
    if request.method == "POST":
        if form.is_valid():
            profile_timezone_set(user=request.user, timezone=form.cleaned_data["timezone"])
            messages.success(request, f"Times are now shown in {form.cleaned_data['timezone']}.")
            return redirect("web:profile")
        return render(request, "web/profile.html", {"form": form}, status=400)
    return render(request, "web/profile.html", {"form": form})


# --- availability ---------------------------------------------------------------------------


@login_required
@require_GET
def availability(request):
    try:
        days = int(request.GET.get("days", 3))
    except ValueError:
        days = 0
    if days not in AVAILABILITY_DAYS:
        days = 3
        messages.error(request, "Pick one of the offered spans; showing 3 days.")
    start = timezone.now().replace(second=0, microsecond=0)
    end = start + timedelta(days=days)
    context = {
        "sites": pictures.availability_charts(start=start, end=end),
        "days": days,
        "spans": AVAILABILITY_DAYS,
        "start": start,
        "end": end,
        "width": pictures.CHART_WIDTH,
        "height": pictures.CHART_HEIGHT,
    }
    return render(request, "web/availability.html", context)


# --- one lease -------------------------------------------------------------------------------


def _lease(request, lease_id) -> Lease:
    """The user's lease, its instants clamped for display (the views only read it)."""
    try:
        return pictures.lease_shown(lease_for_user(lease_id=lease_id, user=request.user))
    except DomainError as error:
        raise Http404(error.title) from None


def _lease_context(lease: Lease) -> dict:
    actions = lease_actions(lease, now=timezone.now())
    events = list(lease.events.select_related("actor"))
    for event in events:
        event.note = pictures.local_times(event.message)
    return {
        "lease": lease,
        "events": events,
        "steps": pictures.phase_steps(lease, events),
        "colour": pictures.PHASE_COLOURS[lease.phase],
        "connectors": connector_rows(lease.connectors),
        "can_cancel": "cancel" in actions,
        "can_release": "release" in actions,
        "can_extend": "extend" in actions,
        "live": lease.phase not in FINAL_PHASES,
        "poll_seconds": LIVE_POLL_SECONDS,
    }


@login_required
@require_GET
def lease_detail(request, lease_id):
    lease = _lease(request, lease_id)
    context = _lease_context(lease)
    context["allocations"] = list(lease.allocations.select_related("pool"))
    for allocation in context["allocations"]:
        allocation.amounts_label = pictures.amounts_text(allocation.amounts(nonzero=True))
        allocation.shown_start, allocation.shown_end = (
            shown(allocation.start),
            shown(allocation.end),
        )
    context["extend_form"] = forms.ExtendForm(
        initial={"end": shifted(lease.end, timedelta(hours=1))}
    )
    context["consent"] = _consent(lease.flex)
    return render(request, "web/lease.html", context)


def _consent(flex: dict | None) -> str:
    """How far the lease may move if a capacity change hits it, in words."""
    flex = flex or {}
    parts = [
        f"up to {policy.words(flex[key])} {word}"
        for key, word in (("before", "earlier"), ("after", "later"))
        if flex.get(key)
    ]
    if not parts:
        return "it keeps its time (it may move to an equivalent pool)"
    return "it may start " + " or ".join(parts)


@login_required
@require_GET
def lease_live(request, lease_id):
    """The part of the lease page that changes by itself; htmx polls it while the lease lives."""
    lease = _lease(request, lease_id)
    return render(request, "web/_lease_live.html", {**_lease_context(lease), "oob": True})


@login_required
@require_http_methods(["GET", "POST"])
def lease_cancel_view(request, lease_id):
    return _confirmed(
        request,
        lease_id,
        action=lambda: lease_cancel(lease_id=lease_id, user=request.user),
        question="Cancel this lease?",
        consequence="Its resources are released and the slot goes back to others. "
        "This cannot be undone.",
        button="Yes, cancel the lease",
        done="The lease is cancelled.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def lease_release_view(request, lease_id):
    return _confirmed(
        request,
        lease_id,
        action=lambda: lease_release_early(lease_id=lease_id, user=request.user),
        question="Release this lease now?",
        consequence="It ends now: the resources are torn down and anything still running "
        "on them stops.",
        button="Yes, release it now",
        done="The lease is being released.",
    )


def _confirmed(request, lease_id, *, action, question, consequence, button, done):
    """GET asks for confirmation; POST does it and goes back to the lease page."""
    lease = _lease(request, lease_id)
    if request.method == "POST":
        try:
            action()
        except DomainError as error:
            messages.error(request, error.title)
        else:
            messages.success(request, done)
        return redirect("web:lease", lease.id)
    context = {"lease": lease, "question": question, "consequence": consequence, "button": button}
    return render(request, "web/confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lease_extend_view(request, lease_id):
    """GET (from the lease page's form) asks to confirm the new end; POST moves it."""
    lease = _lease(request, lease_id)
    form = forms.ExtendForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        context = {"lease": lease, "extend_form": form, "confirm": False}
        return render(request, "web/extend.html", context, status=400)
    end = form.cleaned_data["end"]
    if request.method == "GET":
        return render(request, "web/extend.html", {"lease": lease, "end": end, "confirm": True})
    try:
        lease_extend(lease_id=lease.id, user=request.user, end=end)
    except DomainError as error:
        latest = error.extra.get("latest_end")
        if latest:
            form.add_error("end", f"does not fit; the latest end that fits is {_when(latest)}")
        # The form has one field: every refusal (the horizon, the phase, …) is shown on it.
        for item in error.errors:
            form.add_error("end", item.message)
        if not latest and not error.errors:
            form.add_error("end", error.title)
        context = {"lease": lease, "extend_form": form, "confirm": False}
        return render(request, "web/extend.html", context, status=error.status)
    verb = "extended" if end > lease.end else "shortened"
    messages.success(request, f"The lease is {verb}: it now ends {_when(end)}.")
    return redirect("web:lease", lease.id)


def _when(value) -> str:
    if isinstance(value, str):
        value = from_iso(value)
    return timezone.localtime(shown(value)).strftime("%a %d %b %Y %H:%M %Z")


def _local(value: str) -> datetime:
    """An ISO date-time; without an offset it is wall-clock time in the user's zone. Instants
    no page can show (within a day of year 1 or 9999) are refused like bad syntax."""
    parsed = datetime.fromisoformat(value)
    parsed = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
    if not showable(parsed):
        raise ValueError(f"{value} is too far from now")
    return parsed
