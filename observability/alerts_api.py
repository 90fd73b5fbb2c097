"""/api/alert-rules/ (CRUD, and the OU's webhook secret), /api/alerts/ (list, filter, acknowledge, resolve) and
/api/alert-deliveries/ (the notification log): of the OUs the caller can see; writes through
observability.services (writers only, audited)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from assets.api.access import require_write, writable_ou
from assets.api.pagination import KeysetPagination
from assets.api.serializers import StrictInput
from assets.api.views import APIViewSet, list_responses, responses, validated
from assets.models import DeviceGroup, Product

from . import services
from .models import (
    Alert,
    AlertRule,
    AlertState,
    Channel,
    Comparison,
    Delivery,
    DeliveryStatus,
    RuleKind,
    Scope,
)


class AlertRuleSerializer(serializers.ModelSerializer):
    ouId = serializers.CharField(source="ou.ou_id")
    productKey = serializers.CharField(source="product.product_key", allow_null=True, default=None)
    groupId = serializers.IntegerField(source="group_id", allow_null=True)
    webhookUrl = serializers.CharField(source="webhook_url")
    emails = serializers.ListField(child=serializers.CharField())
    phones = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = AlertRule
        fields = ["id", "ouId", "name", "kind", "enabled", "scope", "productKey", "groupId", "query", "minutes",
                  "identifier", "comparison", "threshold", "count", "emails", "phones", "webhookUrl", "createdAt",
                  "updatedAt"]
        read_only_fields = fields


TARGETS = serializers.ListField(child=serializers.CharField(max_length=200), max_length=20, required=False)


class AlertRuleUpdateSerializer(StrictInput):
    name = serializers.CharField(min_length=1, max_length=100, required=False)
    enabled = serializers.BooleanField(required=False)
    scope = serializers.ChoiceField(choices=Scope.choices, required=False)
    productKey = serializers.CharField(max_length=64, required=False, allow_blank=True)
    groupId = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True)
    query = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    minutes = serializers.IntegerField(min_value=0, max_value=services.MAX_MINUTES, required=False,
                                       help_text="offline_for: N; threshold: M (0 at once); failed_logins: window.")
    identifier = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                       help_text="The measure point (threshold) or event identifier.")
    comparison = serializers.ChoiceField(choices=Comparison.choices, required=False, allow_blank=True)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=-1e300, max_value=1e300)
    count = serializers.IntegerField(min_value=0, max_value=100_000, required=False,
                                     help_text="failed_logins: more than this many in the window.")
    emails = serializers.ListField(child=serializers.CharField(max_length=200), max_length=20, required=False)
    phones = serializers.ListField(child=serializers.CharField(max_length=20), max_length=20, required=False)
    webhookUrl = serializers.CharField(max_length=500, required=False, allow_blank=True)


class AlertRuleCreateSerializer(AlertRuleUpdateSerializer):
    ouId = serializers.CharField()
    name = serializers.CharField(min_length=1, max_length=100)
    kind = serializers.ChoiceField(choices=RuleKind.choices)


class AlertSerializer(serializers.ModelSerializer):
    ouId = serializers.CharField(source="ou.ou_id")
    ruleId = serializers.IntegerField(source="rule_id")
    ruleName = serializers.CharField(source="rule.name")
    kind = serializers.CharField(source="rule.kind")
    assetId = serializers.CharField(source="device.asset_id")
    deviceKey = serializers.CharField(source="device.device_key")
    deviceName = serializers.CharField(source="device.name")
    openedAt = serializers.DateTimeField(source="opened_at")
    acknowledgedBy = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", allow_null=True)
    resolvedBy = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "ouId", "ruleId", "ruleName", "kind", "assetId", "deviceKey", "deviceName", "state",
                  "openedAt", "acknowledgedBy", "acknowledgedAt", "resolvedBy", "resolvedAt", "details"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    ouId = serializers.CharField(source="ou.ou_id")
    ruleId = serializers.IntegerField(source="rule_id", allow_null=True)
    alertId = serializers.IntegerField(source="alert_id", allow_null=True)
    responseCode = serializers.IntegerField(source="response_code", allow_null=True)
    nextRetryAt = serializers.DateTimeField(source="next_retry_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    sentAt = serializers.DateTimeField(source="sent_at", allow_null=True)

    class Meta:
        model = Delivery
        fields = ["id", "ouId", "ruleId", "alertId", "digest", "event", "channel", "target", "subject", "status",
                  "attempts", "responseCode", "error", "nextRetryAt", "createdAt", "sentAt"]
        read_only_fields = fields


API_FIELDS = {"productKey": "product", "groupId": "group", "webhookUrl": "webhook_url"}
MODEL_TO_API = {"product": "productKey", "group": "groupId", "webhook_url": "webhookUrl"}


def positive_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 18):
        raise ValidationError({name: [_("A whole number is expected.")]})
    return int(raw)


def choice(request: Request, name: str, values: list[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in values:
        raise ValidationError({name: [_("One of: %(values)s.") % {"values": ", ".join(values)}]})
    return raw


class AlertRuleViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = AlertRuleSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[AlertRule]:
        return AlertRule.objects.visible_to(self.request.user).select_related("ou", "product")

    def get_object(self, *, write: bool = False) -> AlertRule:
        rule = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        if write:
            require_write(self.request.user, rule.ou_id)
        return rule

    def fields_of(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = {API_FIELDS.get(key, key): value for key, value in data.items()}
        if "product" in fields:
            key = fields["product"]
            fields["product"] = Product.objects.visible_to(self.request.user).filter(product_key=key).first() \
                if key else None
            if key and fields["product"] is None:
                raise ValidationError({"productKey": [_("Unknown productKey.")]})
        if "group" in fields:
            pk = fields["group"]
            fields["group"] = DeviceGroup.objects.visible_to(self.request.user).filter(pk=pk).first() if pk else None
            if pk and fields["group"] is None:
                raise ValidationError({"groupId": [_("Unknown group.")]})
        return fields

    def handle_exception(self, exc: Exception) -> Response:
        details = getattr(exc, "details", None)
        if isinstance(details, dict) and hasattr(exc, "code") and hasattr(exc, "field"):
            exc.details = {MODEL_TO_API.get(key, key): value for key, value in details.items()}
        return super().handle_exception(exc)

    @extend_schema(summary="List alert rules", description="Rules of every OU you can see, newest first.",
                   responses=list_responses(AlertRuleSerializer))
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(summary="Get an alert rule", responses=responses(AlertRuleSerializer))
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(AlertRuleSerializer(self.get_object()).data)

    @extend_schema(summary="Create an alert rule", request=AlertRuleCreateSerializer,
                   responses=responses(AlertRuleSerializer, status.HTTP_201_CREATED),
                   description="kind offline_for (minutes), back_online, measure_point_threshold (identifier, "
                               "comparison, threshold, minutes), event (identifier), failed_logins (count, minutes); "
                               "scope all, product (productKey), group (groupId) or query; at least one target.")
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        data = validated(AlertRuleCreateSerializer, request.data)
        data.pop("ouId")
        rule = services.create_rule(request.user, ou, **self.fields_of(data))
        return Response(AlertRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change an alert rule", request=AlertRuleUpdateSerializer,
                   responses=responses(AlertRuleSerializer))
    def partial_update(self, request: Request, pk: str) -> Response:
        rule = self.get_object(write=True)
        changes = validated(AlertRuleUpdateSerializer, request.data)
        if changes:
            rule = services.update_rule(request.user, rule, **self.fields_of(changes))
        return Response(AlertRuleSerializer(rule).data)

    @extend_schema(summary="Delete an alert rule", responses=responses(None, status.HTTP_204_NO_CONTENT))
    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_rule(request.user, self.get_object(write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Reset the OU's webhook secret",
                   request=inline_serializer("WebhookSecretReset", {"ouId": serializers.CharField()}),
                   responses=responses(inline_serializer("WebhookSecret", {
                       "ouId": serializers.CharField(), "secret": serializers.CharField()})),
                   description="A new HMAC-SHA256 key for the OU's webhooks, shown this once. Webhooks carry "
                               "X-Portal-Timestamp and X-Portal-Signature: sha256=HMAC(secret, timestamp + '.' + "
                               "body).")
    @action(detail=False, methods=["post"], url_path="webhook-secret")
    def webhook_secret(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        return Response({"ouId": ou.ou_id, "secret": services.reset_webhook_secret(request.user, ou)})


class AlertPagination(KeysetPagination):
    ordering = ("-opened_at", "-id")
    key_field = "opened_at"


ALERT_FILTERS = [
    OpenApiParameter("state", OpenApiTypes.STR, enum=AlertState.values),
    OpenApiParameter("rule", {"type": "integer", "minimum": 1}, description="A rule's id."),
    OpenApiParameter("assetId", OpenApiTypes.STR, description="One device's alerts."),
]


@extend_schema_view(
    list=extend_schema(summary="List alerts", description="Newest first, of every OU you can see.",
                       parameters=ALERT_FILTERS, responses=list_responses(AlertSerializer)),
    retrieve=extend_schema(summary="Get an alert", responses=responses(AlertSerializer)),
)
class AlertViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = AlertSerializer
    pagination_class = AlertPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Alert]:
        alerts = (Alert.objects.visible_to(self.request.user)
                  .select_related("ou", "rule", "device", "acknowledged_by", "resolved_by"))
        if self.action == "list":
            state = choice(self.request, "state", AlertState.values)
            rule = positive_int(self.request, "rule")
            asset_id = self.request.query_params.get("assetId")
            if state:
                alerts = alerts.filter(state=state)
            if rule is not None:
                alerts = alerts.filter(rule_id=rule)
            if asset_id:
                alerts = alerts.filter(device__asset_id=asset_id[:64])
        return alerts

    def get_object(self) -> Alert:
        alert = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        require_write(self.request.user, alert.ou_id)
        return alert

    @extend_schema(summary="Acknowledge an alert", request=None, responses=responses(AlertSerializer))
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        return Response(AlertSerializer(services.acknowledge_alert(request.user, self.get_object())).data)

    @extend_schema(summary="Resolve an alert", request=None, responses=responses(AlertSerializer))
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        return Response(AlertSerializer(services.resolve_alert(request.user, self.get_object())).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(AlertSerializer(get_object_or_404(self.get_queryset(), pk=pk)).data)


@extend_schema_view(list=extend_schema(
    summary="List notification deliveries", description="The notification log, newest first: each e-mail, SMS "
    "and webhook of an alert or a digest, its attempts, response code and next retry.",
    parameters=[OpenApiParameter("rule", {"type": "integer", "minimum": 1}),
                OpenApiParameter("status", OpenApiTypes.STR, enum=DeliveryStatus.values),
                OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values)],
    responses=list_responses(DeliverySerializer)))
class DeliveryViewSet(APIViewSet, mixins.ListModelMixin):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        deliveries = Delivery.objects.visible_to(self.request.user).select_related("ou")
        rule = positive_int(self.request, "rule")
        state = choice(self.request, "status", DeliveryStatus.values)
        channel = choice(self.request, "channel", Channel.values)
        if rule is not None:
            deliveries = deliveries.filter(rule_id=rule)
        if state:
            deliveries = deliveries.filter(status=state)
        if channel:
            deliveries = deliveries.filter(channel=channel)
        return deliveries
