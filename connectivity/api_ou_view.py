"""REST API of the OU view: devices online per hour over a period and the devices that flap the most, for
every OU the user sees or one (`ou`), for all products or one (`productKey`). Read from the roll-ups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.timezone import now
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ous import ous_visible_to
from assets.models import Product

from .api import ERRORS
from .models import FlappingDevice, OnlineHour
from .ou_view import FLAPPING_SHOWN, most_flapping, online_series
from .rollup import FLAPPING_KEPT, HOUR
from .timeline import DEFAULT_PERIOD, PERIODS


class ScopeSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS), default=DEFAULT_PERIOD,
                                     help_text="day (24 hours), week (168) or month (720 hours).")
    ou = serializers.CharField(required=False, max_length=64, help_text="ouId of one OU; by default every OU you "
                                                                        "can see.")
    productKey = serializers.CharField(required=False, max_length=64,  # noqa: N815
                                       help_text="One product's devices; by default every product's.")

    def validate_ou(self, value: str) -> Any:
        ou = ous_visible_to(self.context["user"]).filter(ou_id=value).first()
        if ou is None:
            raise serializers.ValidationError(_("Unknown OU, or one you have no access to."))
        return ou

    def validate_productKey(self, value: str) -> Any:  # noqa: N802
        product = Product.objects.visible_to(self.context["user"]).filter(product_key=value).first()
        if product is None:
            raise serializers.ValidationError(_("Unknown product, or one you have no access to."))
        return product


class FlappingScopeSerializer(ScopeSerializer):
    limit = serializers.IntegerField(default=FLAPPING_SHOWN, min_value=1, max_value=FLAPPING_KEPT,
                                     help_text=f"How many devices (default {FLAPPING_SHOWN}).")


def scoped(queryset: QuerySet, scope: dict) -> QuerySet:
    if "ou" in scope:
        queryset = queryset.filter(ou=scope["ou"])
    if "productKey" in scope:
        queryset = queryset.filter(product=scope["productKey"])
    return queryset


def read_scope(request: Request, serializer_class: type[ScopeSerializer]) -> dict:
    scope = serializer_class(data=request.query_params, context={"user": request.user})
    scope.is_valid(raise_exception=True)
    return dict(scope.validated_data)


class BucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    devicesOnline = serializers.IntegerField(  # noqa: N815
        source="devices", help_text="Devices with a session overlapping the hour (each counted once).")


class OnlineSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bucketSeconds = serializers.IntegerField()  # noqa: N815
    buckets = BucketSerializer(many=True, help_text="One per hour (UTC), oldest first; the last is the hour "
                                                    "running now, as of the last roll-up (every few minutes).")


def utc(moment: dt.datetime) -> str:
    """As the API's DateTimeFields write UTC times: ISO 8601 with Z."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class OnlineDevicesView(APIView):
    @extend_schema(operation_id="connectivity_online", summary="Devices online per hour over a period",
                   description="How many devices of the OUs you see (or of `ou`, of `productKey`) had a session "
                               "at some moment of each hour, from the connection history's hourly roll-up.",
                   parameters=[ScopeSerializer], responses={200: OnlineSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        scope = read_scope(request, ScopeSerializer)
        series = online_series(scoped(OnlineHour.objects.visible_to(request.user), scope), scope["period"], now())
        # written out rather than through BucketSerializer: 720 buckets a month cost it ~30 ms
        return Response({"period": series.period, "start": utc(series.start), "end": utc(series.end),
                         "bucketSeconds": int(HOUR.total_seconds()),
                         "buckets": [{"start": utc(b.start), "devicesOnline": b.devices} for b in series.buckets]})


class FlappingRowSerializer(serializers.Serializer):
    assetId = serializers.CharField(source="device.asset_id")  # noqa: N815
    name = serializers.CharField(source="device.name")
    deviceKey = serializers.CharField(source="device.device_key")  # noqa: N815
    productKey = serializers.CharField(source="device.product.product_key")  # noqa: N815
    sessions = serializers.IntegerField(help_text="Sessions started over the period.")
    sessionsPerDay = serializers.FloatField(source="per_day")  # noqa: N815
    countedAt = serializers.DateTimeField(source="counted_at", help_text="When the roll-up counted them.")  # noqa: N815


class FlappingSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    results = FlappingRowSerializer(many=True)


class FlappingDevicesView(APIView):
    @extend_schema(operation_id="connectivity_flapping", summary="The devices that flap the most",
                   description="The devices of the OUs you see (or of `ou`, of `productKey`) that started the most "
                               "sessions over the period, most first, as the hourly roll-up counted them.",
                   parameters=[FlappingScopeSerializer], responses={200: FlappingSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        scope = read_scope(request, FlappingScopeSerializer)
        ranks = scoped(FlappingDevice.objects.visible_to(request.user), scope)
        rows = most_flapping(ranks, scope["period"], scope["limit"])
        return Response(FlappingSerializer({"period": scope["period"], "results": rows}).data)
