"""The Services tab's forms: one per service, a field per input parameter of the thing model."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

BOOL_CHOICES = [("", "—"), ("true", "true"), ("false", "false")]


def measurepoint_set_service(model_measurepoints: list[dict]) -> dict:
    """thing.service.measurepoint.set as a service whose inputs are the model's measure points."""
    return {"identifier": "measurepoint.set", "name": _("Set measure points"),
            "input": [{**f, "required": False} for f in model_measurepoints if isinstance(f, dict)]}


def service_form(service: dict, data: Any = None) -> forms.Form:
    """Typed text fields; the values are checked by connectivity.services against the model."""
    fields: dict[str, forms.Field] = {}
    for feature in service.get("input") or []:
        spec = feature.get("spec") or {}
        label = feature.get("name") or feature["identifier"]
        required = bool(feature.get("required"))
        hint = feature.get("data_type", "")
        if spec.get("min") is not None or spec.get("max") is not None:
            hint += f" ({spec.get('min', '…')} to {spec.get('max', '…')})"
        if feature.get("data_type") == "bool":
            field: forms.Field = forms.ChoiceField(choices=BOOL_CHOICES, required=required)
        elif feature.get("data_type") == "enum" and spec.get("values"):
            choices = [("", "—")] if not required else []
            field = forms.ChoiceField(choices=choices + [(str(k), f"{k} ({v})") for k, v in spec["values"].items()],
                                      required=required)
        else:
            field = forms.CharField(required=required, max_length=10000)
        field.label, field.help_text = label, hint
        fields[feature["identifier"]] = field
    form_class = type("ServiceForm", (forms.Form,), fields)
    return form_class(data=data, prefix=service["identifier"].replace(".", "-"))
