"""GET /api/audit-events/ (a page, newest first) and /api/audit-events/export/ (every match, streamed).

The events of every OU whose audit log the caller may read (its admins and owner), or of one with
`ou`; an OU named there whose log the caller may not read answers 404, as anything unseen does.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import audit_ou_ids
from accounts.models import AuditEvent, OrganizationUnit
from assets.api.serializers import ErrorSerializer

from . import audit_log
from .actions import action_label

TEXT = {"type": "string", "maxLength": audit_log.TEXT_LIMIT}
PARAMETERS = [
    OpenApiParameter("ou", TEXT, description="ouId of one OU; by default every OU whose audit log "
                     "you may read (you are its admin or owner)."),
    OpenApiParameter("actor", TEXT, description="User name of the actor; `system` for the portal's own."),
    OpenApiParameter("action", TEXT, description="Exact action code, e.g. device.disable."),
    OpenApiParameter("object_type", TEXT, description="e.g. device, product, thingmodel."),
    OpenApiParameter("object_id", TEXT, description="The object's public id (assetId, productKey …)."),
    OpenApiParameter("q", TEXT, description="Part of the object's name, any case."),
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (UTC), inclusive."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="To this day (UTC), inclusive."),
]


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.DateTimeField()
    actor = serializers.CharField()
    ouId = serializers.CharField()
    action = serializers.CharField()
    actionLabel = serializers.CharField()
    objectType = serializers.CharField()
    objectId = serializers.CharField()
    objectRepr = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    requestId = serializers.CharField()


def event_json(event: AuditEvent, ou_ids: dict[int, str]) -> dict[str, Any]:
    return {"id": event.pk, "time": event.created_at, "actor": audit_log.actor_name(event),
            "ouId": ou_ids.get(event.ou_id, ""), "action": event.action, "actionLabel": action_label(event.action),
            "objectType": event.object_type, "objectId": event.object_id, "objectRepr": event.object_repr,
            "before": event.before, "after": event.after, "requestId": event.request_id}


class AuditEventsMixin:
    def events(self, request: Request) -> tuple[QuerySet[AuditEvent], dict[int, str]]:
        """The readable events matching the filters, and the ouId of each OU they may be in."""
        ids = audit_ou_ids(request.user)
        ous = OrganizationUnit.objects.all() if ids is None else OrganizationUnit.objects.filter(pk__in=sorted(ids))
        named = request.query_params.get("ou")
        if named is not None:
            ous = ous.filter(ou_id=named)
        ou_ids = dict(ous.values_list("pk", "ou_id"))
        if named is not None and not ou_ids:
            raise NotFound(_("OU %(ou)s was not found.") % {"ou": named[:40]})
        try:
            filters = audit_log.AuditFilters.parse(request.query_params)
        except audit_log.BadFilter as bad:
            raise ValidationError({"filter": [str(bad)]}) from None
        events = AuditEvent.objects.filter(ou__in=sorted(ou_ids)) if ou_ids else AuditEvent.objects.none()
        return filters.apply(events), ou_ids


class AuditEventList(AuditEventsMixin, APIView):
    @extend_schema(
        summary="Audit events", operation_id="audit_events_list",
        description="Newest first, `pageSize` per page (1 to 200, default 50); `next` is the link to the next page.",
        parameters=[*PARAMETERS, OpenApiParameter("cursor", OpenApiTypes.STR),
                    OpenApiParameter("pageSize", {"type": "integer", "minimum": 1,
                                                  "maximum": audit_log.MAX_PAGE_SIZE})],
        responses={status.HTTP_200_OK: inline_serializer("AuditEventPage", {
            "next": serializers.URLField(allow_null=True), "results": AuditEventSerializer(many=True)}),
            status.HTTP_400_BAD_REQUEST: ErrorSerializer, status.HTTP_404_NOT_FOUND: ErrorSerializer})
    def get(self, request: Request) -> Response:
        raw_size = request.query_params.get("pageSize", str(audit_log.PAGE_SIZE))
        size = int(raw_size) if raw_size.isascii() and raw_size.isdigit() else 0
        if not 1 <= size <= audit_log.MAX_PAGE_SIZE:
            raise ValidationError({"pageSize": [_("pageSize must be a whole number from 1 to %(maximum)d.")
                                                % {"maximum": audit_log.MAX_PAGE_SIZE}]})
        events, ou_ids = self.events(request)
        try:
            page = audit_log.event_page(events, cursor=request.query_params.get("cursor", ""), size=size)
        except audit_log.BadFilter as bad:
            raise ValidationError({"cursor": [str(bad)]}) from None
        next_link = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_link = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"next": next_link, "results": [event_json(e, ou_ids) for e in page.events]})


class FormatIsTheExports(DefaultContentNegotiation):
    """`format` names the export's format here, not a DRF renderer: errors stay the API's JSON."""

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class AuditEventExport(AuditEventsMixin, APIView):
    content_negotiation_class = FormatIsTheExports

    @extend_schema(
        summary="Export audit events", operation_id="audit_events_export",
        description="Every matching event, newest first, streamed: `format=csv` (a header line, then one row per "
                    "event) or `format=jsonl` (one JSON object per line).",
        parameters=[*PARAMETERS, OpenApiParameter("format", OpenApiTypes.STR, enum=["csv", "jsonl"], required=True)],
        responses={(status.HTTP_200_OK, "text/csv"): OpenApiTypes.STR,
                   (status.HTTP_200_OK, "application/x-ndjson"): OpenApiTypes.STR,
                   status.HTTP_400_BAD_REQUEST: ErrorSerializer, status.HTTP_404_NOT_FOUND: ErrorSerializer})
    def get(self, request: Request) -> StreamingHttpResponse:
        fmt = request.query_params.get("format", "")
        if fmt not in audit_log.EXPORT_FORMATS:
            raise ValidationError({"format": [_("format must be csv or jsonl.")]})
        events, _ou_ids = self.events(request)
        content_type, lines = audit_log.EXPORT_FORMATS[fmt]
        response = StreamingHttpResponse(lines(events), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
        return response
