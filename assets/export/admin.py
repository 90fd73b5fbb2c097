"""The admin's read-only view of export jobs, scoped to the staff member's OUs (OUScopedAdmin)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import OUListFilter, ReadOnlyAdmin

from .models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "ou", "format", "status", "progress", "total", "requested_by", "created_at", "finished_at")
    list_filter = ("status", "format", ("ou", OUListFilter))
    search_fields = ("query",)
    list_select_related = ("ou", "requested_by")
    readonly_fields = ("ou", "requested_by", "source", "query", "params", "language", "format", "status",
                       "progress", "total", "filename", "file_path", "error", "created_at", "finished_at")
    ordering = ("-created_at", "-id")
