"""Read-only admin views of alert rules, alerts and the notification log, for support staff.

Writes go through observability.services (the console and the API): the admin only looks. Non-superuser
staff see the rows of their OUs. Webhook secrets are not shown anywhere but to the writer who resets one.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import ReadOnlyAdmin

from .models import Alert, AlertRule, Delivery


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "ou", "kind", "scope", "minutes", "enabled", "updated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    list_select_related = ("ou",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("opened_at", "rule", "device", "state", "acknowledged_by", "resolved_at")
    list_filter = ("state",)
    search_fields = ("device__device_key", "device__asset_id", "rule__name")
    list_select_related = ("rule", "device", "acknowledged_by")
    date_hierarchy = "opened_at"
    show_full_result_count = False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "rule", "channel", "target", "digest", "status", "attempts", "response_code")
    list_filter = ("channel", "status", "digest")
    search_fields = ("target", "subject")
    list_select_related = ("rule",)
    date_hierarchy = "created_at"
    show_full_result_count = False
