"""Device filters and keyset pagination shared by the console table and the API list.

Every filter is a query on indexed columns; pages are found by (sort value, id) so page 1,000
costs what page 1 costs.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from .models import Device, DeviceStatus
from .query import all_of, apply_query, context_for, shorthands
from .query.compiler import ASSET_TYPE_Q, text_q
from .query.compiler import tag_q as query_tag_q
from .validators import TAG_KEY_RE

__all__ = ["ASSET_TYPE_Q", "BadFilter", "filter_devices", "keyset_page", "search_devices", "tag_q"]

# sort name → (field, ascending)
SORTS: dict[str, tuple[str, bool]] = {
    "-created": ("created_at", False),
    "created": ("created_at", True),
    "name": ("name", True),
    "-name": ("name", False),
    "deviceKey": ("device_key", True),
    "-deviceKey": ("device_key", False),
}
DEFAULT_SORT = "-created"

# what a row of the console table shows (with its product's name and type): not the secret, the
# attributes or the tags, which would be read, parsed and thrown away 200 times a page
TABLE_COLUMNS = ("asset_id", "name", "device_key", "product_id", "gateway_id", "activated_at", "online",
                 "last_online_at", "created_at", "product__name", "product__product_type")


class BadFilter(ValueError):
    """A filter value the user typed that cannot be applied; the message says why."""


def tag_q(key: str, value: str | None, vendor: str) -> Q:
    """Has the tag `key` (value None) or has it with exactly `value`."""
    return query_tag_q(key, None if value is None else (value,), vendor)


def filter_by_tag(qs: QuerySet[Device], expression: str) -> QuerySet[Device]:
    """`key` (has the tag) or `key:value` (tag equals value)."""
    key = expression.partition(":")[0].strip()
    if not TAG_KEY_RE.match(key):
        raise BadFilter(_("A tag filter is a tag key or key:value, e.g. site or site:shanghai."))
    return apply_query(qs, shorthands.tag(expression), context_for(qs))


def search_devices(qs: QuerySet[Device], text: str) -> QuerySet[Device]:
    """Name or deviceKey containing `text` (trigram-indexed on PostgreSQL), or the exact assetId."""
    return qs.filter(text_q(text))


def filter_devices(qs: QuerySet[Device], *, product_id: int | None = None, status: str = "", asset_type: str = "",
                   tag: str = "", search: str = "") -> QuerySet[Device]:
    """The console's filters as shorthands of the query language (`search` is plain text here, not a query).
    The product comes as its id, so narrowing by product is a condition on the device row, not a join."""
    if status and status not in DeviceStatus.values:
        raise BadFilter(f'"{status}" is not a status: use one of {", ".join(DeviceStatus.values)}.')
    if asset_type and asset_type not in ASSET_TYPE_Q:
        raise BadFilter(f'"{asset_type}" is not an asset type: use Device, Gateway or Sub-device.')
    if tag and not TAG_KEY_RE.match(tag.partition(":")[0].strip()):
        raise BadFilter("A tag filter is a tag key or key:value, e.g. site or site:shanghai.")
    nodes = shorthands.console_filters(product_id=product_id, status=status, asset_type=asset_type,
                                       tag_expression=tag)
    if search.strip():
        nodes.append(shorthands.text(search))
    return apply_query(qs, all_of(nodes), context_for(qs))


@dataclass
class KeysetPage:
    rows: list[Device]
    next_cursor: str | None
    prev_cursor: str | None


def _encode(value: Any, pk: int) -> str:
    if isinstance(value, dt.datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps([value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["dt"])
        return value, int(pk)
    except (ValueError, TypeError, KeyError):
        raise BadFilter(_("The page link is not valid any more; start again from the first page.")) from None


def beyond(field: str, ascending: bool, value: Any, pk: int) -> Q:
    """Rows after (value, pk) in the given order. The first conjunct is a plain range on the
    indexed sort column, so the database starts its index scan there instead of filtering."""
    if ascending:
        return Q(**{f"{field}__gte": value}) & (Q(**{f"{field}__gt": value}) | Q(pk__gt=pk))
    return Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(pk__lt=pk))


def keyset_page(qs: QuerySet[Device], *, sort: str, size: int, after: str = "", before: str = "") -> KeysetPage:
    field, ascending = SORTS.get(sort, SORTS[DEFAULT_SORT])
    forward = not before
    walk_ascending = ascending if forward else not ascending
    prefix = "" if walk_ascending else "-"
    ordered = qs.order_by(f"{prefix}{field}", f"{prefix}pk")
    cursor = after or before
    if cursor:
        value, pk = _decode(cursor)
        ordered = ordered.filter(beyond(field, walk_ascending, value, pk))
    rows = list(ordered[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()
    has_next = more if forward else True
    has_prev = bool(cursor) if forward else more
    next_cursor = _encode(getattr(rows[-1], field), rows[-1].pk) if rows and has_next else None
    prev_cursor = _encode(getattr(rows[0], field), rows[0].pk) if rows and has_prev else None
    return KeysetPage(rows=rows, next_cursor=next_cursor, prev_cursor=prev_cursor)
