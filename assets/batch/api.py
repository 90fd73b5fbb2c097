"""/api/batch/: the template, uploads (multipart), job status, apply and errmsg.txt.

Jobs come from `BatchJob.objects.visible_to(user)` (404 outside); writing needs write access to the
job's OU (403). Uploads name their OU with ouId, as creates do elsewhere in the API.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.access import require_write, writable_ou
from ..api.serializers import ErrorSerializer
from ..models import BatchJob, BatchOperation, BatchStatus, Device, Product
from . import services
from .columns import template_filename
from .template import XLSX_CONTENT_TYPE, build_template

JOB_LIST_LIMIT = 50
ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409)}


class BatchJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ouId = serializers.CharField(source="ou.ou_id")
    productKey = serializers.CharField(source="product.product_key")
    operation = serializers.ChoiceField(choices=BatchOperation.choices)
    # a plain string: an enum named "status" would collide with the device's in the schema
    status = serializers.CharField(help_text="one of " + ", ".join(BatchStatus.values)
                                   + ": parsing → parsed → applying → applied, or failed (see message)")
    filename = serializers.CharField()
    totalRows = serializers.IntegerField(source="total_rows")
    validRows = serializers.IntegerField(source="valid_rows")
    invalidRows = serializers.IntegerField(source="invalid_rows")
    appliedRows = serializers.IntegerField(source="applied_rows")
    progress = serializers.IntegerField(help_text="percent of the current phase (parsing or applying)")
    message = serializers.CharField(help_text="why the whole file was refused, or why applying failed")
    firstProblems = serializers.SerializerMethodField()
    problemCount = serializers.SerializerMethodField()
    requestedBy = serializers.CharField(source="requested_by.username", default=None, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_firstProblems(self, job: BatchJob) -> list[str]:  # noqa: N802 - the API's camelCase name
        return list(job.result.get("first_problems", []))

    @extend_schema_field(OpenApiTypes.INT)
    def get_problemCount(self, job: BatchJob) -> int:  # noqa: N802
        return int(job.result.get("problem_count", 0)) + int(job.result.get("refused_when_applying", 0))


class BatchUploadSerializer(serializers.Serializer):
    ouId = serializers.CharField(min_length=1, help_text="the OU whose devices are imported or updated")
    productKey = serializers.CharField(min_length=1)
    operation = serializers.ChoiceField(choices=BatchOperation.choices)
    file = serializers.FileField(help_text="the filled Template_<productKey>.xlsx")


def _jobs(request: Request):
    # errmsg.txt can run to megabytes: only its own endpoint reads it
    return BatchJob.objects.visible_to(request.user).select_related("ou", "product", "requested_by").defer("problems")


def _job(request: Request, pk: int) -> BatchJob:
    return get_object_or_404(_jobs(request), pk=pk)


class TemplateView(APIView):
    @extend_schema(
        summary="Download a batch template", operation_id="batch_template",
        parameters=[OpenApiParameter("productKey", {"type": "string", "minLength": 1}, required=True),
                    OpenApiParameter("assetId", OpenApiTypes.STR, description="fill the sample row with this device")],
        responses={(200, XLSX_CONTENT_TYPE): OpenApiTypes.BINARY, **ERRORS},
        description="Template_<productKey>.xlsx: deviceKey, name, time zone, description, one column per model "
                    "attribute, tags; an Instructions sheet explains the rules.")
    def get(self, request: Request) -> HttpResponse:
        product_key = request.query_params.get("productKey")
        if not product_key:
            raise ValidationError({"productKey": [_("This parameter is required.")]})
        product = Product.objects.visible_to(request.user).select_related("model").filter(
            product_key=product_key).first()
        if product is None:
            raise NotFound(_("Product %(product)s was not found.") % {"product": product_key})
        sample = None
        asset_id = request.query_params.get("assetId")
        if asset_id:
            sample = Device.objects.visible_to(request.user).filter(asset_id=asset_id, product=product).first()
            if sample is None:
                raise NotFound(_("Device %(device)s of product %(product)s was not found.")
                               % {"device": asset_id, "product": product_key})
        response = HttpResponse(build_template(product, sample=sample), content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{template_filename(product)}"'
        return response


class JobListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Recent batch jobs", operation_id="batch_jobs_list",
                   parameters=[OpenApiParameter("ouId", OpenApiTypes.STR, description="only this OU's jobs")],
                   responses={200: BatchJobSerializer(many=True)},
                   description=f"Newest first, at most {JOB_LIST_LIMIT}.")
    def get(self, request: Request) -> Response:
        jobs = _jobs(request)
        if request.query_params.get("ouId"):
            jobs = jobs.filter(ou__ou_id=request.query_params["ouId"])
        return Response(BatchJobSerializer(jobs[:JOB_LIST_LIMIT], many=True).data)

    @extend_schema(
        summary="Upload a filled template", operation_id="batch_jobs_create",
        request={"multipart/form-data": BatchUploadSerializer},
        responses={201: BatchJobSerializer, **ERRORS},
        description="A file refused as a whole (not an .xlsx, damaged, encrypted, a zip bomb, over the limits) "
                    "answers 400 and leaves no job. Otherwise the job is parsed at once (small files: the answer "
                    "is `parsed` or `failed`) or in the background (`parsing`: poll the job).")
    def post(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        serializer = BatchUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        product = Product.objects.visible_to(request.user).in_ou(ou).select_related("model").filter(
            product_key=data["productKey"]).first()
        if product is None:
            raise NotFound(_("Product %(product)s was not found in OU %(ou)s.")
                           % {"product": data["productKey"], "ou": ou.ou_id})
        job = services.start_batch(request.user, ou, product, data["operation"], data["file"])
        return Response(BatchJobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobView(APIView):
    @extend_schema(summary="A batch job's status and result", operation_id="batch_jobs_retrieve",
                   responses={200: BatchJobSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(BatchJobSerializer(_job(request, pk)).data)


class ApplyView(APIView):
    @extend_schema(summary="Apply a parsed batch job", operation_id="batch_jobs_apply", request=None,
                   responses={200: BatchJobSerializer, **ERRORS},
                   description="Writes the valid records in one transaction after checking them again. Small jobs "
                               "answer `applied`; large ones `applying` (poll the job).")
    def post(self, request: Request, pk: int) -> Response:
        job = _job(request, pk)
        require_write(request.user, job.ou_id)
        job = services.apply_job(request.user, job)
        return Response(BatchJobSerializer(job).data)


class ErrmsgView(APIView):
    @extend_schema(summary="errmsg.txt: every problem, one per line", operation_id="batch_jobs_errmsg",
                   responses={(200, "text/plain"): OpenApiTypes.STR, **ERRORS})
    def get(self, request: Request, pk: int) -> HttpResponse:
        job = _job(request, pk)
        response = HttpResponse(services.errmsg_text(job), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="errmsg.txt"'
        return response
