"""Thin views over bookings.domain: parse the HTTP bits, call one service, shape the answer."""

import re

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
from bookings.domain.leases import (
    lease_accept,
    lease_cancel,
    lease_extend,
    lease_reject,
    lease_release_early,
)
from bookings.domain.offer_sets import offer_set_create, offer_set_decline
from bookings.domain.selectors import (
    lease_details_load,
    leases_for_user,
    offer_set_for_user,
)
from bookings.models import Lease

_ETAG = re.compile(r'^(?:W/)?(?:"(\d{1,9})"|(\d{1,9}))$')


def problems(*statuses: int) -> dict:
    """OpenAPI responses for the problem statuses an operation can answer."""
    return {(s, PROBLEM_CONTENT_TYPE): ProblemSerializer for s in (401, 403, *statuses)}


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
            offer_set = offer_set_create(owner=request.user, data=request.data, token=request.auth)
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
        leases = leases_for_user(user=self.request.user)
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
    lease = get_object_or_404(leases_for_user(user=user, details=True), id=lease_id)
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
            lease_details_load(lease=lease)
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
        body = LeaseExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        end = body.validated_data["end"]
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
        body = leases_ical(user=owner)
        return Response(body, content_type="text/calendar; charset=utf-8")
