"""The console's and the API's filter parameters as query trees: one code path compiles them all.

Shorthand leaves have column 0 (nothing was typed in a query): what they say is in their token.
"""

from __future__ import annotations

from .ast import Attribute, Field, Node, Tag, Text


def field(name: str, value: str | int, param: str) -> Field:
    return Field(0, f"{param}={value}", name, value)


def tag(expression: str) -> Tag:
    """`key` (has the tag) or `key:value` (the tag equals value), as the tag filters take it."""
    key, sep, value = expression.partition(":")
    return Tag(0, f"tag={expression}", key.strip(), (value.strip(),) if sep else None)


def tag_pair(key: str, value: str | None) -> Tag:
    return Tag(0, f"tag={key}" + (f":{value}" if value is not None else ""), key, None if value is None else (value,))


def attribute(identifier: str, text: str) -> Attribute:
    return Attribute(0, f"attribute={identifier}:{text}", identifier, "=", text, 0)


def text(search: str) -> Text:
    return Text(0, f"q={search}", search)


def console_filters(*, product_id: int | None = None, status: str = "", asset_type: str = "",
                    tag_expression: str = "") -> list[Node]:
    """The device table's select boxes and tag box (values the filter form validated)."""
    nodes: list[Node] = []
    if product_id is not None:
        nodes.append(field("product_id", product_id, "product"))
    if status:
        nodes.append(field("status", status, "status"))
    if asset_type:
        nodes.append(field("type", asset_type, "type"))
    if tag_expression:
        nodes.append(tag(tag_expression))
    return nodes
