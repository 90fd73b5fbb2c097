"""EnOS data types of thing-model features, and checking a value against a feature.

A feature is a dict: {identifier, name, data_type, required?, spec?}. `spec` holds
`min`/`max`/`unit` for numbers, `values` (key → label) for enum, `max_length` for string,
`item_type`/`size` for array and `fields` (features) for struct.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

from django.utils.translation import gettext as _

DATA_TYPES = ("int32", "float", "double", "bool", "enum", "string", "timestamp", "date", "array", "struct")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT_MAX = 3.4028235e38
DOUBLE_MAX = 1.7976931348623157e308
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
DEFAULT_STRING_MAX = 1024
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


class ValueProblem(ValueError):
    """A value that does not fit its feature; the message is for people."""


def check_value(feature: dict, value: Any, *, from_text: bool = False) -> Any:
    """Return `value` as the feature's type, or raise ValueProblem saying why not.

    With `from_text`, strings are read as typed input (a form field, a spreadsheet cell).
    """
    data_type = feature.get("data_type")
    spec = feature.get("spec") or {}
    checker = _CHECKERS.get(data_type)
    if checker is None:
        raise ValueProblem(_("unknown data type %(type)r") % {"type": data_type})
    return checker(value, spec, from_text)


def _number(value: Any, spec: dict, from_text: bool, *, integer: bool,
            bounds: tuple[float, float]) -> int | float:
    kind = _("an integer") if integer else _("a number")
    if isinstance(value, bool):
        raise ValueProblem(_("expected %(kind)s, got a boolean") % {"kind": kind})
    if isinstance(value, str) and from_text:
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            if integer:
                try:
                    as_float = float(text)
                except ValueError:
                    raise ValueProblem(_('"%(text)s" is not %(kind)s') % {"text": text, "kind": kind}) from None
                if not as_float.is_integer():
                    raise ValueProblem(_('"%(text)s" is not %(kind)s') % {"text": text, "kind": kind}) from None
                value = int(as_float)
            else:
                raise ValueProblem(_('"%(text)s" is not %(kind)s') % {"text": text, "kind": kind}) from None
    if integer and isinstance(value, float) and value.is_integer():
        value = int(value)
    if integer and not isinstance(value, int):
        raise ValueProblem(_("expected %(kind)s, got %(value)r") % {"kind": kind, "value": value})
    if not integer:
        if not isinstance(value, int | float):
            raise ValueProblem(_("expected %(kind)s, got %(value)r") % {"kind": kind, "value": value})
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a double, e.g. 10**400 from JSON
            raise ValueProblem(_("%(value)s is out of range for this type") % {"value": value}) from None
        if math.isnan(value) or math.isinf(value):
            raise ValueProblem(_("NaN and infinity are not allowed"))
    if not bounds[0] <= value <= bounds[1]:
        raise ValueProblem(_("%(value)s is out of range for this type") % {"value": value})
    low, high = spec.get("min"), spec.get("max")
    if low is not None and value < low:
        raise ValueProblem(_("%(value)s is below the minimum %(minimum)s") % {"value": value, "minimum": low})
    if high is not None and value > high:
        raise ValueProblem(_("%(value)s is above the maximum %(maximum)s") % {"value": value, "maximum": high})
    return value


def _int32(value: Any, spec: dict, from_text: bool) -> int:
    return int(_number(value, spec, from_text, integer=True, bounds=(INT32_MIN, INT32_MAX)))


def _float(value: Any, spec: dict, from_text: bool) -> float:
    return float(_number(value, spec, from_text, integer=False, bounds=(-FLOAT_MAX, FLOAT_MAX)))


def _double(value: Any, spec: dict, from_text: bool) -> float:
    return float(_number(value, spec, from_text, integer=False, bounds=(-DOUBLE_MAX, DOUBLE_MAX)))


def _bool(value: Any, spec: dict, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if from_text and isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueProblem(_('"%(value)s" is not a boolean (true or false)') % {"value": value})


def _enum(value: Any, spec: dict, from_text: bool) -> int:
    values = {str(k): v for k, v in (spec.get("values") or {}).items()}
    key = str(value).strip() if from_text or isinstance(value, str) else value
    if isinstance(key, str):
        if key in values:
            return int(key) if key.lstrip("-").isascii() and key.lstrip("-").isdigit() else key  # type: ignore[return-value]
        by_label = {str(label): k for k, label in values.items()}
        if from_text and key in by_label:
            k = by_label[key]
            return int(k) if k.lstrip("-").isascii() and k.lstrip("-").isdigit() else k  # type: ignore[return-value]
    elif isinstance(key, int) and not isinstance(key, bool) and str(key) in values:
        return key
    allowed = ", ".join(f"{k} ({v})" for k, v in values.items())
    raise ValueProblem(_('"%(value)s" is not one of the allowed values: %(allowed)s')
                       % {"value": value, "allowed": allowed})


def _string(value: Any, spec: dict, from_text: bool) -> str:
    if from_text and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not isinstance(value, str):
        raise ValueProblem(_("expected text, got %(value)r") % {"value": value})
    limit = int(spec.get("max_length") or DEFAULT_STRING_MAX)
    if len(value) > limit:
        raise ValueProblem(_("text is %(length)d characters long, the maximum is %(maximum)d")
                           % {"length": len(value), "maximum": limit})
    return value


def _timestamp(value: Any, spec: dict, from_text: bool) -> int:
    stamp = _number(value, {}, from_text, integer=True, bounds=(-(2**63), 2**63 - 1))
    if stamp < 0:
        raise ValueProblem(_("a timestamp cannot be negative"))
    return int(stamp)


def _date(value: Any, spec: dict, from_text: bool) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueProblem(_('"%(value)s" is not a date in the form YYYY-MM-DD') % {"value": value})


def _array(value: Any, spec: dict, from_text: bool) -> list:
    if from_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueProblem(_('"%(value)s" is not a JSON array') % {"value": value}) from None
    if not isinstance(value, list):
        raise ValueProblem(_("expected an array, got %(value)r") % {"value": value})
    size = spec.get("size")
    if size is not None and len(value) > int(size):
        raise ValueProblem(_("the array has %(count)d items, the maximum is %(maximum)s")
                           % {"count": len(value), "maximum": size})
    item = {"data_type": spec.get("item_type", "string"), "spec": spec.get("item_spec") or {}}
    checked = []
    for index, element in enumerate(value):
        try:
            checked.append(check_value(item, element))
        except ValueProblem as problem:
            raise ValueProblem(_("item %(index)d: %(problem)s") % {"index": index, "problem": problem}) from None
    return checked


def _struct(value: Any, spec: dict, from_text: bool) -> dict:
    if from_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueProblem(_('"%(value)s" is not a JSON object') % {"value": value}) from None
    if not isinstance(value, dict):
        raise ValueProblem(_("expected an object, got %(value)r") % {"value": value})
    fields = {f["identifier"]: f for f in spec.get("fields") or []}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ValueProblem(_("unknown field %(field)r") % {"field": unknown[0]})
    checked = {}
    for name, field in fields.items():
        if name in value:
            try:
                checked[name] = check_value(field, value[name])
            except ValueProblem as problem:
                raise ValueProblem(_("field %(field)s: %(problem)s") % {"field": name, "problem": problem}) from None
    return checked


_CHECKERS = {
    "int32": _int32,
    "float": _float,
    "double": _double,
    "bool": _bool,
    "enum": _enum,
    "string": _string,
    "timestamp": _timestamp,
    "date": _date,
    "array": _array,
    "struct": _struct,
}


def check_feature_definition(feature: Any, where: str) -> list[str]:
    """Problems with one feature's definition in a thing model (empty when it is sound)."""
    if not isinstance(feature, dict):
        return [f"{where}: each feature must be an object"]
    problems = []
    identifier = feature.get("identifier")
    if not isinstance(identifier, str) or not IDENTIFIER_RE.match(identifier):
        problems.append(f"{where}: identifier {identifier!r} must be letters, digits and _ (max 64)")
    if feature.get("data_type") not in DATA_TYPES:
        problems.append(f"{where}: data_type must be one of {', '.join(DATA_TYPES)}")
    spec = feature.get("spec", {})
    if not isinstance(spec, dict):
        problems.append(f"{where}: spec must be an object")
    elif feature.get("data_type") == "enum" and not spec.get("values"):
        problems.append(f"{where}: an enum needs spec.values")
    return problems
