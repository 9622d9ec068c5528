"""Thin views over bookings.domain: parse the HTTP bits, call one service, shape the answer."""

import functools
import re

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotAuthenticated, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api.exceptions import PROBLEM_CONTENT_TYPE
from bookings.api.filters import leases_filter
from bookings.api.idempotency import idempotent
from bookings.api.parsers import contains_nul
from bookings.api.renderers import ICalendarRenderer
from bookings.api.serializers import (
    LeaseDetailSerializer,
    LeaseExtendSerializer,
    LeaseSerializer,
    OfferSetRequestSerializer,
    OfferSetSerializer,
    ProblemSerializer,
)
from bookings.api.throttling import OfferSetThrottle
from bookings.domain.errors import DomainError, FieldError
from bookings.domain.ical import leases_ical, user_for_ical_token
from bookings.domain.isotime import parse_instant
from bookings.domain.leases import (
    lease_accept,
    lease_cancel,
    lease_extend,
    lease_reject,
    lease_release_early,
)
from bookings.domain.offer_sets import offer_set_create, offer_set_decline
from bookings.domain.requests import quoted
from bookings.domain.selectors import offer_set_for_user
from bookings.domain.sql.rows import Columns, table
from bookings.models import Allocation, Lease, LeaseEvent
from resources.models import Pool

_ETAG = re.compile(r'^(?:W/)?(?:"(\d{1,9})"|(\d{1,9}))$')


def problems(*statuses: int) -> dict:
    """OpenAPI responses for the problem statuses an operation can answer."""
    return {(s, PROBLEM_CONTENT_TYPE): ProblemSerializer for s in (401, 403, *statuses)}


LEASE_DETAILS = (
    Prefetch("allocations", queryset=Allocation.objects.select_related("pool")),
    Prefetch("events", queryset=LeaseEvent.objects.select_related("actor")),
)


def leases_with_details():
    return Lease.objects.select_related("site").prefetch_related(*LEASE_DETAILS)


@functools.cache
def _details_queries() -> tuple[str, Columns, Columns, str, Columns, Columns]:
    """LEASE_DETAILS for one lease as hand-written SQL (rows in the models' orders)."""
    allocation, pool = Columns(Allocation, "a"), Columns(Pool, "p")
    event, actor = Columns(LeaseEvent, "e"), Columns(get_user_model(), "u")
    allocations = (
        f"SELECT {allocation.sql}, {pool.sql} FROM {table(Allocation)} a"
        f" JOIN {table(Pool)} p ON p.id = a.pool_id"
        " WHERE a.lease_id = %s ORDER BY a.component, a.replica"
    )
    events = (
        f"SELECT {event.sql}, {actor.sql} FROM {table(LeaseEvent)} e"
        f" LEFT JOIN {table(get_user_model())} u ON u.id = e.actor_id"
        " WHERE e.lease_id = %s ORDER BY e.time, e.id"
    )
    return allocations, allocation, pool, events, event, actor


def load_details(lease: Lease) -> None:
    """`prefetch_related_objects([lease], *LEASE_DETAILS)` without compiling two ORM queries
    (a quarter of an accept's Python time): the allocations with their pools and the events
    with their actors, in the lease's prefetch cache. What is already there is kept."""
    allocations_sql, allocation, pool, events_sql, event, actor = _details_queries()
    cache = lease.__dict__.setdefault("_prefetched_objects_cache", {})
    wanted = [
        entry
        for entry in (
            ("allocations", allocations_sql, allocation, pool, "pool"),
            ("events", events_sql, event, actor, "actor"),
        )
        if entry[0] not in cache
    ]
    if not wanted:
        return
    with connection.cursor() as cursor:
        # one round trip: the statements go together and come back as consecutive results
        cursor.execute("; ".join(entry[1] for entry in wanted), [lease.pk] * len(wanted))
        for n, (name, _, columns, related, related_name) in enumerate(wanted):
            if n:
                cursor.nextset()
            model = columns.model
            lease_field, related_field = (
                model._meta.get_field("lease"),
                model._meta.get_field(related_name),
            )
            objects = []
            for row in cursor.fetchall():
                obj = columns.build(row)
                related_field.set_cached_value(obj, related.build(row, columns.count))
                lease_field.set_cached_value(obj, lease)
                objects.append(obj)
            queryset = getattr(lease, name).get_queryset()
            queryset._result_cache = objects
            queryset._prefetch_done = True
            cache[name] = queryset


