"""/api/jobs/: bulk jobs of the OUs the user can see (others answer 404), their per-device outcomes (also as
CSV), start and cancel. Every write goes through fleet.services (writers only, audited)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from assets.api.access import require_write, writable_ou
from assets.api.pagination import KeysetPagination
from assets.api.serializers import StrictInput
from assets.api.views import APIViewSet, list_responses, responses, validated
from assets.models import DeviceGroup

from .. import services
from ..models import ExecutionState, Job, JobAction, JobState, OfflinePolicy, SelectionKind
from ..outcome_messages import TEXT, TEXTS
from ..outcomes import csv_response, with_counts

STATES_HELP = ", ".join(ExecutionState.values)
MESSAGE_CODE_HELP = ("stable code of the message (empty: no message, or a row older than the codes); "
                     f"one of: {', '.join(TEXTS)}, or {TEXT} (params.text is the message)")
MESSAGE_PARAMS_HELP = "the values the message names (device identifiers, counts, the device's own words)"


class CountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    claimed = serializers.IntegerField(help_text="running now")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class JobSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    ouId = serializers.CharField(source="ou.ou_id")
    action = serializers.ChoiceField(choices=JobAction.choices)
    params = serializers.JSONField()
    selectionKind = serializers.ChoiceField(source="selection_kind", choices=SelectionKind.choices)
    selection = serializers.CharField(help_text="the asset IDs, the query or the group's name, as asked")
    state = serializers.ChoiceField(choices=JobState.choices)
    message = serializers.CharField(source="display_message", help_text=(
        "why the job ended so (aborted, cancelled), in the request's language (Accept-Language)"))
    messageCode = serializers.CharField(source="message_code", help_text=MESSAGE_CODE_HELP)
    messageParams = serializers.DictField(source="message_params", help_text=MESSAGE_PARAMS_HELP)
    total = serializers.IntegerField(help_text="devices the selection resolved to")
    counts = CountsSerializer()
    stages = serializers.ListField(child=serializers.IntegerField())
    stagesInPercent = serializers.BooleanField(source="stages_in_percent")
    currentStage = serializers.IntegerField(source="current_stage")
    ratePerMinute = serializers.IntegerField(source="rate_per_minute")
    timeoutSeconds = serializers.FloatField(source="timeout_seconds")
    maxRetries = serializers.IntegerField(source="max_retries")
    abortFailurePercent = serializers.FloatField(source="abort_failure_percent", allow_null=True)
    abortMinExecutions = serializers.IntegerField(source="abort_min_executions")
    offlinePolicy = serializers.ChoiceField(source="offline_policy", choices=OfflinePolicy.choices)
    deadline = serializers.DateTimeField(allow_null=True)
    createdBy = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class JobCreateSerializer(StrictInput):
    ouId = serializers.CharField(min_length=1)
    action = serializers.ChoiceField(choices=JobAction.choices)
    params = serializers.DictField(required=False, default=dict, help_text=(
        "add_tags {tags: {key: value}}, remove_tags {keys: [..]}, set_attributes {attributes: {..}}, "
        "invoke_service {service, params: {..}}, set_measurepoints {values: {..}}, start_trace {minutes}; "
        "enable, disable, delete take none."))
    assetIds = serializers.ListField(child=serializers.CharField(min_length=1), required=False, min_length=1,
                                     max_length=10_000, help_text="the devices (one of assetIds, query, groupId)")
    query = serializers.CharField(required=False, max_length=2000, help_text="a device query: every match")
    groupId = serializers.IntegerField(required=False, min_value=1, help_text="a group of the OU")
    stages = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list,
                                   max_length=10, help_text="cumulative: [1, 10, 100] percent, or counts")
    stagesInPercent = serializers.BooleanField(required=False, default=True)
    ratePerMinute = serializers.IntegerField(required=False, default=0, min_value=0, max_value=100_000,
                                             help_text="executions started per minute; 0: no limit")
    timeoutSeconds = serializers.FloatField(required=False, default=10.0, min_value=0.1, max_value=300)
    maxRetries = serializers.IntegerField(required=False, default=0, min_value=0, max_value=5)
    abortFailurePercent = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0.1,
                                                 max_value=100)
    abortMinExecutions = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1_000_000)
    offlinePolicy = serializers.ChoiceField(choices=OfflinePolicy.choices, required=False,
                                            default=OfflinePolicy.SKIP)
    deadline = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        given = [name for name in ("assetIds", "query", "groupId") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError({"selection": [_("Give one of assetIds, query or groupId.")]})
        return attrs


class ExecutionSerializer(serializers.Serializer):
    assetId = serializers.CharField(source="asset_id")
    deviceName = serializers.CharField(source="device_name")
    stage = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ExecutionState.choices)
    attempts = serializers.IntegerField()
    message = serializers.CharField(source="display_message",
                                    help_text="the outcome's message in the request's language (Accept-Language)")
    messageCode = serializers.CharField(source="message_code", help_text=MESSAGE_CODE_HELP)
    messageParams = serializers.DictField(source="message_params", help_text=MESSAGE_PARAMS_HELP)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class ExecutionPagination(KeysetPagination):
    """Executions in the order they were created (no time column): keyed on id alone."""

    key_field = "id"

    def _position(self, row: Any) -> str:
        return f"{row.pk}|{row.pk}"

    def _decode_position(self, position: str) -> tuple[Any, int]:
        try:
            first, pk = position.rsplit("|", 1)
            return int(first), int(pk)
        except ValueError:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None


STATE_PARAMETER = OpenApiParameter("state", OpenApiTypes.STR, enum=ExecutionState.values,
                                   description="only the executions in this state")


@extend_schema_view(
    list=extend_schema(summary="List jobs", description="Bulk jobs of every OU you can see, newest first.",
                       responses=list_responses(JobSerializer)),
    retrieve=extend_schema(summary="Get a job", description="The job with its executions counted per state.",
                           responses=responses(JobSerializer)),
)
class JobViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = JobSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "pk"
    lookup_value_regex = "job-[0-9a-f]{16}"

    def get_queryset(self) -> QuerySet[Job]:
        return Job.objects.visible_to(self.request.user).select_related("ou", "created_by")

    def get_object(self, *, write: bool = False) -> Job:
        job = get_object_or_404(self.get_queryset(), public_id=self.kwargs["pk"])
        if write:
            require_write(self.request.user, job.ou_id)
        return job

    def answer(self, job: Job, code: int = status.HTTP_200_OK) -> Response:
        return Response(JobSerializer(with_counts([job])[0]).data, status=code)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(JobSerializer(with_counts(page), many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self.answer(self.get_object())

    @extend_schema(summary="Start a job", request=JobCreateSerializer,
                   responses=responses(JobSerializer, status.HTTP_201_CREATED),
                   description="Resolves the selection (devices of the OU you may change) to one execution per "
                               "device and starts the rollout. Rollout controls: stages, ratePerMinute, "
                               "timeoutSeconds, maxRetries, abortFailurePercent after abortMinExecutions, "
                               "offlinePolicy (skip, or wait until the deadline).")
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        fields = validated(JobCreateSerializer, request.data)
        group = None
        if "groupId" in fields:
            group = DeviceGroup.objects.visible_to(request.user).filter(pk=fields["groupId"], ou=ou).first()
            if group is None:
                raise ValidationError({"groupId": [_("No such group in this OU.")]})
        kind = (SelectionKind.DEVICES if "assetIds" in fields else
                SelectionKind.QUERY if "query" in fields else SelectionKind.GROUP)
        job = services.start_job(
            request.user, ou, action=fields["action"], params=fields["params"], selection_kind=kind,
            asset_ids=fields.get("assetIds"), query=fields.get("query", ""), group=group, stages=fields["stages"],
            stages_in_percent=fields["stagesInPercent"], rate_per_minute=fields["ratePerMinute"],
            timeout_seconds=fields["timeoutSeconds"], max_retries=fields["maxRetries"],
            abort_failure_percent=fields["abortFailurePercent"], abort_min_executions=fields["abortMinExecutions"],
            offline_policy=fields["offlinePolicy"], deadline=fields["deadline"])
        job = self.get_queryset().get(pk=job.pk)
        return self.answer(job, status.HTTP_201_CREATED)

    @extend_schema(summary="Cancel a job", request=None, responses=responses(JobSerializer),
                   description="Executions not started yet are cancelled; running ones finish. 409 once ended.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = services.cancel_job(request.user, self.get_object(write=True))
        return self.answer(self.get_queryset().get(pk=job.pk))

    @extend_schema(summary="A job's per-device outcomes", parameters=[STATE_PARAMETER],
                   responses={**list_responses(ExecutionSerializer), status.HTTP_404_NOT_FOUND: None})
    @action(detail=True, methods=["get"], pagination_class=ExecutionPagination)
    def executions(self, request: Request, pk: str) -> Response:
        executions = self.get_object().executions.all()
        state = request.query_params.get("state")
        if state is not None:
            if state not in ExecutionState.values:
                raise ValidationError({"state": [_("One of: %(states)s.") % {"states": STATES_HELP}]})
            executions = executions.filter(state=state)
        page = self.paginate_queryset(executions)
        return self.get_paginated_response(ExecutionSerializer(page, many=True).data)

    @extend_schema(summary="A job's per-device outcomes as CSV", responses={
        (200, "text/csv"): OpenApiTypes.BINARY, status.HTTP_404_NOT_FOUND: None},
        description="Columns: assetId, deviceName, stage, state, attempts, message, finishedAt.")
    @action(detail=True, methods=["get"], url_path="executions/export", pagination_class=None)
    def export(self, request: Request, pk: str) -> StreamingHttpResponse:
        return csv_response(self.get_object())


