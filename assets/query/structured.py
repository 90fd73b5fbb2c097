"""The device query as a JSON tree (the API's `where`), built into the same tree the text parser makes, so one
compiler serves both:

    {"and": [{"field": "status", "op": "=", "value": "offline"},
             {"tag": "site", "op": "=", "value": "suzhou"},
             {"attr": "capacity", "op": ">=", "value": 500},
             {"not": {"field": "last_online", "op": "<", "value": "7d"}}]}

Nodes: {"and": [...]}, {"or": [...]}, {"not": node}; {"text": "words"} (name or deviceKey contains, or the
assetId); {"field": name|key|asset_id, "op": "contains", "value": ...}; {"field": status|product|model|type|
gateway|group|has, "op": "=", "value": ...}; {"field": activated|last_online|last_offline, "op": <|<=|>|>=,
"value": "7d" | "2026-12-01" | ISO datetime}; {"tag": key} or {"tag": key, "op": "=", "value": v} or
{"tag": key, "op": "in", "value": [v, ...]}; {"attr": identifier, "op": =|!=|<|<=|>|>=, "value": v}.
Every error is a StructuredQueryError whose `pointer` (RFC 6901) names the bad node or member.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from ..datatypes import IDENTIFIER_RE
from ..validators import TAG_KEY_RE
from .ast import And, Attribute, Field, Group, Node, Not, Or, Tag, Text, Time
from .errors import QueryError
from .parser import COMPARISONS, HAS, MAX_DEPTH, MAX_TERMS, STATUSES, TIME_COMPARISONS, TYPES, parse_time_value

TEXT_FIELDS = ("name", "key", "asset_id")
EQUAL_FIELDS = ("status", "product", "model", "type", "gateway", "group", "has")
TIME_FIELDS = ("activated", "last_online", "last_offline")
FIELD_NAMES = (*TEXT_FIELDS, *EQUAL_FIELDS, *TIME_FIELDS)
MAX_VALUE = 500


class StructuredQueryError(QueryError):
    """A bad structured query: `pointer` is the JSON pointer of the node (or member) at fault."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message, column=0, token=pointer)
        self.pointer = pointer

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "pointer": self.pointer}


def build(data: Any, context: Any = None) -> Node | None:
    """The query tree of a structured query (None: an empty object narrows nothing). With a QueryContext,
    each leaf is also compiled once here, so what only compiling finds (an attribute no model has, a value
    that fits none of its types) is reported at its node too."""
    if data is None or data == {}:
        return None
    builder = Builder()
    node = builder.node(data, "", 0)
    if context is not None:
        from .compiler import compile_node

        for leaf, pointer in builder.leaves:
            if isinstance(leaf, Attribute):
                check_attribute(leaf, pointer, context)
            try:
                compile_node(leaf, context)
            except StructuredQueryError:
                raise
            except QueryError as error:
                raise StructuredQueryError(error.message, pointer) from None
    return node


def check_attribute(leaf: Attribute, pointer: str, context: Any) -> None:
    """What the compiler refuses about an attribute comparison, said of the node rather than a column."""
    from .compiler import ORDERED_FAMILIES, typed_values

    features = context.attribute_features.get(leaf.name)
    if not features:
        raise StructuredQueryError(_('No device model has the attribute "%(name)s".') % {"name": leaf.name},
                                   f"{pointer}/attr")
    typed = typed_values(features, leaf.value)
    types = ", ".join(sorted({str(feature.get("data_type")) for _pk, feature in features}))
    if not typed:
        raise StructuredQueryError(_('"%(value)s" is not a value of the attribute %(name)s (%(types)s).') % {
            "value": leaf.value, "name": leaf.name, "types": types}, f"{pointer}/value")
    if leaf.op not in ("=", "!=") and not any(family in ORDERED_FAMILIES for family, _value in typed):
        raise StructuredQueryError(_("The attribute %(name)s (%(types)s) can only be compared with = or !=.") % {
            "name": leaf.name, "types": types}, f"{pointer}/op")


