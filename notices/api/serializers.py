"""Webhook endpoints and their delivery log, as the API shows them."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from notices.choices import CHOOSABLE_KINDS
from notices.models import Delivery, WebhookEndpoint

FIELDS = {"url", "kinds", "description", "enabled"}


class WebhookEndpointSerializer(serializers.ModelSerializer):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=[k.value for k in CHOOSABLE_KINDS]),
        help_text="Event types it takes; empty: all.",
    )
    secret = serializers.CharField(
        read_only=True, help_text="Verify the webhook-signature with it (Standard Webhooks)."
    )
    token = serializers.SerializerMethodField(help_text="The API token it belongs to, if any.")
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "kinds",
            "enabled",
            "disabled_reason",
            "failures",
            "secret",
            "token",
            "created",
            "deliveries",
        ]
        read_only_fields = ["id", "disabled_reason", "failures", "created"]

    def get_token(self, endpoint) -> str | None:
        return f"{endpoint.token.prefix}…" if endpoint.token_id else None

    def get_deliveries(self, endpoint) -> str:
        return reverse(
            "api:webhook-deliveries", args=[endpoint.id], request=self.context.get("request")
        )


class DeliverySerializer(serializers.ModelSerializer):
    notice = serializers.UUIDField(source="notice_id", help_text="Also its webhook-id.")
    type = serializers.CharField(source="notice.kind")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "notice",
            "type",
            "state",
            "attempts",
            "response_status",
            "last_error",
            "due_at",
            "sent_at",
            "created",
        ]
