"""Query filters of the API lists, named as EnOS names them.

Tag and attribute filters take the key from the query string: it only ever reaches SQL as a
bound parameter of a JSON key lookup (has_key, KeyTextTransform, KeyTransform, @>), never as
a `tags__<key>` keyword, so no query parameter can name a column or a lookup.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from accounts.models import OrganizationUnit
from accounts.ous import ous_visible_to

from ..datatypes import IDENTIFIER_RE
from ..models import AssetType, Device, DeviceStatus, Product, ProductType, ThingModel
from ..query import Node, all_of, apply_query, context_for, parse, shorthands
from ..validators import TAG_KEY_RE


def visible_ous(request: Any) -> QuerySet[OrganizationUnit]:
    return ous_visible_to(request.user) if request is not None else OrganizationUnit.objects.none()


def ou_filter() -> django_filters.ModelChoiceFilter:
    # an OU the user cannot see is refused like one that does not exist: nothing tells them apart
    return django_filters.ModelChoiceFilter(
        queryset=visible_ous, to_field_name="ou_id", method="filter_ou", label="ou",
        error_messages={"invalid_choice": "Unknown OU, or one you have no access to."},
        help_text="ouId of one OU; by default every OU you can see.",
    )


class RepeatableParam(forms.MultipleHiddenInput):
    """?tag=a&tag=b:c → ["a", "b:c"] (no comma splitting: tag values may hold commas).

    In the browsable API's filter form: one text box per given value and an empty one to add another.
    """

    input_type = "text"

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        if hasattr(data, "getlist"):
            return data.getlist(name)
        value = data.get(name)
        return [] if value is None else [value]

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict[str, Any]:
        values = [str(v) for v in (value or []) if v not in (None, "")]
        context = super().get_context(name, [*values, ""], attrs)
        for box in context["widget"]["subwidgets"]:
            box["type"], box["template_name"] = "text", "django/forms/widgets/text.html"
        return context


class PairListField(forms.Field):
    """Repeated `key` or `key:value` parameters, each key checked against `key_re`."""

    widget = RepeatableParam

    def __init__(self, *args: Any, key_re: Any, key_word: str, value_required: bool, **kwargs: Any) -> None:
        self.key_re, self.key_word, self.value_required = key_re, key_word, value_required
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> list[tuple[str, str | None]]:
        pairs = []
        for item in value or []:
            if "\x00" in str(item):  # PostgreSQL stores no NUL: no tag or attribute holds one
                raise forms.ValidationError(_("A filter cannot hold a NUL character."), code="null_characters")
            key, sep, text = str(item).partition(":")
            # the input goes in params, never into the message itself: django-filter %-formats messages
            if not self.key_re.match(key):
                raise forms.ValidationError(_('"%(key)s" is not a valid %(word)s.'), code="invalid",
                                            params={"key": key, "word": self.key_word})
            if self.value_required and not sep:
                raise forms.ValidationError(_('Use %(word)s:value, got "%(item)s".'), code="invalid",
                                            params={"word": self.key_word, "item": item})
            pairs.append((key, text if sep else None))
        return pairs


class PairFilter(django_filters.Filter):
    field_class = PairListField


# the schema says what PairListField checks: the key's pattern, the ":" a value needs, no NUL
TAG_FILTER_PATTERN = r"^[A-Za-z0-9_/-]{1,50}(:[^\u0000]*)?$"
ATTRIBUTE_FILTER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}:[^\u0000]*$"


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": TAG_FILTER_PATTERN}})
class TagFilter(PairFilter):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": ATTRIBUTE_FILTER_PATTERN}})
class AttributeFilter(PairFilter):
    pass


QUERY_HELP = ("A device query, e.g. status:offline AND tag:site=suzhou AND attr:capacity>=500 AND "
              "last_online<7d. Combined (AND) with the other filters; a bad query answers 400 with the message, "
              "the position (1-based column) and the token.")


class DeviceFilter(django_filters.FilterSet):
    """The filters are shorthands of the query language: together (and with `query`) they make one query
    tree, compiled once (assets.query). `ou` is not a filter of the tree: it chooses where to look."""

    ou = ou_filter()
    query = django_filters.CharFilter(method="collect", help_text=QUERY_HELP, max_length=2000)
    productKey = django_filters.CharFilter(method="collect", help_text="Exact productKey.")
    deviceKey = django_filters.CharFilter(method="collect", help_text="Exact deviceKey.")
    assetId = django_filters.CharFilter(method="collect", help_text="Exact assetId.")
    name = django_filters.CharFilter(method="collect", help_text="Part of the device name, any case.")
    status = django_filters.ChoiceFilter(choices=DeviceStatus.choices, method="collect",
                                         help_text="inactive, online, offline or disable.")
    productType = django_filters.ChoiceFilter(choices=ProductType.choices, method="collect")
    assetType = django_filters.ChoiceFilter(choices=AssetType.choices, method="collect")
    tag = TagFilter(method="collect", key_re=TAG_KEY_RE, key_word=_("tag key"), value_required=False,
                    help_text="key (has the tag) or key:value; repeat to require several.")
    attribute = AttributeFilter(method="collect", key_re=IDENTIFIER_RE, key_word=_("attribute identifier"),
                                value_required=True, help_text="identifier:value; repeat to require several.")

    class Meta:
        model = Device
        fields: list[str] = []

    def filter_ou(self, queryset: QuerySet, name: str, ou: OrganizationUnit) -> QuerySet:
        return queryset.filter(ou=ou)

    def collect(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset  # filter_queryset builds the one tree from every parameter

    def query_tree(self) -> Node | None:
        """Every parameter given, as one tree. Raises QueryError for a bad `query`."""
        data = self.form.cleaned_data
        nodes: list[Node | None] = []
        for param, field in (("productKey", "product_key"), ("deviceKey", "device_key_is"),
                             ("assetId", "asset_id_is"), ("name", "name"), ("status", "status"),
                             ("productType", "product_type"), ("assetType", "type")):
            if data.get(param) not in (None, ""):
                nodes.append(shorthands.field(field, data[param], param))
        nodes += [shorthands.tag_pair(key, value) for key, value in data.get("tag") or []]
        nodes += [shorthands.attribute(key, value or "") for key, value in data.get("attribute") or []]
        if data.get("query"):
            nodes.append(parse(data["query"]))
        return all_of(nodes)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.form.cleaned_data.get("ou") is not None:
            queryset = self.filter_ou(queryset, "ou", self.form.cleaned_data["ou"])
        user = getattr(self.request, "user", None)
        context = context_for(queryset, user)
        if self.form.cleaned_data.get("ou") is not None:
            context.group_ou = self.form.cleaned_data["ou"].pk  # group:<name> is then a group of that OU
        return apply_query(queryset, self.query_tree(), context)


class SharedFilter(django_filters.FilterSet):
    """Products and models: `ou` narrows to what that OU's own lists show (its own + shared to it)."""

    ou = ou_filter()
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    def filter_ou(self, queryset: QuerySet, name: str, ou: OrganizationUnit) -> QuerySet:
        return queryset.in_ou(ou)


class ProductFilter(SharedFilter):
    productType = django_filters.ChoiceFilter(field_name="product_type", choices=ProductType.choices)

    class Meta:
        model = Product
        fields: list[str] = []


class ThingModelFilter(SharedFilter):
    class Meta:
        model = ThingModel
        fields: list[str] = []
