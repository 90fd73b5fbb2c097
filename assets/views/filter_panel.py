"""The device table's filter panel: fields for status, product, model, asset type, a tag, an attribute comparison
and last-online dates that the server writes as a query of the device query language, which then fills the
search box (the panel is one more shorthand of the language: what it builds, the user can read and edit)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..datatypes import IDENTIFIER_RE
from ..models import Product
from ..query import QueryError, parse
from ..validators import TAG_KEY_RE

PANEL_PARAM = "panel"  # the panel's submit sends it: the list answers with a redirect to ?q=<the query>
PLAIN_VALUE = re.compile(r'^[^\s()"\\,]+$')
OPERATORS = ["=", "!=", "<", "<=", ">", ">="]


def quoted(value: str) -> str:
    """A value as the query language reads it back: bare when it can be, else in quotes."""
    if PLAIN_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DateInput(forms.DateInput):
    input_type = "date"


class FilterPanelForm(forms.Form):
    status = forms.ChoiceField(required=False, label=_("Status"), choices=[
        ("", _("Any status")), ("online", _("Online")), ("offline", _("Offline")), ("inactive", _("Inactive")),
        ("disabled", _("Disabled"))])
    product = forms.ChoiceField(required=False, label=_("Product"))
    model = forms.ChoiceField(required=False, label=_("Model"))
    type = forms.ChoiceField(required=False, label=_("Asset type"), choices=[
        ("", _("Any type")), ("device", _("Device")), ("gateway", _("Gateway")), ("sub_device", _("Sub-device"))])
    tag_key = forms.CharField(required=False, label=_("Tag key"), max_length=50)
    tag_value = forms.CharField(required=False, label=_("Tag value"), max_length=200,
                                help_text=_("Empty: any device that has the tag."))
    attribute = forms.ChoiceField(required=False, label=_("Attribute"))
    attribute_op = forms.ChoiceField(required=False, label=_("Comparison"),
                                     choices=[(op, op) for op in OPERATORS])
    attribute_value = forms.CharField(required=False, label=_("Attribute value"), max_length=200)
    online_after = forms.DateField(required=False, label=_("Last online on or after"), widget=DateInput)
    online_before = forms.DateField(required=False, label=_("Last online before"), widget=DateInput)

    def __init__(self, *args: Any, products: list[Product], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "fp")
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", _("Any product"))] + [(p.product_key, p.name) for p in products]
        models = {p.model.model_id: p.model for p in products if p.model_id is not None}
        self.fields["model"].choices = [("", _("Any model"))] + [
            (model_id, f"{model.name} ({model_id})") for model_id, model in sorted(models.items())]
        identifiers = sorted({feature["identifier"] for model in models.values()
                              for feature in (model.attributes or []) if isinstance(feature, dict)
                              and isinstance(feature.get("identifier"), str)
                              and IDENTIFIER_RE.match(feature["identifier"])
                              and feature.get("data_type") not in ("array", "struct")})
        self.fields["attribute"].choices = [("", _("No attribute"))] + [(i, i) for i in identifiers]

    def clean_tag_key(self) -> str:
        key = self.cleaned_data["tag_key"].strip()
        if key and not TAG_KEY_RE.match(key):
            raise forms.ValidationError(_("A tag key is 1 to 50 letters, digits, _ - or /."), code="invalid")
        return key

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("tag_value", "").strip() and not data.get("tag_key"):
            self.add_error("tag_key", _("Give the tag's key too."))
        if bool(data.get("attribute")) != bool(data.get("attribute_value", "").strip()):
            field = "attribute_value" if data.get("attribute") else "attribute"
            self.add_error(field, _("Choose an attribute and give the value to compare it with."))
        if not self.errors:
            try:
                parse(self.query())  # what the panel writes, the language reads
            except QueryError as error:
                raise forms.ValidationError(error.message) from None
        return data

    def query(self) -> str:
        """The panel's fields as one query (its terms ANDed)."""
        data = self.cleaned_data
        terms = []
        if data.get("status"):
            terms.append(f"status:{data['status']}")
        if data.get("product"):
            terms.append(f"product:{quoted(data['product'])}")
        if data.get("model"):
            terms.append(f"model:{quoted(data['model'])}")
        if data.get("type"):
            terms.append(f"type:{data['type']}")
        if data.get("tag_key"):
            value = data.get("tag_value", "").strip()
            terms.append(f"tag:{data['tag_key']}" + (f"={quoted(value)}" if value else ""))
        if data.get("attribute") and data.get("attribute_value", "").strip():
            terms.append(f"attr:{data['attribute']}{data.get('attribute_op') or '='}"
                         f"{quoted(data['attribute_value'].strip())}")
        if data.get("online_after"):
            terms.append(f"last_online>={data['online_after'].isoformat()}")
        if data.get("online_before"):
            terms.append(f"last_online<{data['online_before'].isoformat()}")
        return " AND ".join(terms)


def panel_redirect(form: FilterPanelForm) -> HttpResponseRedirect:
    """To the device list searching for what the (valid) panel says."""
    query = form.query()
    return HttpResponseRedirect(reverse("assets:device-list") + (f"?{urlencode({'q': query})}" if query else ""))
