"""From the query tree to a Django Q on Device, always applied to a queryset the caller already narrowed
to what the user may see (`Device.objects.visible_to(user)`): the query can only take devices away.

Subqueries that look devices up by another device (gateway:) are themselves `visible_to(user)`; tags and
attributes are read from the (visible) device rows; attribute types come from the models the user sees.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db import connections
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext as _

from ..datatypes import ValueProblem, check_value
from ..models import AssetType, Device, Product, ProductType, ThingModel, status_q
from .ast import And, Attribute, Field, Group, Node, Not, Or, Tag, Text, Time, TimeValue
from .errors import QueryError
from .expressions import AttributeComparison

ASSET_TYPE_Q = {
    AssetType.DEVICE.value: Q(gateway__isnull=True, product__product_type=ProductType.DEVICE),
    AssetType.GATEWAY.value: Q(gateway__isnull=True, product__product_type=ProductType.GATEWAY),
    AssetType.SUB_DEVICE.value: Q(gateway__isnull=False),
}
TIME_COLUMNS = {"activated": "activated_at", "last_online": "last_online_at", "last_offline": "last_offline_at"}
TIME_LOOKUPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
# the JSON type each data type is stored as (enum: by its keys, decided per value)
FAMILIES = {"int32": "number", "float": "number", "double": "number", "timestamp": "number",
            "bool": "bool", "string": "string", "date": "string"}
ORDERED_FAMILIES = ("number", "string")  # booleans have = and != only


@dataclass
class QueryContext:
    """What compiling needs beyond the tree: who asks (subqueries and attribute types are scoped to what
    they see; None: no narrowing, for code that narrowed the devices itself), the database and "now"."""

    user: Any = None
    vendor: str = "sqlite"
    now: dt.datetime = field(default_factory=timezone.now)
    group_ou: int | None = None  # `group:` names a group of this OU (the console's current one); None: any visible
    group_path: tuple[tuple[int, str], ...] = ()  # the dynamic groups being expanded (pk, name): the cycle guard

    @cached_property
    def attribute_features(self) -> dict[str, list[tuple[int, dict]]]:
        """identifier → (model pk, definition) in the models the user can see (one query, only if asked)."""
        models = ThingModel.objects.all() if self.user is None else ThingModel.objects.visible_to(self.user)
        features: dict[str, list[tuple[int, dict]]] = {}
        for model_pk, attributes in models.values_list("pk", "attributes"):
            for feature in attributes if isinstance(attributes, list) else []:
                if isinstance(feature, dict) and isinstance(feature.get("identifier"), str):
                    features.setdefault(feature["identifier"], []).append((model_pk, feature))
        return features

    def devices(self) -> QuerySet[Device]:
        return Device.objects.all() if self.user is None else Device.objects.visible_to(self.user)


def context_for(queryset: QuerySet[Device], user: Any = None, now: dt.datetime | None = None) -> QueryContext:
    return QueryContext(user=user, vendor=connections[queryset.db].vendor, now=now or timezone.now())


def apply_query(queryset: QuerySet[Device], node: Node | None, context: QueryContext) -> QuerySet[Device]:
    """`queryset` narrowed by the query (unchanged for an empty one)."""
    return queryset if node is None else queryset.filter(compile_node(node, context))


def compile_node(node: Node, context: QueryContext) -> Q:
    if isinstance(node, And):
        return _combine([compile_node(child, context) for child in node.children], Q.AND)
    if isinstance(node, Or):
        return _combine([compile_node(child, context) for child in node.children], Q.OR)
    if isinstance(node, Not):
        return ~compile_node(node.child, context)
    if isinstance(node, Text):
        return text_q(node.text)
    if isinstance(node, Field):
        return field_q(node, context)
    if isinstance(node, Tag):
        return tag_q(node.key, node.values, context.vendor)
    if isinstance(node, Attribute):
        return attribute_q(node, context)
    if isinstance(node, Time):
        return time_q(node, context)
    if isinstance(node, Group):
        from .groups import group_q  # groups compile their own queries with this module

        return group_q(node, context)
    raise TypeError(f"not a query node: {node!r}")


def _combine(parts: list[Q], connector: str) -> Q:
    return Q(*parts, _connector=connector)


def text_q(text: str) -> Q:
    """Name or deviceKey containing `text` (trigram-indexed on PostgreSQL), or the exact assetId."""
    text = text.strip()
    if not text:
        return Q()
    return Q(name__icontains=text) | Q(device_key__icontains=text) | Q(asset_id=text)


def field_q(node: Field, context: QueryContext) -> Q:
    value = node.value
    match node.field:
        case "name":
            return Q(name__icontains=value)
        case "key":
            return Q(device_key__icontains=value)
        case "asset_id":
            return Q(asset_id__icontains=value)
        case "status":
            return status_q(str(value))
        case "type":
            return ASSET_TYPE_Q[str(value)]
        case "product":
            # a condition on the device row (product_id IN …): the product table is small
            products = Product.objects.filter(Q(product_key=value) | Q(name__iexact=value))
            return Q(product_id__in=products.values("pk"))
        case "product_key":
            return Q(product_id__in=Product.objects.filter(product_key=value).values("pk"))
        case "product_id":
            return Q(product_id=value)
        case "product_type":
            return Q(product__product_type=value)
        case "device_key_is":
            return Q(device_key=value)
        case "asset_id_is":
            return Q(asset_id=value)
        case "model":
            return Q(product_id__in=Product.objects.filter(model__model_id=value).values("pk"))
        case "gateway":
            gateways = context.devices().filter(Q(device_key=value) | Q(asset_id=value))
            return Q(gateway_id__in=gateways.values("pk"))
        case "has":
            return Q(Exists(Device.objects.filter(gateway_id=OuterRef("pk"))))
    raise TypeError(f"not a field: {node.field}")


def tag_q(key: str, values: tuple[str, ...] | None, vendor: str) -> Q:
    """Has the tag `key` (values None) or has it with one of `values`. The key only reaches SQL as a bound
    JSON path parameter, never as a `tags__<key>` lookup."""
    if values is None:
        return Q(tags__has_key=key)
    matches = Q()
    for value in values:
        if vendor == "postgresql":
            matches |= Q(tags__contains={key: value})  # @> is what the GIN (jsonb_path_ops) index serves
        else:
            matches |= Q(Exact(KeyTextTransform(key, "tags"), value))  # tag values are always text
    # has_key first: without the tag the comparison is NULL, and NOT of it must still be true
    return matches if vendor == "postgresql" else Q(tags__has_key=key) & matches


def time_bound(value: TimeValue, op: str, now: dt.datetime) -> tuple[str, dt.datetime]:
    """The lookup and instant for `column <op> value`. A whole day counts as the day: `< 2026-12-01` is
    before it starts, `<= 2026-12-01` before it ends, `> 2026-12-01` after it ends."""
    if value.ago is not None:
        return TIME_LOOKUPS[op], now - value.ago
    if value.day is not None:
        start = timezone.make_aware(dt.datetime.combine(value.day, dt.time.min))
        end = start + dt.timedelta(days=1)
        return {"<": ("lt", start), "<=": ("lt", end), ">": ("gte", end), ">=": ("gte", start)}[op]
    instant = value.instant
    assert instant is not None
    if timezone.is_naive(instant):
        instant = timezone.make_aware(instant)
    return TIME_LOOKUPS[op], instant


def time_q(node: Time, context: QueryContext) -> Q:
    try:
        lookup, instant = time_bound(node.value, node.op, context.now)
    except (OverflowError, ValueError):
        raise QueryError(_('"%(token)s" at column %(column)d reaches too far back in time') % {
            "token": node.token, "column": node.column}, column=node.column, token=node.token) from None
    return Q(**{f"{TIME_COLUMNS[node.field]}__{lookup}": instant})


def typed_values(features: list[tuple[int, dict]], text: str) -> dict[tuple[str, Any], set[int]]:
    """(JSON family, value) → the models whose type for this attribute `text` fits, so typed."""
    found: dict[tuple[str, Any], set[int]] = {}
    for model_pk, feature in features:
        data_type = feature.get("data_type")
        if data_type in ("array", "struct"):
            continue  # not comparable
        spec = {"values": (feature.get("spec") or {}).get("values")} if data_type == "enum" else {}
        try:
            if data_type == "timestamp" and not text.strip().lstrip("-").isdigit():
                stamp = dt.datetime.fromisoformat(text.strip())
                if timezone.is_naive(stamp):
                    stamp = timezone.make_aware(stamp)
                value: Any = int(stamp.timestamp() * 1000)
            else:
                value = check_value({"data_type": data_type, "spec": spec}, text, from_text=True)
        except (ValueProblem, ValueError, OverflowError):
            continue
        family = FAMILIES.get(str(data_type)) or ("number" if isinstance(value, int) else "string")
        found.setdefault((family, value), set()).add(model_pk)
    return found


def attribute_q(node: Attribute, context: QueryContext) -> Q:
    """The typed comparison for each way the models type the attribute. Where the models disagree (a double
    in one, a string in another), each comparison is limited to the devices of the models that type it so:
    a device holding a value of another type than its model's is not matched."""
    features = context.attribute_features.get(node.name)
    if node.column == 0 and not (features and typed_values(features, node.value)):
        # a shorthand filter (the API's ?attribute=), which never refused an attribute: it matches nothing
        return Q(pk__in=[])
    if not features:
        raise QueryError(_('No device model has the attribute "%(name)s" (column %(column)d)') % {
            "name": node.name, "column": node.column}, column=node.column, token=node.name)
    typed = typed_values(features, node.value)
    types = ", ".join(sorted({str(feature.get("data_type")) for _pk, feature in features}))
    if not typed:
        raise QueryError(_('"%(value)s" at column %(column)d is not a value of the attribute %(name)s '
                           '(%(types)s)') % {"value": node.value, "column": node.value_column, "name": node.name,
                                             "types": types}, column=node.value_column, token=node.value)
    if node.op not in ("=", "!=") and not any(family in ORDERED_FAMILIES for family, _value in typed):
        raise QueryError(_('The attribute %(name)s (%(types)s) can only be compared with = or != (column '
                           '%(column)d)') % {"name": node.name, "types": types, "column": node.column},
                         column=node.column, token=node.token)
    families = {family for family, _value in typed}
    every_model = {model_pk for model_pk, _feature in features}
    matches = Q()
    for (family, value), model_pks in typed.items():
        if family == "bool" and node.op not in ("=", "!="):
            continue
        comparison = Q(AttributeComparison(node.name, family, node.op, value))
        if len(families) > 1 or model_pks != every_model:
            products = Product.objects.filter(model_id__in=sorted(model_pks)).values("pk")
            comparison &= Q(product_id__in=products)
        matches |= comparison
    return matches
