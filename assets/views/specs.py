"""A feature's spec in words for the model page ("Range 0 – 5000", "Unit kW", "Values 1 = single, 3 = three")
instead of the raw dict it is stored as."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def describe_spec(spec: Any) -> list[tuple[str, str]]:
    """(what, value) pairs, one per line of the Spec column."""
    if not isinstance(spec, dict):
        return [] if spec in (None, "") else [(_("Spec"), _text(spec))]
    lines: list[tuple[str, str]] = []
    rest = dict(spec)
    low, high = rest.pop("min", None), rest.pop("max", None)
    if low is not None and high is not None:
        lines.append((_("Range"), f"{_text(low)} – {_text(high)}"))
    elif low is not None:
        lines.append((_("Minimum"), _text(low)))
    elif high is not None:
        lines.append((_("Maximum"), _text(high)))
    if "unit" in rest:
        lines.append((_("Unit"), _text(rest.pop("unit"))))
    if "step" in rest:
        lines.append((_("Step"), _text(rest.pop("step"))))
    if "max_length" in rest:
        lines.append((_("Max length"), _text(rest.pop("max_length"))))
    values = rest.pop("values", None)
    if isinstance(values, dict):
        lines.append((_("Values"), ", ".join(f"{key} = {_text(label)}" for key, label in values.items())))
    elif values is not None:
        lines.append((_("Values"), _text(values)))
    if "item_type" in rest:
        lines.append((_("Items"), _text(rest.pop("item_type"))))
    if "size" in rest:
        lines.append((_("Size"), _text(rest.pop("size"))))
    fields = rest.pop("fields", None)
    if isinstance(fields, list):
        described = [f"{f.get('identifier')} ({f.get('data_type')})" if isinstance(f, dict) else _text(f)
                     for f in fields]
        lines.append((_("Fields"), ", ".join(described)))
    for key, value in rest.items():  # anything else, as it is stored, one line each
        lines.append((str(key), _text(value)))
    return lines


def with_spec_lines(features: Any) -> list[dict[str, Any]]:
    """The model's features for its page, each with its `spec_lines`."""
    if not isinstance(features, list):
        return []
    return [{**feature, "spec_lines": describe_spec(feature.get("spec"))} for feature in features
            if isinstance(feature, dict)]
