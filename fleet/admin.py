"""The admin's read-only view of bulk jobs, scoped to the staff member's OUs (OUScopedAdmin)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin import OUListFilter, ReadOnlyAdmin

from .models import Job


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "ou", "action", "state", "total", "created_by", "created_at", "finished_at")
    list_filter = ("state", "action", ("ou", OUListFilter))
    search_fields = ("public_id", "selection")
    list_select_related = ("ou", "created_by")
    readonly_fields = ("public_id", "ou", "created_by", "action", "params", "selection_kind", "selection", "state",
                       "outcome_message", "stages", "stages_in_percent", "current_stage", "rate_per_minute",
                       "timeout_seconds", "max_retries", "abort_failure_percent", "abort_min_executions",
                       "offline_policy", "deadline", "total", "created_at", "started_at", "finished_at")
    exclude = ("heartbeat_at", "message", "message_code", "message_params")
    ordering = ("-created_at", "-id")

    @admin.display(description=_("message"))
    def outcome_message(self, job: Job) -> str:
        return job.display_message  # in the staff member's language
