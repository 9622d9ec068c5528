"""The web views through Django's test client: forms keep input, errors land on their fields,
other users' leases are 404, writes need the CSRF token, the iCal link can be reset."""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client
from django.utils import timezone

from bookings.choices import ActorKind, OfferSetResult, Phase
from bookings.domain.leases import lease_accept, lease_transition
from bookings.domain.offer_sets import offer_set_create
from bookings.models import Lease, OfferSet, Profile

pytestmark = [pytest.mark.integration]

GPU_REQUEST = {
    "name": "notebook",
    "components": [{"name": "nb", "kind": "compute", "amounts": {"cores": 8, "gpus": 1}}],
    "duration": "PT2H",
    "max_offers": 2,
}


def booking_post(**overrides) -> dict:
    """A filled-in booking form: one compute component, 2 hours, as the page posts it."""
    data = {
        "components-TOTAL_FORMS": "2",
        "components-INITIAL_FORMS": "1",
        "components-MIN_NUM_FORMS": "0",
        "components-MAX_NUM_FORMS": "32",
        "components-0-name": "main",
        "components-0-kind": "compute",
        "components-0-replicas": "1",
        "components-0-cores_min": "8",
        "components-1-kind": "compute",
        "components-1-replicas": "1",
        "name": "my job",
        "duration_hours": "2",
        "max_offers": "2",
    }
    data.update(overrides)
    return data


def offers_for(user, request=GPU_REQUEST) -> OfferSet:
    return offer_set_create(owner=user, data=request)


def accepted_lease(user) -> Lease:
    offer_set = offers_for(user)
    return lease_accept(lease_id=offer_set.leases.get(rank=0).id, user=user)


def test_every_page_asks_to_log_in_first(demo):
    client = Client()
    lease = Lease.objects.first()
    for url in [
        "/",
        "/book/",
        "/calendar/",
        "/calendar/events/",
        "/availability/",
        "/profile/",
        f"/leases/{lease.id}/",
    ]:
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, f"/login/?next={url}")


def test_login_refuses_a_wrong_password_in_plain_words(demo):
    response = Client().post("/login/", {"username": "astro", "password": "nope"})
    assert response.status_code == 200
    assert (
        '<div class="error-summary" role="alert"><p>Please enter a correct username and password.'
        " Note that both fields may be case-sensitive.</p></div>" in response.content.decode()
    )
    response = Client().post("/login/", {"username": "astro", "password": "astro"})
    assert (response.status_code, response["Location"]) == (302, "/")


def test_logout_is_a_post_back_to_the_login_page(astro_client):
    assert astro_client.get("/logout/").status_code == 405
    response = astro_client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert astro_client.get("/").status_code == 302


def test_a_template_fills_in_the_booking_form(astro_client):
    response = astro_client.get("/book/?template=gaia-spark-large")
    assert response.status_code == 200
    assert response.context["formset"].initial == [
        {"name": "head", "kind": "compute", "replicas": 1, "cores_min": 54, "memory_gib_min": 86},
        {
            "name": "workers",
            "kind": "compute",
            "replicas": 6,
            "cores_min": 13,
            "cores_max": 26,
            "memory_gib_min": 43,
        },
        {"name": "scratch", "kind": "storage", "replicas": 1, "size_gib_min": 2000},
    ]
    initial = response.context["form"].initial
    assert {k: initial[k] for k in ("name", "datasets", "site", "max_offers", "earliest")} == {
        "name": "DR3 analysis (Spark, large)",
        "datasets": ["gaia-dr3"],
        "site": None,
        "max_offers": 4,
        "earliest": None,
    }
    assert (str(initial["duration_hours"]), initial["duration_max_hours"]) == ("9", None)


def test_an_unknown_template_is_said_so(astro_client):
    response = astro_client.get("/book/?template=nope")
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "There is no template “nope”; pick one from the list."
    ]


