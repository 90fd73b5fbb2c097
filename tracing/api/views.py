"""/api/devices/{assetId}/traces/ and /api/traces/{traceId}/…: start, extend, stop, read and download traces.

What the user cannot see answers 404; a viewer may read traces but not start, extend or stop
them (403). Writes go through tracing.services, whose errors become the API's error body.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.http import urlencode
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.api.serializers import ErrorSerializer
from assets.models import Device
from enos_portal.api import APIJSONParser

from .. import services
from ..access import get_trace_for, traces_of
from ..downloads import jsonl_response
from ..models import MessageTrace, TraceLog
from .serializers import DurationSerializer, TraceLogPageSerializer, TraceLogSerializer, TraceSerializer

JSON_BODY = [APIJSONParser]  # the API's bodies are JSON
ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409)}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
LIST_LIMIT = 100


def _duration(data: Any) -> timedelta:
    serializer = DurationSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return timedelta(seconds=serializer.validated_data["duration"])


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # [0-9], not isdigit(): "²" is a digit to isdigit() and not a number to int()
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationError({name: [gettext("Must be an integer from %(low)d to %(high)d.")
                                      % {"low": low, "high": high}]})
    return int(raw)


class DeviceTracesView(APIView):
    parser_classes = JSON_BODY

    def device(self, request: Request, asset_id: str) -> Device:
        return get_object_or_404(Device.objects.visible_to(request.user), asset_id=asset_id)

    @extend_schema(summary="A device's traces", responses={200: TraceSerializer(many=True), **ERRORS},
                   description=f"Newest first, at most {LIST_LIMIT}; ended traces stay while retained.",
                   parameters=[OpenApiParameter("active", OpenApiTypes.BOOL, description="Only the running one.")])
    def get(self, request: Request, assetId: str) -> Response:
        traces = traces_of(request.user, self.device(request, assetId))
        if request.query_params.get("active") in ("true", "1"):
            traces = [t for t in traces.open()[:1] if t.is_active]
        return Response(TraceSerializer(list(traces[:LIST_LIMIT]), many=True).data)

    @extend_schema(summary="Start a message trace", request=DurationSerializer,
                   responses={201: TraceSerializer, **ERRORS},
                   description="Needs write access. 409 while a trace of the device is running: extend or stop it.")
    def post(self, request: Request, assetId: str) -> Response:
        device = self.device(request, assetId)
        services.require_write(request.user, device.ou_id)
        trace = services.start_trace(request.user, device, _duration(request.data))
        return Response(TraceSerializer(trace).data, status=status.HTTP_201_CREATED)


class TraceView(APIView):
    @extend_schema(summary="Get a trace", responses={200: TraceSerializer, **ERRORS})
    def get(self, request: Request, traceId: int) -> Response:
        return Response(TraceSerializer(get_trace_for(request.user, traceId)).data)


class TraceExtendView(APIView):
    parser_classes = JSON_BODY

    @extend_schema(summary="Extend a running trace", request=DurationSerializer,
                   responses={200: TraceSerializer, **ERRORS},
                   description="Adds `duration` seconds to its expiry; it may end at most 3 days from now.")
    def post(self, request: Request, traceId: int) -> Response:
        trace = get_trace_for(request.user, traceId)
        services.require_write(request.user, trace.ou_id)
        return Response(TraceSerializer(services.extend_trace(request.user, trace, _duration(request.data))).data)


class TraceStopView(APIView):
    parser_classes = JSON_BODY

    @extend_schema(summary="Stop a running trace", request=None, responses={200: TraceSerializer, **ERRORS})
    def post(self, request: Request, traceId: int) -> Response:
        trace = get_trace_for(request.user, traceId)
        return Response(TraceSerializer(services.stop_trace(request.user, trace)).data)


class TraceLogsView(APIView):
    @extend_schema(
        summary="A trace's logs, in seq order", responses={200: TraceLogPageSerializer, **ERRORS},
        description="A page of logs with seq greater than `after`: a page that saw seq N up to M asks "
                    "`after=M` next. Pages use it to fill gaps in what the websocket delivered.",
        parameters=[OpenApiParameter("after", OpenApiTypes.INT, description="Only logs after this seq (default 0)."),
                    OpenApiParameter("limit", OpenApiTypes.INT,
                                     description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).")])
    def get(self, request: Request, traceId: int) -> Response:
        trace = get_trace_for(request.user, traceId)
        after = _int_param(request, "after", 0, 0, 2**62)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        logs = list(TraceLog.objects.filter(trace=trace, seq__gt=after).order_by("seq")[:limit])
        next_url = None
        if len(logs) == limit:
            query = urlencode({"after": logs[-1].seq, "limit": limit})
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response({"results": TraceLogSerializer(logs, many=True).data, "lastSeq": trace.last_seq,
                         "next": next_url})


class TraceDownloadView(APIView):
    @extend_schema(summary="Download a trace's logs as JSON lines",
                   responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR,
                                                                           description="One log per line."),
                              **ERRORS})
    def get(self, request: Request, traceId: int) -> Any:
        trace: MessageTrace = get_trace_for(request.user, traceId)
        return jsonl_response(request, trace)