def _text(value: Any) -> str | None:
    """A value as the text query would have it: strings as they are, numbers and booleans written out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return None


class Builder:
    def __init__(self) -> None:
        self.leaves: list[tuple[Node, str]] = []

    def fail(self, message: str, pointer: str) -> StructuredQueryError:
        return StructuredQueryError(message, pointer)  # "" is the whole tree (RFC 6901)

    def node(self, data: Any, pointer: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(_("The query nests too deeply: at most %(limit)d levels.") % {"limit": MAX_DEPTH},
                            pointer)
        if not isinstance(data, dict):
            raise self.fail(_("Expected an object (a query node)."), pointer)
        for combinator in ("and", "or"):
            if combinator in data:
                return self.combination(data, combinator, pointer, depth)
        if "not" in data:
            self.only(data, {"not"}, pointer)
            return Not(self.node(data["not"], f"{pointer}/not", depth + 1))
        if len(self.leaves) >= MAX_TERMS:
            raise self.fail(_("The query has too many terms: at most %(limit)d.") % {"limit": MAX_TERMS}, pointer)
        if "text" in data:
            leaf = self.text(data, pointer)
        elif "field" in data:
            leaf = self.field(data, pointer)
        elif "tag" in data:
            leaf = self.tag(data, pointer)
        elif "attr" in data:
            leaf = self.attribute(data, pointer)
        else:
            raise self.fail(_('A query node needs one of "and", "or", "not", "text", "field", "tag" or "attr".'),
                            pointer)
        self.leaves.append((leaf, pointer))
        return leaf

    def only(self, data: dict, allowed: set[str], pointer: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            raise self.fail(_('Unexpected member "%(member)s" in this node.') % {"member": extra[0]},
                            f"{pointer}/{escape(extra[0])}")

    def combination(self, data: dict, combinator: str, pointer: str, depth: int) -> Node:
        self.only(data, {combinator}, pointer)
        children = data[combinator]
        where = f"{pointer}/{combinator}"
        if not isinstance(children, list) or not children:
            raise self.fail(_('"%(combinator)s" takes a non-empty list of query nodes.') % {
                "combinator": combinator}, where)
        built = tuple(self.node(child, f"{where}/{index}", depth + 1) for index, child in enumerate(children))
        if len(built) == 1:
            return built[0]
        return And(built) if combinator == "and" else Or(built)

    def value(self, data: dict, pointer: str) -> str:
        if "value" not in data:
            raise self.fail(_('This node needs a "value".'), pointer)
        text = _text(data["value"])
        if text is None or not text.strip():
            raise self.fail(_("Expected a non-empty text or number."), f"{pointer}/value")
        if len(text) > MAX_VALUE:
            raise self.fail(_("The value is too long: at most %(limit)d characters.") % {"limit": MAX_VALUE},
                            f"{pointer}/value")
        return text

    def op(self, data: dict, allowed: tuple[str, ...], pointer: str, default: str | None = None) -> str:
        op = data.get("op", default)
        if op not in allowed:
            raise self.fail(_('"op" must be one of: %(ops)s.') % {"ops": ", ".join(allowed)}, f"{pointer}/op")
        return op

    def text(self, data: dict, pointer: str) -> Node:
        self.only(data, {"text"}, pointer)
        text = _text(data["text"])
        if text is None or not text.strip():
            raise self.fail(_("Expected a non-empty text."), f"{pointer}/text")
        return Text(1, text, text)

    def field(self, data: dict, pointer: str) -> Node:
        self.only(data, {"field", "op", "value"}, pointer)
        name = data["field"]
        if name not in FIELD_NAMES:
            raise self.fail(_('Unknown field "%(field)s": use one of %(fields)s.') % {
                "field": name, "fields": ", ".join(FIELD_NAMES)}, f"{pointer}/field")
        if name in TIME_FIELDS:
            op = self.op(data, TIME_COMPARISONS, pointer)
            text = self.value(data, pointer)
            parsed = parse_time_value(text)
            if parsed is None:
                raise self.fail(_('"%(value)s" is not a time: use 7d, 24h, 30m, 2026-12-01 or '
                                  '2026-12-01T08:00:00Z') % {"value": text}, f"{pointer}/value")
            return Time(1, f"{name}{op}{text}", name, op, parsed)
        if name in TEXT_FIELDS:
            self.op(data, ("contains",), pointer, default="contains")
            text = self.value(data, pointer)
            return Field(1, f"{name}:{text}", name, text)
        self.op(data, ("=",), pointer, default="=")
        text = self.value(data, pointer)
        if name == "group":
            return Group(1, f"group:{text}", text)
        choices = {"status": STATUSES, "type": TYPES, "has": HAS}.get(name)
        if choices is not None:
            normal = choices.get(text.lower())
            if normal is None:
                raise self.fail(_('"%(value)s" is not a value of %(field)s: use %(values)s.') % {
                    "value": text, "field": name, "values": ", ".join(sorted(set(choices)))}, f"{pointer}/value")
            text = normal
        return Field(1, f"{name}:{text}", name, text)

    def tag(self, data: dict, pointer: str) -> Node:
        self.only(data, {"tag", "op", "value"}, pointer)
        key = data["tag"]
        if not isinstance(key, str) or not TAG_KEY_RE.match(key):
            raise self.fail(_("A tag key is 1 to 50 letters, digits, _ - or /."), f"{pointer}/tag")
        op = self.op(data, ("exists", "=", "in"), pointer, default="=" if "value" in data else "exists")
        if op == "exists":
            if "value" in data:
                raise self.fail(_('"exists" takes no "value".'), f"{pointer}/value")
            return Tag(1, f"tag:{key}", key, None)
        if op == "=":
            return Tag(1, f"tag:{key}", key, (self.value(data, pointer),))
        values = data.get("value")
        if not isinstance(values, list) or not values:
            raise self.fail(_('"in" takes a non-empty list of values.'), f"{pointer}/value")
        texts = []
        for index, value in enumerate(values):
            text = _text(value)
            if text is None or len(text) > MAX_VALUE:
                raise self.fail(_("Expected a text or number."), f"{pointer}/value/{index}")
            texts.append(text)
        return Tag(1, f"tag:{key}", key, tuple(texts))

    def attribute(self, data: dict, pointer: str) -> Node:
        self.only(data, {"attr", "op", "value"}, pointer)
        name = data["attr"]
        if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
            raise self.fail(_("Expected an attribute identifier."), f"{pointer}/attr")
        op = self.op(data, COMPARISONS, pointer)
        text = self.value(data, pointer)
        return Attribute(1, f"attr:{name}{op}{text}", name, op, text, 1)


def escape(member: str) -> str:
    """A member name as a JSON pointer segment (RFC 6901)."""
    return member.replace("~", "~0").replace("/", "~1")
