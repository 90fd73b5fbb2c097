"""/api/migrations/: Move devices to another OU with the code texted to the target OU's owner.

POST /api/migrations/                 {deviceAssetIds, targetOuId, includeSubDevices} → 202, the code is sent
POST /api/migrations/{id}/resend/     a new code (once a minute)
Codes texted are limited per target phone (hourly and daily), per user and per client address: 429 + Retry-After.
POST /api/migrations/{id}/confirm/    {code} → the devices move, all or none
GET  /api/migrations/{id}/            the request and its result; only its requester sees it
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.sms import mask_phone
from accounts.throttle import client_ip
from enos_portal.api import APIJSONParser

from ..api.serializers import ErrorSerializer, StrictInput
from ..models import MigrationRequest, MigrationStatus
from . import services

ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409, 429)}


class MigrationCreateSerializer(StrictInput):
    deviceAssetIds = serializers.ListField(child=serializers.CharField(min_length=1), allow_empty=False,
                                           max_length=services.MAX_DEVICES_PER_REQUEST)
    targetOuId = serializers.CharField(min_length=1, help_text="The OU ID of the OU the devices move to.")
    includeSubDevices = serializers.BooleanField(
        default=True, help_text="For gateways: move their sub-devices too; otherwise they are detached and stay.")


class MigrationCodeSerializer(StrictInput):
    code = serializers.CharField(min_length=1, help_text="The 6-digit code texted to the target OU's owner.")


class MigrationResultSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="Devices that changed OU, sub-devices included.")
    movedDevices = serializers.IntegerField()
    movedSubDevices = serializers.IntegerField()
    detachedSubDevices = serializers.IntegerField(help_text="Sub-devices of a moved gateway that stayed.")
    detachedFromGateway = serializers.IntegerField(help_text="Moved sub-devices whose gateway stayed.")
    sharedProducts = serializers.ListField(child=serializers.CharField(), help_text="productKeys newly shared.")
    sharedModels = serializers.ListField(child=serializers.CharField(), help_text="model IDs newly shared.")


class MigrationRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # a plain string: a second enum named "status" would collide with the devices' in the schema
    status = serializers.CharField(help_text="pending | done | failed | locked (too many wrong codes) | expired")
    sourceOuId = serializers.CharField()
    targetOuId = serializers.CharField()
    targetOuName = serializers.CharField()
    deviceAssetIds = serializers.ListField(child=serializers.CharField())
    includeSubDevices = serializers.BooleanField()
    codeSentTo = serializers.CharField(help_text="The target OU owner's phone, masked.")
    codeSentAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField(allow_null=True, help_text="When the latest code stops working.")
    attemptsLeft = serializers.IntegerField()
    resendAvailableAt = serializers.DateTimeField(allow_null=True)
    deliveryError = serializers.CharField(allow_null=True, help_text="Why the latest SMS could not be sent.")
    error = serializers.CharField(allow_null=True, help_text="Why the migration failed.")
    result = MigrationResultSerializer(allow_null=True)
    createdAt = serializers.DateTimeField()
    completedAt = serializers.DateTimeField(allow_null=True)


def describe(request: MigrationRequest) -> dict[str, Any]:
    stored = request.result
    result = None
    if request.status == MigrationStatus.DONE:
        result = {
            "moved": stored.get("moved", 0), "movedDevices": stored.get("moved_devices", 0),
            "movedSubDevices": stored.get("moved_sub_devices", 0),
            "detachedSubDevices": stored.get("detached_sub_devices", 0),
            "detachedFromGateway": stored.get("detached_from_gateway", 0),
            "sharedProducts": stored.get("shared_products", []), "sharedModels": stored.get("shared_models", []),
        }
    return MigrationRequestSerializer({
        "id": request.pk, "status": request.status,
        "sourceOuId": request.source_ou.ou_id, "targetOuId": request.target_ou.ou_id,
        "targetOuName": request.target_ou.name, "deviceAssetIds": stored.get("asset_ids", []),
        "includeSubDevices": request.include_sub_devices,
        "codeSentTo": mask_phone(request.target_ou.owner.phone),
        "codeSentAt": request.code_sent_at, "expiresAt": request.expires_at,
        "attemptsLeft": services.attempts_left(request),
        "resendAvailableAt": services.resend_available_at(request),
        "deliveryError": stored.get("delivery_error"), "error": stored.get("error"),
        "result": result, "createdAt": request.created_at, "completedAt": request.completed_at,
    }).data


def accepted(request: MigrationRequest) -> Response:
    return Response(describe(request), status=status.HTTP_202_ACCEPTED)


ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The migration request's id.")


@extend_schema_view(
    retrieve=extend_schema(summary="Get a migration request", parameters=[ID],
                           responses={200: MigrationRequestSerializer, **ERRORS}),
)
class MigrationViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9]+"
    parser_classes = [APIJSONParser]  # the API's bodies are JSON

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, services.Throttled):
            response["Retry-After"] = str(exc.retry_after)
        return response

    @extend_schema(summary="Start a migration (Move) and text the code", request=MigrationCreateSerializer,
                   responses={202: MigrationRequestSerializer, **ERRORS},
                   description="Validates, then sends a 6-digit code by SMS to the target OU's owner. "
                               "The code is valid 10 minutes; 5 wrong codes end the request.")
    def create(self, request: Request) -> Response:
        serializer = MigrationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        migration = services.request_migration(request.user, data["deviceAssetIds"], data["targetOuId"],
                                               include_sub_devices=data["includeSubDevices"],
                                               client_ip=client_ip(request))
        return accepted(migration)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(describe(services.get_request_for(request.user, pk)))

    @extend_schema(summary="Send a new code", request=None, parameters=[ID],
                   responses={202: MigrationRequestSerializer, **ERRORS},
                   description="At most once a minute; the previous code stops working.")
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str) -> Response:
        return accepted(services.resend_code(request.user, pk, client_ip=client_ip(request)))

    @extend_schema(summary="Confirm with the code: the devices move", request=MigrationCodeSerializer,
                   parameters=[ID], responses={200: MigrationRequestSerializer, **ERRORS},
                   description="One transaction: every device moves, or none (409 when one was deleted or "
                               "moved meanwhile). Products and models the target lacks are shared to it read-only.")
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str) -> Response:
        services.get_request_for(request.user, pk)  # 404 before judging the body
        serializer = MigrationCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        migration = services.confirm_migration(request.user, pk, serializer.validated_data["code"])
        return Response(describe(migration))
