"""The console's Audit log page of the current OU, and its CSV / JSON lines export.

Readable by the OU's admins and its owner (accounts.audit.may_read_audit); anyone else gets a 404,
as for anything they may not see.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.audit import may_read_audit
from accounts.models import AuditEvent, OrganizationUnit
from assets.views.common import console_view, current_ou

from . import audit_log
from .actions import ACTION_LABELS, action_label


def _audited_ou(request: HttpRequest) -> OrganizationUnit:
    ou = current_ou(request)
    if not may_read_audit(request.user, ou):
        raise Http404
    return ou


@require_GET
@console_view
def audit_log_page(request: HttpRequest) -> HttpResponse:
    ou = _audited_ou(request)
    error = ""
    try:
        filters = audit_log.AuditFilters.parse(request.GET)
        page = audit_log.event_page(filters.apply(AuditEvent.objects.filter(ou=ou)),
                                    cursor=request.GET.get("after", ""))
    except audit_log.BadFilter as bad:
        error, filters, page = str(bad), audit_log.AuditFilters(), audit_log.EventPage([], None)
    links = audit_log.object_links(request.user, page.events)
    rows = [{"event": event, "actor": audit_log.actor_name(event), "label": action_label(event.action),
             "link": links.get(event.pk),
             "changes": [(key, audit_log.short(old), audit_log.short(new))
                         for key, old, new in audit_log.changes(event)]}
            for event in page.events]
    query = urlencode(filters.given)
    return render(request, "observability/audit_log.html", {
        "ou": ou, "rows": rows, "filters": filters.given, "error": error, "next_cursor": page.next_cursor,
        "query": query, "actions": sorted(((code, str(label)) for code, label in ACTION_LABELS.items()),
                                          key=lambda pair: pair[1]),
        "first_page": not request.GET.get("after"),
    }, status=400 if error else 200)


@require_GET
@console_view
def audit_log_export(request: HttpRequest, fmt: str) -> HttpResponse:
    ou = _audited_ou(request)
    if fmt not in audit_log.EXPORT_FORMATS:
        raise Http404
    try:
        filters = audit_log.AuditFilters.parse(request.GET)
    except audit_log.BadFilter as bad:
        return HttpResponse(str(bad), status=400, content_type="text/plain; charset=utf-8")
    content_type, lines = audit_log.EXPORT_FORMATS[fmt]
    response = StreamingHttpResponse(lines(filters.apply(AuditEvent.objects.filter(ou=ou))),
                                     content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{ou.ou_id}-{stamp}.{fmt}"'
    return response
