"""The columns of a product's batch template: what the template writes and what parsing expects.

One list drives the template (headers, notes, drop-downs), the header check on upload and the
column letters in error lines, so the three cannot drift apart.

The template is written in the downloader's language (row 1's names, row 2's notes, the
Instructions sheet); an upload is read whatever language its template was downloaded in: a column
is recognised by its name in any of settings.LANGUAGES, the notes row by its prefix in any of them.
The sheet names stay English: they are the file's structure, named in messages and the API docs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl.utils import get_column_letter

from ..models import Device, Product, ThingModel
from ..validators import MAX_NAME, MAX_TAG_VALUE, MAX_TAGS

DATA_SHEET = "Devices"
INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Lists"  # our own hidden sheet of drop-down values: the one hidden sheet an upload may keep
# the Instructions row whose next cell names the template's product
PRODUCT_KEY_LABEL = gettext_lazy("Product key")
HEADER_ROW = 1
NOTES_ROW = 2
FIRST_DATA_ROW = 3
# every cell of the notes row starts so; parsing skips that row by it (in any language)
NOTE_PREFIX = gettext_lazy("Type: ")
DESCRIPTION_MAX = Device._meta.get_field("description").max_length

DEVICE_KEY, NAME, TIMEZONE, DESCRIPTION, TAGS, ATTRIBUTE = (
    "device_key", "name", "timezone", "description", "tags", "attribute")


@dataclass(frozen=True)
class Column:
    header: str  # row 1 of the English template; matched (case and spaces aside) on upload
    field: str  # which device field the column fills
    note: str  # row 2: type, whether required, the rule
    feature: dict | None = None  # the model attribute, for attribute columns
    label: str | Promise | None = None  # the translated name of a fixed column; attributes keep identifiers

    @property
    def identifier(self) -> str:
        return self.feature["identifier"] if self.feature else self.field

    @property
    def title(self) -> str:
        """Row 1 of the template in the active language."""
        return str(self.label) if self.label is not None else self.header

    def names(self) -> set[str]:
        """Every name row 1 may give this column: the English header and its name in each language."""
        names = {self.header.casefold()}
        if self.label is not None:
            for code, _name in settings.LANGUAGES:
                with translation.override(code):
                    names.add(str(self.label).strip().casefold())
        return names


def in_every_language(text: Promise) -> set[str]:
    """A lazy text as each of settings.LANGUAGES says it."""
    found = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            found.add(str(text))
    return found


def template_filename(product: Product) -> str:
    return f"Template_{product.product_key}.xlsx"


def columns_for(model: ThingModel) -> list[Column]:
    """The template's columns; their notes are written in the active language."""
    fixed_head = [
        Column("deviceKey", DEVICE_KEY, _("text · required for Batch Update; empty in Batch Import makes one · "
                                          "4–64 letters, digits or - _ . : · unique in the product")),
        Column("Device Name", NAME, _("text · required for Batch Import · at most %(maximum)d characters, "
                                      "no control characters, < or >") % {"maximum": MAX_NAME},
               label=gettext_lazy("Device Name")),
        Column("Time Zone", TIMEZONE, _("text · optional (Batch Import: +08:00) · an offset such as +08:00 "
                                        "or an IANA name such as Europe/Berlin"), label=gettext_lazy("Time Zone")),
        Column("Description", DESCRIPTION, _("text · optional · at most %(maximum)d characters")
               % {"maximum": DESCRIPTION_MAX}, label=gettext_lazy("Description")),
    ]
    attributes = [Column(feature["identifier"], ATTRIBUTE, attribute_note(feature), feature)
                  for feature in model.attributes]
    tags = Column("Tags", TAGS, _("key=value;key2=value2 or a JSON object · optional · at most %(tags)d tags, "
                                  "keys 1–50 of letters, digits, _ - /, values at most %(length)d characters")
                  % {"tags": MAX_TAGS, "length": MAX_TAG_VALUE}, label=gettext_lazy("Tags"))
    return [*fixed_head, *attributes, tags]


def attribute_note(feature: dict) -> str:
    spec = feature.get("spec") or {}
    data_type = feature.get("data_type", "")
    parts = [data_type, _("required for Batch Import") if feature.get("required") else _("optional")]
    if data_type == "enum":
        parts.append(_("one of %(values)s") % {"values": ", ".join(
            f"{key} = {label}" for key, label in (spec.get("values") or {}).items())})
    elif data_type in ("int32", "float", "double"):
        if spec.get("min") is not None:
            parts.append(_("min %(minimum)s") % {"minimum": spec["min"]})
        if spec.get("max") is not None:
            parts.append(_("max %(maximum)s") % {"maximum": spec["max"]})
        if spec.get("unit"):
            parts.append(_("unit %(unit)s") % {"unit": spec["unit"]})
    elif data_type == "string" and spec.get("max_length"):
        parts.append(_("at most %(maximum)s characters") % {"maximum": spec["max_length"]})
    elif data_type == "bool":
        parts.append(_("true or false"))
    elif data_type == "date":
        parts.append("YYYY-MM-DD")
    elif data_type == "timestamp":
        parts.append(_("milliseconds since 1970"))
    elif data_type in ("array", "struct"):
        parts.append("JSON")
    parts.append(feature.get("name") or feature["identifier"])
    return " · ".join(parts)


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index."""
    return get_column_letter(index + 1)


def model_fingerprint(model: ThingModel) -> str:
    """Changes when the model's attributes change: rows checked against an older model are re-checked."""
    return hashlib.sha256(json.dumps(model.attributes, sort_keys=True).encode()).hexdigest()
