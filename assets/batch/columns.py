"""The columns of a product's batch template: what the template writes and what parsing expects.

One list drives the template (headers, notes, drop-downs), the header check on upload and the
column letters in error lines, so the three cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from openpyxl.utils import get_column_letter

from ..models import Device, Product, ThingModel
from ..validators import MAX_NAME, MAX_TAG_VALUE, MAX_TAGS

DATA_SHEET = "Devices"
INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Lists"  # our own hidden sheet of drop-down values: the one hidden sheet an upload may keep
PRODUCT_KEY_LABEL = "Product key"  # the Instructions row whose next cell names the template's product
HEADER_ROW = 1
NOTES_ROW = 2
FIRST_DATA_ROW = 3
NOTE_PREFIX = "Type: "  # every cell of the notes row starts so; parsing skips that row by it
DESCRIPTION_MAX = Device._meta.get_field("description").max_length

DEVICE_KEY, NAME, TIMEZONE, DESCRIPTION, TAGS, ATTRIBUTE = (
    "device_key", "name", "timezone", "description", "tags", "attribute")


@dataclass(frozen=True)
class Column:
    header: str  # row 1 of the template; matched (case and spaces aside) on upload
    field: str  # which device field the column fills
    note: str  # row 2: type, whether required, the rule
    feature: dict | None = None  # the model attribute, for attribute columns

    @property
    def identifier(self) -> str:
        return self.feature["identifier"] if self.feature else self.field


def template_filename(product: Product) -> str:
    return f"Template_{product.product_key}.xlsx"


def columns_for(model: ThingModel) -> list[Column]:
    fixed_head = [
        Column("deviceKey", DEVICE_KEY, "text · required for Batch Update; empty in Batch Import makes one · "
                                       "4–64 letters, digits or - _ . : · unique in the product"),
        Column("Device Name", NAME, f"text · required for Batch Import · at most {MAX_NAME} characters, "
                                    "no control characters, < or >"),
        Column("Time Zone", TIMEZONE, "text · optional (Batch Import: +08:00) · an offset such as +08:00 "
                                      "or an IANA name such as Europe/Berlin"),
        Column("Description", DESCRIPTION, f"text · optional · at most {DESCRIPTION_MAX} characters"),
    ]
    attributes = [Column(feature["identifier"], ATTRIBUTE, attribute_note(feature), feature)
                  for feature in model.attributes]
    tags = Column("Tags", TAGS, f"key=value;key2=value2 or a JSON object · optional · at most {MAX_TAGS} tags, "
                                f"keys 1–50 of letters, digits, _ - /, values at most {MAX_TAG_VALUE} characters")
    return [*fixed_head, *attributes, tags]


def attribute_note(feature: dict) -> str:
    spec = feature.get("spec") or {}
    data_type = feature.get("data_type", "")
    parts = [data_type, "required for Batch Import" if feature.get("required") else "optional"]
    if data_type == "enum":
        parts.append("one of " + ", ".join(f"{key} = {label}" for key, label in (spec.get("values") or {}).items()))
    elif data_type in ("int32", "float", "double"):
        if spec.get("min") is not None:
            parts.append(f"min {spec['min']}")
        if spec.get("max") is not None:
            parts.append(f"max {spec['max']}")
        if spec.get("unit"):
            parts.append(f"unit {spec['unit']}")
    elif data_type == "string" and spec.get("max_length"):
        parts.append(f"at most {spec['max_length']} characters")
    elif data_type == "bool":
        parts.append("true or false")
    elif data_type == "date":
        parts.append("YYYY-MM-DD")
    elif data_type == "timestamp":
        parts.append("milliseconds since 1970")
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
