"""The parsed query: a tree of AND / OR / NOT over predicates. Every leaf remembers where it was typed
(1-based column and the text), so a problem found later (an attribute value that fits no model) still
points at the token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Leaf:
    column: int
    token: str


@dataclass(frozen=True)
class Text(Leaf):
    """A bare word or quoted text: name or deviceKey contains it, or it is the assetId."""

    text: str


@dataclass(frozen=True)
class Field(Leaf):
    """`name:`, `key:`, `asset_id:` (contains), `status:`, `product:`, `product_key:` (exact, the console's
    product choice), `product_id:`, `model:`, `type:`, `gateway:`, `has:`. `value` is already normalised."""

    field: str
    value: str | int


@dataclass(frozen=True)
class Tag(Leaf):
    """`tag:key` (values None), `tag:key=value` (one value), `tag:key in (a, b)`."""

    key: str
    values: tuple[str, ...] | None


@dataclass(frozen=True)
class Attribute(Leaf):
    """`attr:name <op> value`; the value is typed when compiled, by the data type the models give `name`."""

    name: str
    op: str
    value: str
    value_column: int


@dataclass(frozen=True)
class TimeValue:
    """Relative (`7d`: that long before now), a whole day, or an instant."""

    ago: dt.timedelta | None = None
    day: dt.date | None = None
    instant: dt.datetime | None = None


@dataclass(frozen=True)
class Time(Leaf):
    """`activated`, `last_online`, `last_offline` compared with <, <=, >, >=."""

    field: str
    op: str
    value: TimeValue


@dataclass(frozen=True)
class Group(Leaf):
    """`group:name` or `group:"a name"`: the devices of the OU's group of that name (assets.query.groups)."""

    name: str


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Union[Text, Field, Tag, Attribute, Time, Group, And, Or, Not]  # noqa: UP007 - a runtime alias


def all_of(nodes: list[Node | None]) -> Node | None:
    """AND of the given nodes (None ones left out); None when nothing narrows."""
    present = [node for node in nodes if node is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else And(tuple(present))


def group_names(node: Node | None) -> set[str]:
    """The names of the groups a query refers to."""
    if isinstance(node, Group):
        return {node.name}
    if isinstance(node, And | Or):
        return set().union(*(group_names(child) for child in node.children))
    if isinstance(node, Not):
        return group_names(node.child)
    return set()
