"""REST API of the connection history: a device's sessions (newest first, keyset pages) and its
availability per period with the online intervals a timeline is drawn from."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.timezone import now
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.api.pagination import KeysetPagination

from .api import ERRORS, visible_device
from .models import ConnectionRecord, EndReason, Transport
from .timeline import DEFAULT_PERIOD, PERIODS, device_records, intervals_between, running_at, shares


class SessionSerializer(serializers.ModelSerializer):
    sessionId = serializers.IntegerField(source="pk")  # noqa: N815 - the API speaks camelCase like EnOS
    startedAt = serializers.DateTimeField(source="started_at")  # noqa: N815
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True,  # noqa: N815
                                        help_text="Null while the session is open.")
    durationSeconds = serializers.SerializerMethodField()  # noqa: N815
    transport = serializers.ChoiceField(choices=Transport.choices)
    clientAddress = serializers.CharField(source="client_address")  # noqa: N815
    viaGateway = serializers.BooleanField(source="via_gateway",  # noqa: N815
                                          help_text="A sub-device logged in through its gateway's connection.")
    endReason = serializers.ChoiceField(source="end_reason", choices=[("", "open"), *EndReason.choices],  # noqa: N815
                                        help_text="Empty while the session is open.")

    class Meta:
        model = ConnectionRecord
        fields = ["sessionId", "startedAt", "endedAt", "durationSeconds", "transport", "clientAddress",
                  "viaGateway", "endReason"]

    def get_durationSeconds(self, record: ConnectionRecord) -> float | None:  # noqa: N802
        return record.duration.total_seconds() if record.duration is not None else None


class SessionFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Sessions still open at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Sessions started before this time.")

    def validate(self, attrs: dict) -> dict:
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": [_("until must be later than since.")]})
        return attrs


class SessionPagination(KeysetPagination):
    ordering = ("-started_at", "-id")
    key_field = "started_at"


class DeviceSessionsView(ListAPIView):
    serializer_class = SessionSerializer
    pagination_class = SessionPagination
    filter_backends: list = []

    @extend_schema(operation_id="devices_sessions", summary="The device's sessions, newest first",
                   description="Every session of the device kept by its OU (CONNECTION_HISTORY_DAYS), with "
                               "its end reason. since/until keep the sessions overlapping that window.",
                   parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME),
                               OpenApiParameter("until", OpenApiTypes.DATETIME)],
                   responses={200: SessionSerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ConnectionRecord]:
        device = visible_device(self.request.user, self.kwargs["asset_id"])
        window = SessionFilterSerializer(data=self.request.query_params)
        window.is_valid(raise_exception=True)
        records = device_records(device)
        if "since" in window.validated_data:
            records = records.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=window.validated_data["since"]))
        if "until" in window.validated_data:
            records = records.filter(started_at__lt=window.validated_data["until"])
        return records


class PeriodSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    availability = serializers.FloatField(allow_null=True, help_text="% of the period online (from the device's "
                                                                     "creation if it is younger).")


class IntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class AvailabilitySerializer(serializers.Serializer):
    assetId = serializers.CharField()  # noqa: N815
    online = serializers.BooleanField()
    periods = PeriodSerializer(many=True)
    period = serializers.ChoiceField(choices=list(PERIODS), help_text="The period of `intervals`.")
    intervals = IntervalSerializer(many=True, help_text="Online intervals of `period`, oldest first.")


class DeviceAvailabilityView(APIView):
    @extend_schema(operation_id="devices_availability", summary="Availability per period and online intervals",
                   parameters=[OpenApiParameter("period", OpenApiTypes.STR, enum=list(PERIODS),
                                                description=f"The period of `intervals` (default {DEFAULT_PERIOD}).")],
                   responses={200: AvailabilitySerializer, **ERRORS})
    def get(self, request: Request, asset_id: str) -> Response:
        device = visible_device(request.user, asset_id)
        period = request.query_params.get("period", DEFAULT_PERIOD)
        if period not in PERIODS:
            raise serializers.ValidationError({"period": [
                _("period must be one of %(periods)s.") % {"periods": ", ".join(PERIODS)}]})
        at = now()
        longest = at - max(length for length, _label in PERIODS.values())
        shares_by_period = shares(device, at, running_at(device, longest))
        periods = [{"period": name, "start": at - length, "end": at, "availability": shares_by_period[name]}
                   for name, (length, _label) in PERIODS.items()]
        start = at - PERIODS[period][0]
        shown = [{"start": s, "end": e} for s, e in intervals_between(device, start, at, at)]
        return Response(AvailabilitySerializer({"assetId": device.asset_id, "online": device.online,
                                                "periods": periods, "period": period, "intervals": shown}).data)

