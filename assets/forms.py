"""Console forms. They only parse input; the service functions validate the domain rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit

from .datatypes import ValueProblem, check_value
from .models import DataFormat, Product, ProductType, ThingModel
from .queries import SORTS
from .validators import TAG_KEY_RE, tag_problems


def parse_tags(text: str) -> dict[str, str]:
    """One `key=value` per line (or a JSON object)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            tags = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(_("Tags are not valid JSON: %(reason)s.") % {"reason": error.msg}) from None
    else:
        tags = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise forms.ValidationError(_("Tag line %(number)d must be key=value.") % {"number": number})
            tags[key.strip()] = value.strip()
    problems = tag_problems(tags)
    if problems:
        raise forms.ValidationError(problems)
    return tags


def format_tags(tags: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in tags.items())


def _not_one_of(message: str) -> dict[str, Any]:
    return {"invalid_choice": message}


class DeviceFilterForm(forms.Form):
    """The device table's filters. A value that does not validate is left out of cleaned_data: the table
    applies the others and says which one it ignored and why."""

    q = forms.CharField(required=False, label=_("Search"))
    product = forms.ChoiceField(required=False, label=_("Product"), error_messages=_not_one_of(
        _("“%(value)s” is not a product of this OU: the product filter is not applied.")))
    status = forms.ChoiceField(required=False, label=_("Status"), choices=[
        ("", _("All statuses")), ("online", _("Online")), ("offline", _("Offline")), ("inactive", _("Inactive")),
        ("disable", _("Disabled"))], error_messages=_not_one_of(
        _("“%(value)s” is not a status (use online, offline, inactive or disable): "
          "the status filter is not applied.")))
    type = forms.ChoiceField(required=False, label=_("Asset type"), choices=[
        ("", _("All types")), ("Device", _("Device")), ("Gateway", _("Gateway")), ("Sub-device", _("Sub-device"))],
        error_messages=_not_one_of(_("“%(value)s” is not an asset type (use Device, Gateway or Sub-device): "
                                     "the asset type filter is not applied.")))
    tag = forms.CharField(required=False, label=_("Tag"), max_length=260)
    sort = forms.ChoiceField(required=False, label=_("Sort"), choices=[(k, k) for k in SORTS],
                             error_messages=_not_one_of(
                                 _("“%(value)s” is not a sort order: the newest devices are shown first.")))
    size = forms.TypedChoiceField(required=False, label=_("Page size"), coerce=int, empty_value=20,
                                  choices=[(n, n) for n in (20, 50, 100, 200)], error_messages=_not_one_of(
                                      _("“%(value)s” is not a page size (use 20, 50, 100 or 200): "
                                        "20 devices are shown a page.")))

    def __init__(self, *args: Any, products: list[Product], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", _("All products"))] + [(p.product_key, p.name) for p in products]
        for name in ("product", "status", "type", "size"):
            # a new choice refreshes the table at once (htmx submits the form; portal.js, not an inline handler)
            self.fields[name].widget.attrs["data-submit-on-change"] = True

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"].strip()
        if tag and not TAG_KEY_RE.match(tag.partition(":")[0].strip()):
            raise forms.ValidationError(
                _("“%(value)s” is not a tag filter (a tag key or key:value, e.g. site or site:shanghai): "
                  "the tag filter is not applied."), code="invalid_tag", params={"value": tag})
        return tag

    def problems(self) -> list[str]:
        """One line per value the table ignores; the choice and tag messages name their filter already."""
        lines = []
        for name, errors in self.errors.as_data().items():
            for error in errors:
                for message in error.messages:
                    if error.code in ("invalid_choice", "invalid_tag"):
                        lines.append(message)
                    else:
                        lines.append(f"{self.fields[name].label or name}: {message}")
        return lines


class DeviceForm(forms.Form):
    """Create or edit a device; one field per attribute of the product's model."""

    product = forms.ChoiceField(label=_("Product"))
    name = forms.CharField(label=_("Name"), max_length=64)
    device_key = forms.CharField(label=_("Device key"), required=False, max_length=64,
                                 help_text=_("4–64 letters, digits or - _ . : (generated when empty)"))
    description = forms.CharField(label=_("Description"), required=False, max_length=500,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    timezone = forms.CharField(label=_("Time zone"), initial="+08:00", max_length=64,
                               help_text=_("e.g. +08:00 or Asia/Shanghai"))
    tags = forms.CharField(label=_("Tags"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("One key=value per line"))

    def __init__(self, *args: Any, products: list[Product], model: ThingModel | None,
                 editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.fields["product"].choices = [(p.product_key, f"{p.name} ({p.product_key})") for p in products]
        if editing:
            del self.fields["product"]
            self.fields["device_key"].disabled = True
        self.attribute_fields: list[str] = []
        for feature in (model.attributes if model else []):
            name = f"attr_{feature['identifier']}"
            self.fields[name] = self._attribute_field(feature)
            self.attribute_fields.append(name)

    @staticmethod
    def _attribute_field(feature: dict) -> forms.Field:
        label = f"{feature.get('name') or feature['identifier']} ({feature['data_type']})"
        required = bool(feature.get("required"))
        values = (feature.get("spec") or {}).get("values")
        if feature["data_type"] == "enum" and values:
            choices = [("", "—")] + [(str(k), f"{k} — {v}") for k, v in values.items()]
            return forms.ChoiceField(label=label, required=required, choices=choices)
        if feature["data_type"] == "bool":
            return forms.ChoiceField(label=label, required=required,
                                     choices=[("", "—"), ("true", "true"), ("false", "false")])
        return forms.CharField(label=label, required=required)

    def clean_tags(self) -> dict[str, str]:
        return parse_tags(self.cleaned_data.get("tags", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        attributes: dict[str, Any] = {}
        for name in self.attribute_fields:
            raw = data.get(name)
            if raw in (None, ""):
                continue
            feature = self.model.feature("attributes", name.removeprefix("attr_"))
            try:
                attributes[feature["identifier"]] = check_value(feature, raw, from_text=True)
            except ValueProblem as problem:
                self.add_error(name, str(problem))
        data["attributes"] = attributes
        return data


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "description", "product_type", "data_format", "model", "dynamic_activation"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        labels = {"name": _("Name"), "description": _("Description"), "product_type": _("Product type"),
                  "data_format": _("Data format"), "model": _("Model"),
                  "dynamic_activation": _("Dynamic activation")}

    def __init__(self, *args: Any, ou: OrganizationUnit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = ThingModel.objects.in_ou(ou)
        self.fields["product_type"].choices = ProductType.choices
        self.fields["data_format"].choices = DataFormat.choices


FEATURE_HELP = _('A JSON list, e.g. [{"identifier": "power", "name": "Power", "data_type": "double", '
                 '"spec": {"min": 0, "unit": "kW"}}]')


class ThingModelForm(forms.ModelForm):
    class Meta:
        model = ThingModel
        fields = ["model_id", "name", "description", "attributes", "measurepoints", "services", "events"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            **{f: forms.Textarea(attrs={"rows": 6, "class": "mono"})
               for f in ("attributes", "measurepoints", "services", "events")},
        }
        help_texts = {f: FEATURE_HELP for f in ("attributes", "measurepoints", "events")}
        labels = {"model_id": _("Model ID"), "name": _("Name"), "description": _("Description"),
                  "attributes": _("Attributes"), "measurepoints": _("Measure points"), "services": _("Services"),
                  "events": _("Events")}
