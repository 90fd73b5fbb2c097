"""/api/devices/export/ and /api/exports/{id}/: export the devices of a query, now or as a job.

The filters are GET /api/devices/'s (its DeviceFilter: `query` and the shorthands), in one OU (`ou`, or the
user's only one). Up to EXPORT_SYNC_MAX devices the file is the answer; more answer 202 with the job, whose
`downloadUrl` serves the file when done. Jobs of OUs the user cannot see are 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.serializers import ErrorSerializer, QueryErrorSerializer
from ..api.views import QUERY_PARAMETER, query_error_body
from ..query import QueryError
from . import services
from .models import ExportFormat, ExportJob, ExportStatus
from .views import download_response, job_file
from .writers import CSV_CONTENT_TYPE, ZIP_CONTENT_TYPE


class ExportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ouId = serializers.CharField(source="ou.ou_id")
    query = serializers.CharField()
    format = serializers.ChoiceField(choices=ExportFormat.choices)
    status = serializers.CharField(help_text="one of " + ", ".join(ExportStatus.values))
    progress = serializers.IntegerField(help_text="devices written so far")
    total = serializers.IntegerField(help_text="devices that matched when the export was asked")
    error = serializers.CharField(help_text="why the export failed")
    filename = serializers.CharField()
    downloadUrl = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    def get_downloadUrl(self, job: ExportJob) -> str | None:  # noqa: N802 - the API's camelCase name
        return reverse("api-export-download", args=[job.pk]) if services.downloadable(job) else None


class JSONOnly(APIView):
    """`format` names the export's file format here, not a renderer: answers are always JSON (or a file)."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


class ExportView(JSONOnly):
    @extend_schema(
        summary="Export the devices of a query", operation_id="devices_export",
        parameters=[QUERY_PARAMETER,
                    OpenApiParameter("format", OpenApiTypes.STR, enum=ExportFormat.values,
                                     description="xlsx (default): a zip of one Batch Update template per product, "
                                                 "<productKey>.xlsx; csv: one file of every product."),
                    OpenApiParameter("ou", OpenApiTypes.STR, description="ouId of the OU exported; may be left "
                                     "out when you see only one OU"),
                    *[OpenApiParameter(name, OpenApiTypes.STR, description=f"as GET /api/devices/ takes {name}")
                      for name in ("productKey", "deviceKey", "assetId", "name", "status", "productType",
                                   "assetType", "tag", "attribute")]],
        responses={(200, ZIP_CONTENT_TYPE): OpenApiTypes.BINARY, (200, CSV_CONTENT_TYPE): OpenApiTypes.BINARY,
                   202: ExportJobSerializer, 400: QueryErrorSerializer, 401: ErrorSerializer},
        description="Up to EXPORT_SYNC_MAX devices (5,000 by default) the answer is the file; more answer 202 with "
                    "the export job (Location: its URL). CSV columns: assetId, deviceKey, name, productKey, status, "
                    "timezone, description, tags (JSON), attributes (JSON).")
    def get(self, request: Request) -> HttpResponse:
        fmt = services.check_format(request.query_params.get("format") or ExportFormat.XLSX)
        params = {key: request.query_params.getlist(key) for key in request.query_params if key != "format"}
        try:
            devices, ou = services.api_devices(request.user, params)
            total = devices.count()
        except QueryError as error:
            return Response(query_error_body(error), status=status.HTTP_400_BAD_REQUEST)
        query = request.query_params.get("query", "")
        if services.is_big(total):
            job = services.start_job(request.user, ou, source=services.API, params=params, query=query, fmt=fmt,
                                     total=total)
            url = reverse("api-export", args=[job.pk])
            return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        return download_response(request.user, ou, devices, fmt, query, total)


def _job(request: Request, pk: int) -> ExportJob:
    return get_object_or_404(ExportJob.objects.visible_to(request.user).select_related("ou"), pk=pk)


class ExportJobView(JSONOnly):
    @extend_schema(summary="An export job's status", operation_id="exports_retrieve",
                   responses={200: ExportJobSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExportJobSerializer(_job(request, pk)).data)


class ExportDownloadView(JSONOnly):
    @extend_schema(summary="Download an export job's file", operation_id="exports_download",
                   responses={(200, ZIP_CONTENT_TYPE): OpenApiTypes.BINARY,
                              (200, CSV_CONTENT_TYPE): OpenApiTypes.BINARY, 404: ErrorSerializer},
                   description="404 until the job is done, and once its file expired.")
    def get(self, request: Request, pk: int) -> HttpResponse:
        return job_file(_job(request, pk))
