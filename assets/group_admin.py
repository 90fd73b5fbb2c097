"""The admin's read-only view of device groups (written only through assets.groups, by the console and the
API), scoped to the staff member's OUs like every admin here. Imported by assets.admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin import OUListFilter, ReadOnlyAdmin

from .models import DeviceGroup, DeviceGroupMember


class MemberInline(admin.TabularInline):
    model = DeviceGroupMember
    fields = ("device", "added_at", "added_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeviceGroup)
class DeviceGroupAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "ou", "member_count", "query", "updated_at")
    list_filter = ("kind", ("ou", OUListFilter))
    list_select_related = ("ou",)
    search_fields = ("name", "query")
    ordering = ("name", "pk")
    inlines = (MemberInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("members")).order_by("name", "pk")

    @admin.display(description=_("static members"))
    def member_count(self, group: DeviceGroup) -> int:
        return group.n_members
