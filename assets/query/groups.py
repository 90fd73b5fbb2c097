"""`group:<name>`: the devices of a device group, as a condition on the device row.

The name is looked up among the groups the user can see (in the context's OU when it names one, as the
console's table does); a static group is `id IN (its members)`, a dynamic group is its own saved query,
compiled now (so always current) and limited to the group's OU. A dynamic group's query may name other
groups: the chain is followed at most MAX_GROUP_DEPTH deep and a group met twice is a cycle, both clear errors.
"""

from __future__ import annotations

from dataclasses import replace

from django.db.models import Q
from django.utils.translation import gettext as _

from ..models import DeviceGroup, DeviceGroupMember
from .ast import Group
from .compiler import QueryContext, compile_node
from .errors import QueryError
from .parser import parse

MAX_GROUP_DEPTH = 5


def resolve_group(node: Group, context: QueryContext) -> DeviceGroup:
    groups = DeviceGroup.objects.all() if context.user is None else DeviceGroup.objects.visible_to(context.user)
    if context.group_ou is not None:
        groups = groups.filter(ou_id=context.group_ou)
    found = list(groups.filter(name=node.name).select_related("ou").order_by("ou__name")[:20])
    if not found:
        raise QueryError(_('Unknown group "%(name)s" at column %(column)d') % {
            "name": node.name, "column": node.column}, column=node.column, token=node.token)
    if len(found) > 1:
        ous = ", ".join(f"{group.ou.name} ({group.ou.ou_id})" for group in found)
        raise QueryError(_('Several OUs have a group "%(name)s" (column %(column)d): %(ous)s. Choose the OU '
                           'to search in.') % {"name": node.name, "column": node.column, "ous": ous},
                         column=node.column, token=node.token)
    return found[0]


def group_q(node: Group, context: QueryContext) -> Q:
    group = resolve_group(node, context)
    if not group.is_dynamic:
        return Q(pk__in=DeviceGroupMember.objects.filter(group_id=group.pk).values("device_id"))
    return dynamic_group_q(group, context, node)


def dynamic_group_q(group: DeviceGroup, context: QueryContext, node: Group | None = None) -> Q:
    """The devices of `group`'s OU its saved query matches. `node`: where the query named it (for errors)."""
    column, token = (node.column, node.token) if node is not None else (1, group.name)
    path = context.group_path
    if any(pk == group.pk for pk, _name in path):
        chain = " → ".join([name for _pk, name in path] + [group.name])
        raise QueryError(_('Group "%(name)s" refers to itself: %(chain)s (column %(column)d)') % {
            "name": group.name, "chain": chain, "column": column}, column=column, token=token)
    if len(path) >= MAX_GROUP_DEPTH:
        raise QueryError(_('Groups refer to groups too deeply at "%(token)s" (column %(column)d): at most '
                           '%(limit)d levels') % {"token": token, "column": column, "limit": MAX_GROUP_DEPTH},
                         column=column, token=token)
    inner = replace(context, group_ou=group.ou_id, group_path=(*path, (group.pk, group.name)))
    if "attribute_features" in context.__dict__:  # the same user's models: no second query for them
        inner.__dict__["attribute_features"] = context.__dict__["attribute_features"]
    try:
        tree = parse(group.query)
        matches = compile_node(tree, inner) if tree is not None else Q()
    except QueryError as error:
        # named in a query: point at the name there; read directly: at the token in the group's own query
        where = (column, token) if node is not None else (error.column, error.token)
        raise QueryError(_('In group "%(name)s": %(message)s') % {"name": group.name, "message": error.message},
                         column=where[0], token=where[1]) from None
    return Q(ou_id=group.ou_id) & matches
