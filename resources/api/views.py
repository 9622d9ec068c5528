"""The inventory views: what sites and pools there are, and how much of a pool is free when."""

from datetime import UTC, datetime, timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from bookings.api.filters import instant_param
from bookings.api.views import ProblemAPIView, problems
from bookings.domain.errors import DomainError, FieldError
from resources.api.serializers import (
    CapacityImpactSerializer,
    FreeSegmentSerializer,
    PoolSerializer,
    SiteSerializer,
)
from resources.domain.availability import pool_availability
from resources.domain.capacity import ADD, CHANGE, POOL, REMOVE, capacity_edit
from resources.models import CapacityChange, Pool, Site
from resources.tasks import capacity_on_worker

DEFAULT_AVAILABILITY_SPAN = timedelta(days=7)


@extend_schema(responses={200: SiteSerializer(many=True), **problems(400)})
class SiteList(ProblemAPIView, generics.ListAPIView):
    """Sites and the pools they run."""

    serializer_class = SiteSerializer
    queryset = Site.objects.prefetch_related("pools")


@extend_schema(responses={200: PoolSerializer(many=True), **problems(400)})
class PoolList(ProblemAPIView, generics.ListAPIView):
    """Pools with their base capacity and capacity changes."""

    serializer_class = PoolSerializer
    queryset = Pool.objects.select_related("site").prefetch_related("capacity_changes")


class PoolAvailability(ProblemAPIView):
    @extend_schema(
        summary="Free capacity of a pool as a step function",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="default: now"),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="default: start + 7 days"),
        ],
        responses={200: FreeSegmentSerializer(many=True), **problems(400, 404)},
    )
    def get(self, request, slug):
        pool = get_object_or_404(
            Pool.objects.select_related("site").prefetch_related("capacity_changes"), slug=slug
        )
        start = instant_param(request.query_params, "start") or timezone.now()
        end = instant_param(request.query_params, "end") or _later(start, DEFAULT_AVAILABILITY_SPAN)
        segments = pool_availability(pool=pool, start=start, end=end)
        return Response(FreeSegmentSerializer(segments, many=True).data)


def _later(instant: datetime, span: timedelta) -> datetime:
    """instant + span, or the last representable instant (a start in late 9999)."""
    try:
        return instant + span
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _dry_run(request) -> bool:
    """`dry_run` in the body (true/false) or the query (?dry_run=true): preview only."""
    value = request.data.get("dry_run", request.query_params.get("dry_run", False))
    if isinstance(value, str):
        value = {"true": True, "1": True, "false": False, "0": False, "": False}.get(value.lower())
    if not isinstance(value, bool):
        raise DomainError(
            "The request is not valid.", errors=[FieldError("dry_run", "must be true or false")]
        )
    return value


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise DomainError(
            "The request is not valid.", errors=[FieldError("", "must be a JSON object")]
        )
    return {k: v for k, v in request.data.items() if k not in ("dry_run", "proposal")}


def _edit_response(request, edit, *, status: int = 200) -> Response:
    """Preview (`dry_run`) or apply `edit` on the worker; with a `proposal` from a preview,
    that plan is applied (checked again first)."""
    dry_run = _dry_run(request)
    proposal = request.data.get("proposal") if isinstance(request.data, dict) else None
    if proposal is not None and not isinstance(proposal, list):
        raise DomainError(
            "The request is not valid.",
            errors=[FieldError("proposal", "must be the plan.proposal list of a preview")],
        )
    impact = capacity_on_worker(edit, apply=not dry_run, actor=request.user, proposal=proposal)
    return Response(impact, status=200 if dry_run else status)


_EDIT_RESPONSES = {200: CapacityImpactSerializer, **problems(400, 404, 503)}


class PoolCapacityChanges(ProblemAPIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Staff: add a capacity change (0 everywhere: maintenance), impact first",
        description="Body: {start, end (optional), capacity: {dim: n}, reason, dry_run}."
        " With dry_run the leases it would move, displace, degrade or withdraw and the"
        " proposed re-plan are returned and nothing is written; pass that answer's"
        " plan.proposal back as `proposal` to apply exactly that plan (re-validated).",
        request=OpenApiTypes.OBJECT,
        responses={201: CapacityImpactSerializer, **_EDIT_RESPONSES},
    )
    def post(self, request, slug):
        pool = get_object_or_404(Pool, slug=slug)
        edit = capacity_edit(action=ADD, pool=pool, data=_body(request))
        return _edit_response(request, edit, status=201)


class CapacityChangeDetail(ProblemAPIView):
    permission_classes = [IsAdminUser]

    def _change(self, id: int) -> CapacityChange:
        if id > 2**63 - 1:  # past bigint: no such row (and no query that would overflow)
            raise DomainError("No such capacity change.", status=404, code="not-found")
        return get_object_or_404(CapacityChange.objects.select_related("pool"), id=id)

    @extend_schema(
        summary="Staff: change a capacity change, impact first (dry_run)",
        request=OpenApiTypes.OBJECT,
        responses=_EDIT_RESPONSES,
    )
    def patch(self, request, id):
        change = self._change(id)
        edit = capacity_edit(action=CHANGE, pool=change.pool, change=change, data=_body(request))
        return _edit_response(request, edit)

    @extend_schema(
        summary="Staff: remove a capacity change (dry_run to preview)",
        request=None,
        responses=_EDIT_RESPONSES,
    )
    def delete(self, request, id):
        change = self._change(id)
        edit = capacity_edit(action=REMOVE, pool=change.pool, change=change, data={})
        return _edit_response(request, edit)


class PoolCapacity(ProblemAPIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Staff: change a pool's base capacity or enable/disable it, impact first",
        description="Body: {capacity: {dim: n}, enabled, dry_run}.",
        request=OpenApiTypes.OBJECT,
        responses=_EDIT_RESPONSES,
    )
    def patch(self, request, slug):
        pool = get_object_or_404(Pool, slug=slug)
        edit = capacity_edit(action=POOL, pool=pool, data=_body(request))
        return _edit_response(request, edit)