def etag(lease: Lease) -> str:
    return f'W/"{lease.version}"'


def if_match_version(request) -> int | None:
    """The version an `If-Match` header names (W/"3", "3" or 3); None without one or for *."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header.strip())
    if not match:
        raise DomainError(
            "The If-Match header is not valid.",
            errors=[FieldError("If-Match", 'must be one entity tag such as W/"3"')],
        )
    return int(match[1] or match[2])


class ProblemAPIView(APIView):
    """Errors are rendered as JSON problems whatever the view's own representation is."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in a query.
        if any(contains_nul(k) or contains_nul(v) for k, v in request.query_params.lists()):
            raise ParseError("Query parameters may not contain the NUL character.")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = PROBLEM_CONTENT_TYPE
        return response


class OfferSetCreate(ProblemAPIView):
    throttle_classes = [OfferSetThrottle]

    @extend_schema(
        summary="Ask when a job can run: up to max_offers held offers, or NO with reasons",
        request=OfferSetRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: OfferSetSerializer, **problems(400, 422, 429, 503)},
    )
    def post(self, request):
        def run():
            # Returned with its leases and allocations loaded: no need to read it back.
            offer_set = offer_set_create(owner=request.user, data=request.data)
            data = OfferSetSerializer(offer_set).data
            return Response(data, status=201, headers={"Location": data["url"]})

        return idempotent(self, request, run)


class OfferSetDetail(ProblemAPIView):
    @extend_schema(responses={200: OfferSetSerializer, **problems(404)})
    def get(self, request, id):
        offer_set = offer_set_for_user(offer_set_id=id, user=request.user, with_offers=True)
        return Response(OfferSetSerializer(offer_set).data)


class OfferSetDecline(ProblemAPIView):
    @extend_schema(
        summary="Decline the set: release every offer of it not yet accepted, at once",
        request=None,
        responses={200: OfferSetSerializer, **problems(404)},
    )
    def post(self, request, id):
        offer_set = offer_set_for_user(offer_set_id=id, user=request.user, with_offers=True)
        offer_set_decline(offer_set=offer_set, user=request.user)
        offer_set = offer_set_for_user(offer_set_id=id, user=request.user, with_offers=True)
        return Response(OfferSetSerializer(offer_set).data)


class LeaseList(ProblemAPIView, generics.ListAPIView):
    """The caller's leases (all leases, for staff), earliest first."""

    serializer_class = LeaseSerializer

    def get_queryset(self):
        leases = Lease.objects.select_related("site").prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.select_related("pool"))
        )
        if not self.request.user.is_staff:
            leases = leases.filter(owner=self.request.user)
        return leases_filter(leases, self.request.query_params).order_by("start", "id")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "phase",
                str,
                description="phases, comma-separated, any case (an empty one is refused)",
            ),
            OpenApiParameter("site", str, description="site slug (not empty)"),
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="ends after this"),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="starts before this"),
        ],
        responses={200: LeaseSerializer(many=True), **problems(400)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def lease_response(*, lease_id, user) -> Response:
    leases = leases_with_details()
    if not user.is_staff:
        leases = leases.filter(owner=user)
    lease = get_object_or_404(leases, id=lease_id)
    return Response(LeaseDetailSerializer(lease).data, headers={"ETag": etag(lease)})


class LeaseDetail(ProblemAPIView):
    @extend_schema(
        summary="One lease with its allocations, connectors and events (ETag: its version)",
        responses={200: LeaseDetailSerializer, **problems(404)},
    )
    def get(self, request, id):
        return lease_response(lease_id=id, user=request.user)


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description='The ETag read (W/"<version>"); optional. A stale one is refused with 412.',
)
IDEMPOTENCY_KEY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)
ACTION_SCHEMA = {
    "parameters": [IF_MATCH, IDEMPOTENCY_KEY],
    "responses": {200: LeaseDetailSerializer, **problems(400, 404, 409, 412, 422)},
}


