"""The inventory views: what sites and pools there are, and how much of a pool is free when."""

from datetime import UTC, datetime, timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from bookings.api.filters import instant_param
from bookings.api.views import ProblemAPIView, problems
from resources.api.serializers import FreeSegmentSerializer, PoolSerializer, SiteSerializer
from resources.domain.availability import pool_availability
from resources.models import Pool, Site

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
