"""API shapes of traces and trace logs, in camelCase like the rest of the API."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..conf import MAX_DURATION, MIN_DURATION
from ..models import Direction, Outcome, StopReason
from ..services import log_json, trace_json


class TraceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assetId = serializers.CharField(allow_null=True)
    startedAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    stoppedAt = serializers.DateTimeField(allow_null=True, help_text="When it ended (stopped or expired).")
    stopReason = serializers.ChoiceField(choices=StopReason.choices, allow_null=True)
    startedBy = serializers.CharField(allow_null=True)
    active = serializers.BooleanField(help_text="Recording now.")
    lastSeq = serializers.IntegerField(help_text="Sequence number of the newest log.")
    dropped = serializers.IntegerField(help_text="Oldest logs dropped by the per-trace cap.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return trace_json(instance)


class TraceLogSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    direction = serializers.ChoiceField(choices=[*Direction.choices, ("", "none (a marker)")])
    method = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    code = serializers.IntegerField(allow_null=True, help_text="EnOS code of a refusal or error.")
    message = serializers.CharField()
    payload = serializers.JSONField(allow_null=True, help_text="Truncated; secrets and signatures removed.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return log_json(instance)


class TraceLogPageSerializer(serializers.Serializer):
    results = TraceLogSerializer(many=True)
    lastSeq = serializers.IntegerField(help_text="The trace's newest seq when read.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null when this one is the end.")


DURATION_ERROR = _("The trace duration must be between 1 minute and 3 days.")


class DurationSerializer(serializers.Serializer):
    # bounded here, not only in the service: a number too large for a timedelta must be a 400, not a crash
    duration = serializers.IntegerField(
        min_value=int(MIN_DURATION.total_seconds()), max_value=int(MAX_DURATION.total_seconds()),
        error_messages={"min_value": DURATION_ERROR, "max_value": DURATION_ERROR},
        help_text="Seconds: from 60 (1 minute) to 259200 (3 days).")
