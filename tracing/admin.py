"""Message traces in the Django admin: support staff read them across OUs and may stop one.

Read-only except the stop action, which goes through tracing.services (checked and audited like
a console click). Non-superuser staff see the traces of the OUs they may see (`visible_to`, through
ReadOnlyAdmin's OUScopedAdmin); stopping one needs write access to its OU (the service checks).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy, ngettext

from accounts.admin import OUListFilter, ReadOnlyAdmin
from accounts.errors import DomainError

from . import services
from .models import MessageTrace


@admin.register(MessageTrace)
class MessageTraceAdmin(ReadOnlyAdmin):
    """Traces start and stop through the console, the API or the stop action below; the retention purge
    deletes them."""

    list_display = ("id", "device", "ou", "started_by", "started_at", "expires_at", "stopped_at", "stop_reason",
                    "last_seq", "dropped")
    list_filter = ("stop_reason", ("ou", OUListFilter))
    search_fields = ("device__asset_id", "device__device_key", "device__name")
    list_select_related = ("device", "ou", "started_by")
    readonly_fields = [field.name for field in MessageTrace._meta.fields]
    actions = ["stop_traces"]
    ordering = ("-started_at", "-id")

    @admin.action(description=gettext_lazy("Stop the selected traces"), permissions=["view"])
    def stop_traces(self, request: HttpRequest, queryset: QuerySet) -> None:
        stopped = 0
        for trace in queryset.open():
            try:
                services.stop_trace(request.user, trace)
                stopped += 1
            except DomainError as error:
                self.message_user(request, gettext("Trace %(id)s: %(message)s")
                                  % {"id": trace.pk, "message": error.message}, messages.ERROR)
        self.message_user(request, ngettext("%(count)d trace stopped.", "%(count)d traces stopped.", stopped)
                          % {"count": stopped}, messages.SUCCESS)