class LeaseAction(ProblemAPIView):
    """One change of a lease, answered with the lease as GET shows it."""

    def change(self, request, id) -> Lease:
        raise NotImplementedError

    def post(self, request, id):
        def run():
            lease = self.change(request, id)
            # The service checked who may change it and loaded its site: add the rest.
            load_details(lease)
            return Response(LeaseDetailSerializer(lease).data, headers={"ETag": etag(lease)})

        return idempotent(self, request, run)


@extend_schema(
    summary="Accept an offer (its siblings are rejected); 409 with fresh offers if taken",
    request=None,
    **ACTION_SCHEMA,
)
class LeaseAccept(LeaseAction):
    def change(self, request, id):
        try:
            return lease_accept(lease_id=id, user=request.user, if_match=if_match_version(request))
        except DomainError as error:
            fresh = error.extra.get("fresh_offer_set")
            if isinstance(fresh, str):
                offer_set = offer_set_for_user(
                    offer_set_id=fresh, user=request.user, with_offers=True
                )
                error.extra["fresh_offer_set"] = OfferSetSerializer(offer_set).data
            raise


@extend_schema(summary="Reject an offer", request=None, **ACTION_SCHEMA)
class LeaseReject(LeaseAction):
    def change(self, request, id):
        return lease_reject(lease_id=id, user=request.user, if_match=if_match_version(request))


@extend_schema(
    summary="Cancel a lease; its capacity returns at once", request=None, **ACTION_SCHEMA
)
class LeaseCancel(LeaseAction):
    def change(self, request, id):
        return lease_cancel(lease_id=id, user=request.user, if_match=if_match_version(request))


@extend_schema(
    summary="Release a started lease early: it ends now, its capacity returns",
    request=None,
    **ACTION_SCHEMA,
)
class LeaseRelease(LeaseAction):
    def change(self, request, id):
        return lease_release_early(
            lease_id=id, user=request.user, if_match=if_match_version(request)
        )


@extend_schema(
    summary="Move the end; 409 with latest_end when the whole extension does not fit",
    request=LeaseExtendSerializer,
    **ACTION_SCHEMA,
)
class LeaseExtend(LeaseAction):
    def change(self, request, id):
        data = request.data
        if not isinstance(data, dict):
            raise DomainError(
                "The request is not valid.", errors=[FieldError("", "must be a JSON object")]
            )
        errors = [FieldError(k, "is not a known field") for k in sorted(set(data) - {"end"})]
        end = parse_instant(data.get("end"))
        if "end" not in data:
            errors.append(FieldError("end", "is required (an ISO 8601 date-time with a time zone)"))
        elif end is None:
            message = f"{quoted(data['end'])} is not an ISO 8601 date-time with a time zone"
            errors.append(FieldError("end", message))
        if errors:
            raise DomainError("The request is not valid.", errors=errors)
        return lease_extend(
            lease_id=id, user=request.user, end=end, if_match=if_match_version(request)
        )


class Calendar(ProblemAPIView):
    """The owner's leases as iCalendar. With ?token= (the secret of the user's feed) no other
    authentication is needed, so calendar clients can subscribe."""

    renderer_classes = [ICalendarRenderer]
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("token", str, description="the feed's secret token")],
        responses={
            (200, "text/calendar"): OpenApiResponse(OpenApiTypes.STR),
            **problems(404),
        },
    )
    def get(self, request):
        token = request.query_params.get("token")
        if token is not None:
            owner = user_for_ical_token(token=token)
            if owner is None:
                raise DomainError("No calendar has this token.", status=404, code="not-found")
        elif request.user.is_authenticated:
            owner = request.user
        else:
            raise NotAuthenticated("Give the feed's token (?token=) or authenticate.")
        body = leases_ical(user=owner, host=request.get_host())
        return Response(body, content_type="text/calendar; charset=utf-8")
