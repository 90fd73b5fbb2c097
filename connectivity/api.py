"""REST API of connectivity: issue a command and get its outcome; read latest data and recent commands."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.api.serializers import ErrorSerializer
from assets.models import Device
from enos_portal.api import APIJSONParser

from . import services
from .models import CommandInvocation
from .queries import latest_values
from .services import MAX_COMMAND_TIMEOUT

ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409)}


def visible_device(user: Any, asset_id: str) -> Device:
    return get_object_or_404(Device.objects.visible_to(user).select_related("product__model"), asset_id=asset_id)


class TimeoutSerializer(serializers.Serializer):
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_COMMAND_TIMEOUT,
                                     help_text="Seconds to wait for the device's reply (default 10).")


class InvokeSerializer(TimeoutSerializer):
    params = serializers.DictField(required=False, default=dict, help_text="Input parameters by identifier.")
    wait = serializers.BooleanField(required=False, allow_null=True, default=None,
                                    help_text="Wait for the reply (sync) or answer once sent (async, status "
                                              "pending; read the outcome from the invocations list). Default: "
                                              "the service's call type in the model (sync unless async).")


class SetMeasurepointsSerializer(TimeoutSerializer):
    values = serializers.DictField(help_text="Measure point values by identifier.")


class GetMeasurepointsSerializer(TimeoutSerializer):
    identifiers = serializers.ListField(child=serializers.CharField(), required=False,
                                        help_text="The measure points to read (default: all of the model's).")


class CommandOutcomeSerializer(serializers.Serializer):
    """The shape of CommandInvocation.outcome() (documentation only)."""

    invocationId = serializers.IntegerField()  # noqa: N815 - the API speaks camelCase like EnOS
    service = serializers.CharField()
    status = serializers.CharField(help_text="pending | ok | error | timeout | offline")
    code = serializers.IntegerField(allow_null=True, help_text="The device's reply code; 408 timeout, 503 offline.")
    message = serializers.CharField()
    data = serializers.JSONField(allow_null=True, help_text="The data of the device's reply.")
    createdAt = serializers.DateTimeField()  # noqa: N815
    finishedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815


class InvokeServiceView(APIView):
    parser_classes = [APIJSONParser]  # the API's bodies are JSON

    @extend_schema(request=InvokeSerializer, responses={200: CommandOutcomeSerializer, **ERRORS},
                   operation_id="devices_service_invoke",
                   summary="Send thing.service.<identifier> to the device and wait for its reply",
                   description="Answers with the outcome: ok or error (the device's reply and code), timeout, or "
                               "offline at once when the device is not connected. Needs write access.")
    def post(self, request: Request, asset_id: str, identifier: str) -> Response:
        device = visible_device(request.user, asset_id)
        body = InvokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invocation = services.invoke_service(request.user, device, identifier, body.validated_data["params"],
                                             timeout=body.validated_data.get("timeout"),
                                             wait=body.validated_data.get("wait"))
        return Response(invocation.outcome())


class SetMeasurepointsView(APIView):
    parser_classes = [APIJSONParser]

    @extend_schema(request=SetMeasurepointsSerializer, responses={200: CommandOutcomeSerializer, **ERRORS},
                   operation_id="devices_measurepoints_set",
                   summary="Send thing.service.measurepoint.set to the device and wait for its reply")
    def post(self, request: Request, asset_id: str) -> Response:
        device = visible_device(request.user, asset_id)
        body = SetMeasurepointsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invocation = services.set_measurepoints(request.user, device, body.validated_data["values"],
                                                timeout=body.validated_data.get("timeout"))
        return Response(invocation.outcome())


class GetMeasurepointsView(APIView):
    parser_classes = [APIJSONParser]

    @extend_schema(request=GetMeasurepointsSerializer, responses={200: CommandOutcomeSerializer, **ERRORS},
                   operation_id="devices_measurepoints_get",
                   summary="Send thing.service.measurepoint.get; the reply's data has the current values")
    def post(self, request: Request, asset_id: str) -> Response:
        device = visible_device(request.user, asset_id)
        body = GetMeasurepointsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        identifiers = body.validated_data.get("identifiers") or [
            f["identifier"] for f in device.product.model.measurepoints if isinstance(f, dict)]
        invocation = services.get_measurepoints(request.user, device, identifiers,
                                                timeout=body.validated_data.get("timeout"))
        return Response(invocation.outcome())


class CommandListView(APIView):
    @extend_schema(responses={200: CommandOutcomeSerializer(many=True), **ERRORS},
                   operation_id="devices_service_invocations", summary="The device's 20 most recent commands")
    def get(self, request: Request, asset_id: str) -> Response:
        device = visible_device(request.user, asset_id)
        return Response([invocation.outcome() for invocation in CommandInvocation.objects.recent_for(device)])


class LatestDataView(APIView):
    @extend_schema(responses={200: inline_serializer("LatestData", {
        "measurepoints": serializers.ListField(child=serializers.DictField()),
        "events": serializers.ListField(child=serializers.DictField())}), **ERRORS},
        operation_id="devices_latest_data", summary="The latest value and time of each measure point and event")
    def get(self, request: Request, asset_id: str) -> Response:
        device = visible_device(request.user, asset_id)
        latest = latest_values(device)

        def rows(kind: str) -> list[dict]:
            return [{"identifier": r.identifier, "value": r.value,
                     "time": r.time.isoformat() if r.time else None} for r in latest[kind]]

        return Response({"measurepoints": rows("measurepoint"), "events": rows("event")})
