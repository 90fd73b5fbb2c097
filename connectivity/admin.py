"""Read-only admin views of live sessions, the connection history and issued commands, for support staff.

Nothing here writes: sessions follow the devices' connections and commands are issued from the
console or the API. Non-superuser staff see only devices `visible_to` them.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import ReadOnlyAdmin
from assets.models import Device

from .models import CommandInvocation, ConnectionRecord, DeviceSession


class VisibleDevicesAdmin(ReadOnlyAdmin):
    """Rows of the devices the staff member may see."""

    ou_path = "device__ou"

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # OUScopedAdmin's hook: the rows of devices `visible_to` the staff member
        queryset = queryset.select_related("device")
        return queryset if request.user.is_superuser else self.narrow(request, queryset)

    def narrow(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(device__in=Device.objects.visible_to(request.user).values("pk"))


@admin.register(DeviceSession)
class DeviceSessionAdmin(VisibleDevicesAdmin):
    list_display = ("device", "transport", "client_id", "via", "connected_at")
    list_filter = ("transport",)
    search_fields = ("device__device_key", "device__asset_id", "client_id")
    list_select_related = ("device", "via")
    show_full_result_count = False


@admin.register(CommandInvocation)
class CommandInvocationAdmin(VisibleDevicesAdmin):
    """Invocations belong to the OU that issued them: after a migration the target's staff do not see
    the source OU's commands (CommandInvocation.objects.visible_to)."""

    ou_path = "ou"

    def narrow(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(pk__in=CommandInvocation.objects.visible_to(request.user).values("pk"))

    list_display = ("created_at", "device", "service", "status", "code", "requested_by")
    list_filter = ("status",)
    search_fields = ("device__device_key", "device__asset_id", "service")
    list_select_related = ("device", "requested_by")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ConnectionRecord)
class ConnectionRecordAdmin(VisibleDevicesAdmin):
    """The connection history belongs to the OU the device was in (ConnectionRecord.objects.visible_to)."""

    ou_path = "ou"

    def narrow(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(pk__in=ConnectionRecord.objects.visible_to(request.user).values("pk"))

    list_display = ("started_at", "ended_at", "device", "transport", "client_address", "end_reason")
    list_filter = ("transport", "end_reason")
    search_fields = ("device__device_key", "device__asset_id", "client_address")
    list_select_related = ("device",)
    date_hierarchy = "started_at"
    show_full_result_count = False
