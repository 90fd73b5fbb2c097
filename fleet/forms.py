"""The console's job form: the action and its parameters, the selection, the rollout controls."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.utils.timezone import now
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from .models import JobAction, OfflinePolicy


def _json_object(text: str, field: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise forms.ValidationError({field: _('Write a JSON object, e.g. {"power": 10}.')}) from None
    if not isinstance(value, dict):
        raise forms.ValidationError({field: _('Write a JSON object, e.g. {"power": 10}.')})
    return value


class JobForm(forms.Form):
    action = forms.ChoiceField(label=_lazy("Action"), choices=JobAction.choices)
    # the selection: devices picked in the table, a query, or a group (exactly one)
    query = forms.CharField(label=_lazy("Devices matching the query"), required=False, max_length=2000,
                            widget=forms.TextInput(attrs={"class": "mono"}))
    group = forms.TypedChoiceField(label=_lazy("Group"), required=False, coerce=int, empty_value=None)
    # the action's parameters
    tags = forms.CharField(label=_lazy("Tags to add (key=value, one per line)"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    tag_keys = forms.CharField(label=_lazy("Tag keys to remove (separated by spaces or commas)"), required=False,
                               widget=forms.TextInput(attrs={"class": "mono"}))
    attributes = forms.CharField(label=_lazy("Attributes to set (JSON object)"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    service = forms.CharField(label=_lazy("Service identifier"), required=False, max_length=64,
                              widget=forms.TextInput(attrs={"class": "mono"}))
    service_params = forms.CharField(label=_lazy("Service inputs (JSON object)"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    measurepoints = forms.CharField(label=_lazy("Measure point values (JSON object)"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    trace_minutes = forms.IntegerField(label=_lazy("Trace duration (minutes)"), required=False, min_value=1,
                                       max_value=4320, initial=10)
    # the rollout
    stages = forms.CharField(label=_lazy("Stages (cumulative, e.g. 1, 10, 100)"), required=False, initial="100",
                             widget=forms.TextInput(attrs={"class": "mono"}))
    stages_in_percent = forms.BooleanField(label=_lazy("Stages are percentages (else device counts)"),
                                           required=False, initial=True)
    rate_per_minute = forms.IntegerField(label=_lazy("Executions per minute (0: no limit)"), min_value=0,
                                         max_value=100_000, initial=0)
    timeout_seconds = forms.FloatField(label=_lazy("Timeout per execution (seconds)"), min_value=0.1,
                                       max_value=300, initial=10)
    max_retries = forms.IntegerField(label=_lazy("Retries"), min_value=0, max_value=5, initial=0)
    abort_failure_percent = forms.FloatField(label=_lazy("Abort when this percentage failed (empty: never)"),
                                             required=False, min_value=0.1, max_value=100)
    abort_min_executions = forms.IntegerField(label=_lazy("… after at least this many executions"), min_value=1,
                                              initial=100)
    offline_policy = forms.ChoiceField(label=_lazy("Offline devices"), choices=OfflinePolicy.choices,
                                       initial=OfflinePolicy.SKIP)
    wait_minutes = forms.IntegerField(label=_lazy("Wait for offline devices up to (minutes)"), required=False,
                                      min_value=1, max_value=7 * 24 * 60)

    def __init__(self, *args: Any, groups: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [("", "—"), *(groups or [])]

    def clean_stages(self) -> list[int]:
        text = self.cleaned_data.get("stages") or ""
        try:
            return [int(part) for part in text.replace(",", " ").split()]
        except ValueError:
            raise forms.ValidationError(_("Whole numbers separated by commas, e.g. 1, 10, 100.")) from None

    def params(self) -> dict[str, Any]:
        """The action's parameters, in fleet.services' shape."""
        data = self.cleaned_data
        action = data["action"]
        if action == JobAction.ADD_TAGS:
            pairs = [line.split("=", 1) for line in data["tags"].splitlines() if line.strip()]
            return {"tags": {key.strip(): (rest[0].strip() if rest else "") for key, *rest in pairs}}
        if action == JobAction.REMOVE_TAGS:
            return {"keys": data["tag_keys"].replace(",", " ").split()}
        if action == JobAction.SET_ATTRIBUTES:
            return {"attributes": _json_object(data["attributes"], "attributes")}
        if action == JobAction.INVOKE_SERVICE:
            return {"service": data["service"], "params": _json_object(data["service_params"], "service_params")}
        if action == JobAction.SET_MEASUREPOINTS:
            return {"values": _json_object(data["measurepoints"], "measurepoints")}
        if action == JobAction.START_TRACE:
            return {"minutes": data["trace_minutes"] or 10}
        return {}

    def rollout(self) -> dict[str, Any]:
        data = self.cleaned_data
        wait = data["offline_policy"] == OfflinePolicy.WAIT
        return {"stages": data["stages"], "stages_in_percent": data["stages_in_percent"],
                "rate_per_minute": data["rate_per_minute"], "timeout_seconds": data["timeout_seconds"],
                "max_retries": data["max_retries"], "abort_failure_percent": data["abort_failure_percent"],
                "abort_min_executions": data["abort_min_executions"], "offline_policy": data["offline_policy"],
                "deadline": now() + timedelta(minutes=data["wait_minutes"]) if wait and data["wait_minutes"]
                else None}
