"""/api/groups/: device groups of the OUs the user can see (others answer 404), their devices, and a static
group's members. Every write goes through assets.groups (writers only, audited)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .. import groups
from ..models import Device, DeviceGroup, GroupKind
from .access import require_write, writable_ou
from .serializers import AssetIdsSerializer, DeviceSerializer, StrictInput
from .views import APIViewSet, list_responses, responses, validated


class GroupSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    ouId = serializers.CharField(source="ou.ou_id", read_only=True)
    deviceCount = serializers.SerializerMethodField(
        help_text="Devices in the group now (null when a dynamic group's query no longer compiles).")
    problem = serializers.SerializerMethodField(help_text="Why a dynamic group's query no longer compiles.")
    reference = serializers.CharField(read_only=True, help_text='How a query names the group: group:"name".')
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = DeviceGroup
        fields = ["id", "ouId", "name", "kind", "description", "query", "reference", "deviceCount", "problem",
                  "createdAt", "updatedAt"]
        read_only_fields = fields

    def get_deviceCount(self, group: DeviceGroup) -> int | None:  # noqa: N802 - the API's field name
        return getattr(group, "device_count", None)

    def get_problem(self, group: DeviceGroup) -> str:
        return getattr(group, "problem", "")


class GroupCreateSerializer(StrictInput):
    ouId = serializers.CharField(source="ou_id")
    name = serializers.CharField(min_length=1, max_length=100)
    kind = serializers.ChoiceField(choices=GroupKind.choices, default=GroupKind.STATIC)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    query = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                  help_text="A device query (dynamic groups); refused with its message if bad.")
    assetIds = serializers.ListField(child=serializers.CharField(min_length=1), required=False, max_length=1000,
                                     help_text="Devices of a static group, of its OU.")


class GroupUpdateSerializer(StrictInput):
    name = serializers.CharField(min_length=1, max_length=100, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    query = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class GroupMembersSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Devices added (present ones are kept) or removed.")


@extend_schema_view(
    list=extend_schema(summary="List device groups", description="Groups of every OU you can see, newest first, "
                       "each with its device count.", responses=list_responses(GroupSerializer)),
    retrieve=extend_schema(summary="Get a device group", responses=responses(GroupSerializer)),
)
class GroupViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = GroupSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[DeviceGroup]:
        return DeviceGroup.objects.visible_to(self.request.user).select_related("ou")

    def get_object(self, *, write: bool = False) -> DeviceGroup:
        group = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        if write:
            require_write(self.request.user, group.ou_id)
        return group

    def answer(self, group: DeviceGroup, code: int = status.HTTP_200_OK) -> Response:
        groups.groups_with_counts(self.request.user, [group])
        return Response(GroupSerializer(group).data, status=code)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(GroupSerializer(groups.groups_with_counts(request.user, page),
                                                           many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self.answer(self.get_object())

    def devices_named(self, group: DeviceGroup, asset_ids: list[str]) -> list[Device]:
        asset_ids = list(dict.fromkeys(asset_ids))
        found = {d.asset_id: d for d in Device.objects.visible_to(self.request.user).filter(asset_id__in=asset_ids)}
        missing = [asset_id for asset_id in asset_ids if asset_id not in found]
        if missing:
            raise ValidationError({"assetIds": [f"Unknown assetId: {', '.join(missing[:10])}."]})
        return [found[asset_id] for asset_id in asset_ids]

    @extend_schema(summary="Create a device group", request=GroupCreateSerializer,
                   responses=responses(GroupSerializer, status.HTTP_201_CREATED),
                   description="kind static (assetIds of the OU's devices) or dynamic (a query, always current).")
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        fields = validated(GroupCreateSerializer, request.data)
        asset_ids = fields.pop("assetIds", [])
        group = groups.create_group(request.user, ou, name=fields["name"], kind=fields["kind"],
                                    description=fields["description"], query=fields["query"])
        if asset_ids:
            groups.add_group_devices(request.user, group, self.devices_named(group, asset_ids))
        return self.answer(group, status.HTTP_201_CREATED)

    @extend_schema(summary="Change a device group", request=GroupUpdateSerializer, responses=responses(GroupSerializer))
    def partial_update(self, request: Request, pk: str) -> Response:
        group = self.get_object(write=True)
        changes = validated(GroupUpdateSerializer, request.data)
        if changes:
            group = groups.update_group(request.user, group, **changes)
        return self.answer(group)

    @extend_schema(summary="Delete a device group", responses=responses(None, status.HTTP_204_NO_CONTENT))
    def destroy(self, request: Request, pk: str) -> Response:
        groups.delete_group(request.user, self.get_object(write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], summary="The group's devices", responses={
        **list_responses(DeviceSerializer), status.HTTP_404_NOT_FOUND: None})
    @extend_schema(methods=["POST"], summary="Add devices to a static group", request=AssetIdsSerializer,
                   responses=responses(GroupMembersSerializer))
    @extend_schema(methods=["DELETE"], summary="Remove devices from a static group", request=AssetIdsSerializer,
                   responses=responses(GroupMembersSerializer))
    @action(detail=True, methods=["get", "post", "delete"], url_path="devices")
    def devices(self, request: Request, pk: str) -> Any:
        if request.method == "GET":
            group = self.get_object()
            found = groups.group_devices(request.user, group).select_related("product", "ou", "gateway")
            return self.get_paginated_response(DeviceSerializer(self.paginate_queryset(found), many=True).data)
        group = self.get_object(write=True)
        asset_ids = validated(AssetIdsSerializer, request.data)["assetIds"]
        devices = self.devices_named(group, asset_ids)
        if request.method == "POST":
            changed = groups.add_group_devices(request.user, group, devices)
        else:
            changed = groups.remove_group_devices(request.user, group, devices)
        return Response({"id": group.pk, "changed": changed})
