"""/api/v1/webhooks/: register, change, delete and test endpoints, and read their log."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response

from bookings.api.views import ProblemAPIView, problems
from bookings.domain.errors import DomainError, FieldError, FieldErrors
from bookings.models import ApiToken
from notices.api.serializers import FIELDS, DeliverySerializer, WebhookEndpointSerializer
from notices.domain.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_test,
    webhook_endpoint_update,
)
from notices.models import WebhookEndpoint

TITLE = "This webhook endpoint cannot be saved."


def _body(request, *, required=()) -> dict:
    """The JSON object of the request, with only known fields (every problem named)."""
    data = request.data
    if not isinstance(data, dict):
        raise DomainError(
            "The body must be a JSON object.", errors=[FieldError("", "must be an object")]
        )
    errors = FieldErrors()
    for key in sorted(set(data) - FIELDS):
        errors.add(key, "is not a known field")
    for key in required:
        if key not in data:
            errors.add(key, "is required")
    errors.raise_if_any(TITLE)
    return data


def endpoints_for(user):
    return WebhookEndpoint.objects.filter(user=user).select_related("token")


class WebhookList(ProblemAPIView, generics.ListAPIView):
    """The caller's webhook endpoints; POST registers one (bound to the token used, if any)."""

    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return endpoints_for(self.request.user).order_by("created", "id")

    @extend_schema(responses={200: WebhookEndpointSerializer(many=True), **problems(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookEndpointSerializer,
        responses={201: WebhookEndpointSerializer, **problems(400)},
    )
    def post(self, request):
        data = _body(request, required=("url",))
        if "enabled" in data:
            raise DomainError(
                "A new endpoint is enabled.",
                errors=[FieldError("enabled", "cannot be set when registering")],
            )
        token = request.auth if isinstance(request.auth, ApiToken) else None
        endpoint = webhook_endpoint_create(
            user=request.user,
            url=data["url"],
            kinds=data.get("kinds"),
            description=data.get("description", ""),
            token=token,
        )
        body = WebhookEndpointSerializer(endpoint, context={"request": request}).data
        return Response(body, status=201, headers={"Location": f"{request.path}{endpoint.id}/"})


class WebhookDetail(ProblemAPIView):
    def endpoint(self, request, id) -> WebhookEndpoint:
        return get_object_or_404(endpoints_for(request.user), id=id)

    @extend_schema(responses={200: WebhookEndpointSerializer, **problems(404)})
    def get(self, request, id):
        return Response(
            WebhookEndpointSerializer(self.endpoint(request, id), context={"request": request}).data
        )

    @extend_schema(
        summary="Change url, kinds, description; enabled: true starts its failure count afresh",
        request=WebhookEndpointSerializer,
        responses={200: WebhookEndpointSerializer, **problems(400, 404)},
    )
    def patch(self, request, id):
        endpoint = self.endpoint(request, id)
        data = _body(request)
        endpoint = webhook_endpoint_update(endpoint=endpoint, changes=data)
        return Response(WebhookEndpointSerializer(endpoint, context={"request": request}).data)

    @extend_schema(request=None, responses={204: None, **problems(404)})
    def delete(self, request, id):
        self.endpoint(request, id).delete()
        return Response(status=204)


class WebhookDeliveries(ProblemAPIView, generics.ListAPIView):
    """The endpoint's delivery log, newest first."""

    serializer_class = DeliverySerializer

    def get_queryset(self):
        endpoint = get_object_or_404(endpoints_for(self.request.user), id=self.kwargs["id"])
        return endpoint.deliveries.select_related("notice").order_by("-created", "-id")

    @extend_schema(responses={200: DeliverySerializer(many=True), **problems(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class WebhookTest(ProblemAPIView):
    @extend_schema(
        summary="Send a webhook.test event to this endpoint (queued; see its deliveries)",
        request=None,
        responses={
            202: inline_serializer(
                "WebhookTestQueued",
                {"notice": serializers.UUIDField(), "deliveries": serializers.URLField()},
            ),
            **problems(404, 409),
        },
    )
    def post(self, request, id):
        endpoint = get_object_or_404(endpoints_for(request.user), id=id)
        notice = webhook_endpoint_test(endpoint=endpoint)
        serializer = WebhookEndpointSerializer(endpoint, context={"request": request})
        return Response(
            {"notice": str(notice.id), "deliveries": serializer.data["deliveries"]}, status=202
        )