def test_the_booking_form_keeps_what_was_typed_and_names_each_bad_field(astro_client):
    data = booking_post(**{"components-0-cores_min": "many", "duration_hours": ""})
    response = astro_client.post("/book/", data)
    assert response.status_code == 400
    assert response.context["formset"].forms[0].errors == {"cores_min": ["Enter a whole number."]}
    assert response.context["form"].errors == {"duration_hours": ["This field is required."]}
    html = response.content.decode()
    assert 'value="many"' in html
    assert 'value="my job"' in html
    assert '<p class="error" id="id_duration_hours_error">This field is required.</p>' in html
    assert (
        '<li><a href="#id_components-0-cores_min">Component 1 “main”, cores, at least</a>:'
        " Enter a whole number.</li>" in html
    )
    assert OfferSet.objects.count() == 0


def test_the_domains_refusals_land_on_the_fields_they_name(astro_client):
    data = booking_post(
        **{
            "components-0-cores_max": "4",
            "components-1-name": "main",
            "components-1-gpus_min": "1",
        }
    )
    response = astro_client.post("/book/", data)
    assert response.status_code == 400
    rows = response.context["formset"].forms
    assert rows[0].errors == {"cores_max": ["4 is less than min 8"]}
    assert rows[1].errors == {"name": ["'main' is used by another component"]}
    assert 'aria-describedby="id_components-0-cores_max_error"' in response.content.decode()
    assert OfferSet.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "form_errors", "row_errors"),
    [
        ({"earliest": "9999-12-31T23:59"}, {"earliest": ["must be before the year 9999"]}, {}),
        (
            {"earliest": "2030-01-02T00:00", "latest": "2030-01-01T00:00"},
            {"latest": ["is before the earliest start"]},
            {},
        ),
        (
            {"duration_hours": "-1"},
            {"duration_hours": ["Ensure this value is greater than or equal to 0.01."]},
            {},
        ),
        (
            {"site": "nowhere"},
            {"site": ["Select a valid choice. That choice is not one of the available choices."]},
            {},
        ),
        (
            {"components-0-kind": "storage"},
            {},
            {"cores_min": ["a storage component has no 'cores' (size_gib)"]},
        ),
        (
            {"components-0-cores_min": "", "components-0-memory_gib_max": "4"},
            {},
            {"memory_gib_min": ["give “at least” too when you give “up to”"]},
        ),
        (
            {"components-0-replicas": "100000"},
            {},
            {"replicas": ["Ensure this value is less than or equal to 256."]},
        ),
    ],
)
def test_bad_input_is_refused_field_by_field(astro_client, overrides, form_errors, row_errors):
    response = astro_client.post("/book/", booking_post(**overrides))
    assert response.status_code == 400
    assert response.context["form"].errors == form_errors
    assert response.context["formset"].forms[0].errors == row_errors
    assert OfferSet.objects.count() == 0


def test_a_window_past_the_horizon_is_refused_on_the_start_field(astro_client, settings):
    settings.BOOKING_MAX_END = "P30D"
    far = timezone.localtime(timezone.now() + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")
    response = astro_client.post("/book/", booking_post(latest=far))
    assert response.status_code == 400
    (message,) = response.context["form"].errors["earliest"]
    assert message.startswith("the window may reach at most 30 days ahead, to ")
    assert f'value="{far}"' in response.content.decode()
    assert OfferSet.objects.count() == 0


def test_a_window_in_the_past_is_refused_on_the_start_field(astro_client):
    data = booking_post(earliest="2020-01-01T08:00", latest="2020-01-02T08:00")
    response = astro_client.post("/book/", data)
    assert response.status_code == 400
    assert response.context["form"].errors == {"earliest": ["the window is in the past"]}


def test_a_request_becomes_an_offer_set_and_its_page(astro_client, astro):
    response = astro_client.post("/book/", booking_post(**{"components-0-gpus_min": "1"}))
    offer_set = OfferSet.objects.get(owner=astro)
    assert (response.status_code, response["Location"]) == (302, f"/book/{offer_set.id}/")
    assert offer_set.result == OfferSetResult.YES
    assert offer_set.request["components"] == [
        {
            "name": "main",
            "kind": "compute",
            "replicas": 1,
            "amounts": {"cores": {"min": 8, "max": 8}, "gpus": {"min": 1, "max": 1}},
        }
    ]
    assert offer_set.request["duration"] == {"min": 7200, "max": 7200}
    page = astro_client.get(f"/book/{offer_set.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("Accept offer ") == 2
    timeline = page.context["timeline"]
    offers = [e for e in timeline["events"] if e.get("display") != "background"]
    assert [(e["resourceId"], e["extendedProps"]["short"]) for e in offers] == [
        ("cam-gpu", "Offer 1"),
        ("cam-gpu", "Offer 2"),
    ]
    assert [r["id"] for r in timeline["resources"]] == ["site:cam"]
    assert timeline["resources"][0]["children"] == [
        {
            "id": "cam-gpu",
            "title": "cam-gpu",
            "extendedProps": {"capacity": "64 cores, 512 GiB memory, 8 GPU"},
        },
        {
            "id": "cam-scratch",
            "title": "cam-scratch",
            "extendedProps": {"capacity": "20480 GiB storage"},
        },
    ]


def test_accept_is_one_post_and_leads_to_the_lease(astro_client, astro):
    offer_set = offers_for(astro)
    second = offer_set.leases.get(rank=1)
    response = astro_client.post(f"/leases/{second.id}/accept/", follow=True)
    assert response.redirect_chain == [(f"/leases/{second.id}/", 302)]
    assert [str(m) for m in response.context["messages"]] == ["Booked: notebook is yours."]
    assert dict(offer_set.leases.values_list("rank", "phase")) == {
        0: Phase.REJECTED,
        1: Phase.ACCEPTED,
    }
    again = astro_client.post(f"/leases/{second.id}/accept/", follow=True)
    assert [str(m) for m in again.context["messages"]] == [
        "Only an offer can be accepted; this lease is ACCEPTED."
    ]


def test_an_offer_can_be_accepted_from_its_own_page(astro_client, astro):
    offer = offers_for(astro).leases.get(rank=0)
    html = astro_client.get(f"/leases/{offer.id}/").content.decode()
    assert f'<form method="post" action="/leases/{offer.id}/accept/">' in html
    assert "Cancel the lease…" not in html
    astro_client.post(f"/leases/{offer.id}/accept/")
    html = astro_client.get(f"/leases/{offer.id}/").content.decode()
    assert "Accept this offer" not in html
    assert f'<a class="button danger" href="/leases/{offer.id}/cancel/">' in html


def test_a_no_offers_its_relaxations_and_one_click_asks_again(astro_client, astro):
    # Each replica fits the largest pool (64 cores), but only one such pool exists.
    too_big = {
        **GPU_REQUEST,
        "components": [{"name": "big", "replicas": 2, "amounts": {"cores": 60}}],
    }
    refused = offers_for(astro, too_big)
    assert refused.result == OfferSetResult.NO
    page = astro_client.get(f"/book/{refused.id}/")
    assert page.context["reasons"] == ["big: its 2 replicas never fit together in the window"]
    assert re.fullmatch(
        r"available with \d+ cores \(\d+% of the minimum\) at \w{3} \d+ \w{3} \d\d:\d\d UTC",
        page.context["suggestions"][0]["message"],
    )
    response = astro_client.post(f"/book/{refused.id}/suggestions/0/")
    relaxed = OfferSet.objects.exclude(id=refused.id).get(owner=astro)
    assert (response.status_code, response["Location"]) == (302, f"/book/{relaxed.id}/")
    assert relaxed.result == OfferSetResult.YES
    suggested = refused.suggestions[0]["request"]
    assert relaxed.request["components"] == suggested["components"]
    assert relaxed.request["components"][0]["amounts"]["cores"]["max"] == 60
    missing = astro_client.post(f"/book/{refused.id}/suggestions/9/")
    assert missing.status_code == 404


def test_the_quick_question_answers_with_an_offer_set(astro_client, astro):
    response = astro_client.post("/ask/", {"cores": "8", "memory_gib": "32", "hours": "1.5"})
    offer_set = OfferSet.objects.get(owner=astro)
    assert (response.status_code, response["Location"]) == (302, f"/book/{offer_set.id}/")
    assert offer_set.request["components"][0]["amounts"] == {
        "cores": {"min": 8, "max": 8},
        "memory_gib": {"min": 32, "max": 32},
    }
    assert offer_set.request["duration"] == {"min": 5400, "max": 5400}
    bad = astro_client.post("/ask/", {"cores": "0", "hours": "1"})
    assert bad.status_code == 400
    assert bad.context["quick_form"].errors == {
        "cores": ["Ensure this value is greater than or equal to 1."]
    }
    assert 'value="0"' in bad.content.decode()


def test_other_users_leases_and_offer_sets_are_404(demo, other_user):
    astro = get_user_model().objects.get(username="astro")
    offer_set = offers_for(astro)
    offer = offer_set.leases.get(rank=0)
    client = Client()
    client.force_login(other_user)
    for method, url in [
        ("get", f"/book/{offer_set.id}/"),
        ("post", f"/book/{offer_set.id}/suggestions/0/"),
        ("get", f"/leases/{offer.id}/"),
        ("get", f"/leases/{offer.id}/live/"),
        ("post", f"/leases/{offer.id}/accept/"),
        ("get", f"/leases/{offer.id}/cancel/"),
        ("post", f"/leases/{offer.id}/cancel/"),
        ("post", f"/leases/{offer.id}/release/"),
        ("get", f"/leases/{offer.id}/extend/?end=2030-01-01T00:00"),
    ]:
        assert getattr(client, method)(url).status_code == 404, url
    assert Lease.objects.get(id=offer.id).phase == Phase.OFFERED


def test_writes_need_the_csrf_token(astro):
    offer = offers_for(astro).leases.get(rank=0)
    client = Client(enforce_csrf_checks=True)
    client.force_login(astro)
    assert client.post(f"/leases/{offer.id}/accept/").status_code == 403
    assert client.post("/calendar/ical/reset/").status_code == 403
    assert Lease.objects.get(id=offer.id).phase == Phase.OFFERED
    page = client.get(f"/book/{offer.offer_set_id}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(f"/leases/{offer.id}/accept/", {"csrfmiddlewaretoken": token})
    assert (response.status_code, Lease.objects.get(id=offer.id).phase) == (302, Phase.ACCEPTED)


def test_the_calendar_feeds_the_users_bookings_in_their_zone(astro_client, astro):
    Profile.objects.update_or_create(user=astro, defaults={"timezone": "Asia/Tokyo"})
    lease = Lease.objects.get(owner=astro, name="survey-crossmatch")
    day = lease.start.astimezone(UTC).date()
    offers_for(astro)  # offers are not bookings: not in the calendar
    response = astro_client.get(
        "/calendar/events/", {"start": f"{day}T00:00:00", "end": f"{day + timedelta(2)}T00:00:00"}
    )
    events = response.json()
    assert sorted(e["title"] for e in events) == [
        "nightly-ml · ACCEPTED",
        "survey-crossmatch · ACCEPTED",
        "variable-stars · ACCEPTED",
    ]
    survey = next(e for e in events if e["id"] == str(lease.id))
    # Seeded 06:00-15:00 UTC: 15:00-00:00 in Tokyo, without offset for the widget.
    assert survey == {
        "id": str(lease.id),
        "title": "survey-crossmatch · ACCEPTED",
        "start": f"{day}T15:00:00",
        "end": f"{day + timedelta(1)}T00:00:00",
        "backgroundColor": "#1d5fa6",
        "textColor": "#ffffff",
        "classNames": ["lease-event", "phase-accepted"],
        "extendedProps": {"url": f"/leases/{lease.id}/"},
    }
    bad = astro_client.get("/calendar/events/", {"start": "soon", "end": "later"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "start and end must be ISO 8601 date-times, start before end"},
    )


def test_the_ical_link_parses_one_event_per_lease_and_can_be_reset(astro_client, astro, settings):
    settings.SITE_URL = "https://broker.example.org"
    accepted_lease(astro)
    page = astro_client.get("/calendar/")
    feed = urlsplit(page.context["feed_url"])
    body = astro_client.get(f"{feed.path}?{feed.query}")
    assert body.status_code == 200
    calendar = icalendar.Calendar.from_ical(body.content)
    booked = Lease.objects.filter(owner=astro).exclude(
        phase__in=[Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED]
    )
    uids = [str(e["uid"]) for e in calendar.walk("VEVENT")]
    assert sorted(uids) == sorted(f"{lease.id}@broker.example.org" for lease in booked)
    assert len(uids) == 4

    response = astro_client.post("/calendar/ical/reset/")
    assert (response.status_code, response["Location"]) == (302, "/calendar/")
    assert astro_client.get(f"{feed.path}?{feed.query}").status_code == 404
    fresh = urlsplit(astro_client.get("/calendar/").context["feed_url"])
    again = icalendar.Calendar.from_ical(astro_client.get(f"{fresh.path}?{fresh.query}").content)
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == uids


def test_the_profile_sets_the_zone_every_time_is_shown_in(astro_client, astro):
    bad = astro_client.post("/profile/", {"timezone": "Mars/Olympus"})
    assert bad.status_code == 400
    assert bad.context["form"].errors == {
        "timezone": ["Select a valid choice. Mars/Olympus is not one of the available choices."]
    }
    response = astro_client.post("/profile/", {"timezone": "Asia/Tokyo"})
    assert (response.status_code, response["Location"]) == (302, "/profile/")
    assert Profile.objects.get(user=astro).timezone == "Asia/Tokyo"
    lease = Lease.objects.get(owner=astro, name="survey-crossmatch")
    html = astro_client.get(f"/leases/{lease.id}/").content.decode()
    local = timezone.localtime(lease.start, timezone=zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert f"{local:%a} {local.day} {local:%b %Y} 15:00</time>" in html
    assert 'times in <a href="/profile/">Asia/Tokyo</a>' in html


def test_cancel_asks_first_then_cancels(astro_client, astro):
    lease = accepted_lease(astro)
    confirm = astro_client.get(f"/leases/{lease.id}/cancel/")
    assert confirm.status_code == 200
    assert confirm.context["question"] == "Cancel this lease?"
    assert Lease.objects.get(id=lease.id).phase == Phase.ACCEPTED
    response = astro_client.post(f"/leases/{lease.id}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/leases/{lease.id}/", 302)]
    assert [str(m) for m in response.context["messages"]] == ["The lease is cancelled."]
    assert Lease.objects.get(id=lease.id).phase == Phase.CANCELLED
    again = astro_client.post(f"/leases/{lease.id}/cancel/", follow=True)
    assert [str(m) for m in again.context["messages"]] == [
        "A lease in phase CANCELLED cannot become CANCELLED."
    ]


def test_extend_confirms_the_new_end_then_moves_it(astro_client, astro):
    lease = accepted_lease(astro)
    new_end = timezone.localtime(lease.end + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    confirm = astro_client.get(f"/leases/{lease.id}/extend/", {"end": new_end})
    assert (confirm.status_code, confirm.context["confirm"]) == (200, True)
    assert f'<input type="hidden" name="end" value="{new_end}">' in confirm.content.decode()
    response = astro_client.post(f"/leases/{lease.id}/extend/", {"end": new_end})
    assert (response.status_code, response["Location"]) == (302, f"/leases/{lease.id}/")
    assert Lease.objects.get(id=lease.id).end == lease.end + timedelta(hours=1)

    before = astro_client.post(f"/leases/{lease.id}/extend/", {"end": "2020-01-01T00:00"})
    assert before.status_code == 400
    assert before.context["extend_form"].errors == {"end": ["must be after the start and now"]}
    garbage = astro_client.get(f"/leases/{lease.id}/extend/", {"end": "tomorrow"})
    assert garbage.status_code == 400
    assert garbage.context["extend_form"].errors == {"end": ["Enter a valid date/time."]}


def test_release_early_ends_a_started_lease(astro_client, astro):
    lease = accepted_lease(astro)
    now = timezone.now()
    Lease.objects.filter(id=lease.id).update(
        start=now - timedelta(hours=1), preparation_start=now - timedelta(hours=1)
    )
    for phase in (Phase.PREPARING, Phase.AVAILABLE):
        lease_transition(
            lease=Lease.objects.get(id=lease.id), to=phase, actor_kind=ActorKind.WORKER
        )
    page = astro_client.get(f"/leases/{lease.id}/")
    assert page.context["can_release"] is True
    response = astro_client.post(f"/leases/{lease.id}/release/")
    assert (response.status_code, response["Location"]) == (302, f"/leases/{lease.id}/")
    assert Lease.objects.get(id=lease.id).phase == Phase.RELEASING


def test_the_live_fragment_polls_only_while_the_lease_lives(astro_client, astro):
    lease = accepted_lease(astro)
    live = astro_client.get(f"/leases/{lease.id}/live/").content.decode()
    assert f'hx-get="/leases/{lease.id}/live/" hx-trigger="every 3s"' in live
    assert '<section class="card" id="lease-events" aria-labelledby="events-title"' in live
    assert 'hx-swap-oob="true"' in live
    Lease.objects.filter(id=lease.id).update(phase=Phase.COMPLETED, version=F("version") + 1)
    ended = astro_client.get(f"/leases/{lease.id}/live/").content.decode()
    assert "hx-trigger" not in ended
    assert 'id="lease-phase">COMPLETED</strong>' in ended


def test_availability_draws_every_pool(astro_client):
    response = astro_client.get("/availability/", {"days": "7"})
    assert response.status_code == 200
    charts = {
        group["site"].slug: {c.pool.slug: [s.dimension for s in c.series] for c in group["charts"]}
        for group in response.context["sites"]
    }
    assert charts == {
        "cam": {"cam-gpu": ["cores", "memory_gib", "gpus"], "cam-scratch": ["size_gib"]},
        "edi": {
            "edi-gaia-readers": ["readers"],
            "edi-head": ["cores", "memory_gib"],
            "edi-scratch": ["size_gib"],
            "edi-workers-1": ["cores", "memory_gib"],
            "edi-workers-2": ["cores", "memory_gib"],
            "edi-workers-3": ["cores", "memory_gib"],
        },
    }
    assert response.content.decode().count('<svg viewBox="0 0 720 96"') == 14
    odd = astro_client.get("/availability/", {"days": "lots"})
    assert (odd.status_code, odd.context["days"]) == (200, 3)
    assert [str(m) for m in odd.context["messages"]] == [
        "Pick one of the offered spans; showing 3 days."
    ]


def test_the_dashboard_lists_the_next_leases(astro_client, astro):
    lease = accepted_lease(astro)
    response = astro_client.get("/")
    expected = (
        Lease.objects.filter(owner=astro, end__gt=datetime.now(UTC))
        .exclude(phase__in=[Phase.OFFERED, Phase.REJECTED, Phase.EXPIRED])
        .order_by("start")
    )
    assert [le.id for le in response.context["leases"]] == [le.id for le in expected]
    assert lease.id in [le.id for le in expected]


def test_every_refusal_of_a_new_end_is_shown_on_the_end_field(astro_client, astro):
    lease = accepted_lease(astro)
    cancelled = accepted_lease(astro)
    astro_client.post(f"/leases/{cancelled.id}/cancel/")
    far = timezone.localtime(timezone.now() + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M")
    cases = [
        (lease, "2020-01-01T00:00"),  # before the start: the domain's field error
        (lease, "9999-12-31T23:59"),  # past what can be computed: the form's own bound
        (cancelled, far),  # a phase that cannot change its end: the domain's title
    ]
    cases.append((lease, far))  # past the domain's horizon and longest lease (issue 11)
    failures = []
    for target, end in cases:
        response = astro_client.post(f"/leases/{target.id}/extend/", {"end": end})
        page = response.content.decode()
        if not (
            400 <= response.status_code < 500
            and 'id="id_end_error"' in page
            and f'value="{end}"' in page
        ):
            failures.append((end, target.phase, response.status_code))
    assert failures == []


def test_decline_these_offers_releases_the_set_at_once(astro_client, astro, other_user):
    offer_set = offers_for(astro)
    page = astro_client.get(f"/book/{offer_set.id}/")
    assert b"Decline these offers" in page.content
    response = astro_client.post(f"/book/{offer_set.id}/decline/", follow=True)
    assert response.redirect_chain == [(f"/book/{offer_set.id}/", 302)]
    assert [str(m) for m in response.context["messages"]] == ["Declined 2 offers: released."]
    assert set(offer_set.leases.values_list("phase", flat=True)) == {Phase.REJECTED}
    assert b"Decline these offers" not in response.content  # nothing is held any more
    assert astro_client.get(f"/book/{offer_set.id}/decline/").status_code == 405
    astro_client.force_login(other_user)
    assert astro_client.post(f"/book/{offer_set.id}/decline/").status_code == 404
