"""Device groups: the services that write them (the acting user first, writers only, audited) and the
reads every door shares (a group's devices, device counts per group, the groups a device is in).

A static group holds devices of its own OU only; a dynamic group is a saved query, validated on save with
the query language's messages and evaluated when read. Groups other dynamic groups name cannot be deleted
or renamed (their queries would stop working).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import audit
from accounts.errors import Conflict, DomainError
from accounts.models import OrganizationUnit

from .models import Device, DeviceGroup, DeviceGroupMember, GroupKind
from .query import QueryContext, QueryError, compile_node, context_for, parse
from .query.ast import group_names
from .query.groups import dynamic_group_q
from .services import require_write

NAME_MAX = 100
DESCRIPTION_MAX = 500


def group_snapshot(group: DeviceGroup) -> dict[str, Any]:
    return {"name": group.name, "kind": group.kind, "description": group.description, "query": group.query}


def clean_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise DomainError(_("A group needs a name."), code="required", field="name")
    if len(name) > NAME_MAX or any(not char.isprintable() for char in name):
        raise DomainError(_("A group name is 1 to %(limit)d printable characters.") % {"limit": NAME_MAX},
                          code="invalid", field="name")
    return name


def check_query(actor: Any, ou: OrganizationUnit, text: Any, group: DeviceGroup | None = None) -> str:
    """The dynamic group's query, parsed and compiled as the actor would read it (groups it names, types of
    attributes); raises DomainError with the query language's message, column and token."""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise DomainError(_("A dynamic group needs a query."), code="required", field="query")
    context = context_for(Device.objects.all(), actor)
    context.group_ou = ou.pk
    if group is not None and group.pk is not None:
        context.group_path = ((group.pk, group.name),)
    try:
        tree = parse(text)
        if tree is not None:
            compile_node(tree, context)
    except QueryError as error:
        raise DomainError(error.message, code="invalid_query", field="query") from None
    return text


def _check_unique(ou: OrganizationUnit, name: str, exclude: int | None = None) -> None:
    taken = DeviceGroup.objects.filter(ou=ou, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise Conflict(_('This OU already has a group "%(name)s".') % {"name": name}, code="group_name_exists",
                       field="name")


def referring_groups(group: DeviceGroup) -> list[str]:
    """Names of the OU's dynamic groups whose queries name `group`."""
    found = []
    for other in DeviceGroup.objects.filter(ou_id=group.ou_id, kind=GroupKind.DYNAMIC).exclude(pk=group.pk):
        try:
            if group.name in group_names(parse(other.query)):
                found.append(other.name)
        except QueryError:
            continue
    return found


def _refuse_if_named(group: DeviceGroup, *, renaming: bool) -> None:
    names = referring_groups(group)
    if names:
        message = (_('Group "%(name)s" cannot be renamed: the queries of %(groups)s use it.') if renaming
                   else _('Group "%(name)s" cannot be deleted: the queries of %(groups)s use it.'))
        raise Conflict(message % {"name": group.name, "groups": ", ".join(f'"{n}"' for n in names)},
                       code="group_in_use")


@transaction.atomic
def create_group(actor: Any, ou: OrganizationUnit, *, name: Any, kind: Any = GroupKind.STATIC,
                 description: Any = "", query: Any = "") -> DeviceGroup:
    require_write(actor, ou)
    name = clean_name(name)
    if kind not in GroupKind.values:
        raise DomainError(_("A group is static or dynamic."), code="invalid", field="kind")
    description = description if isinstance(description, str) else ""
    if len(description) > DESCRIPTION_MAX:
        raise DomainError(_("The description can be at most %(limit)d characters.") % {"limit": DESCRIPTION_MAX},
                          code="invalid", field="description")
    query = check_query(actor, ou, query) if kind == GroupKind.DYNAMIC else ""
    _check_unique(ou, name)
    group = DeviceGroup(ou=ou, name=name, kind=kind, description=description, query=query)
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise Conflict(_('This OU already has a group "%(name)s".') % {"name": name}, code="group_name_exists",
                       field="name") from None
    audit.record(actor, "group.create", group, after=group_snapshot(group))
    return group


@transaction.atomic
def update_group(actor: Any, group: DeviceGroup, **changes: Any) -> DeviceGroup:
    """Change name, description and (dynamic groups) query; the kind stays."""
    require_write(actor, group.ou_id)
    unknown = set(changes) - {"name", "description", "query"}
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    before = group_snapshot(group)
    if "name" in changes:
        name = clean_name(changes["name"])
        if name != group.name:
            _refuse_if_named(group, renaming=True)
            _check_unique(group.ou, name, exclude=group.pk)
        group.name = name
    if "description" in changes:
        description = changes["description"] if isinstance(changes["description"], str) else ""
        if len(description) > DESCRIPTION_MAX:
            raise DomainError(_("The description can be at most %(limit)d characters.") % {
                "limit": DESCRIPTION_MAX}, code="invalid", field="description")
        group.description = description
    if "query" in changes:
        if not group.is_dynamic:
            raise DomainError(_("A static group has no query: it holds the devices added to it."), code="invalid",
                              field="query")
        group.query = check_query(actor, group.ou, changes["query"], group)
    group.save()
    audit.record(actor, "group.update", group, before=before, after=group_snapshot(group))
    return group


@transaction.atomic
def delete_group(actor: Any, group: DeviceGroup) -> None:
    require_write(actor, group.ou_id)
    _refuse_if_named(group, renaming=False)
    audit.record(actor, "group.delete", group, before=group_snapshot(group))
    group.delete()


def _static(group: DeviceGroup) -> None:
    if group.is_dynamic:
        raise DomainError(_("A dynamic group's devices are those its query matches: change the query instead."),
                          code="dynamic_group", field="devices")


@transaction.atomic
def add_group_devices(actor: Any, group: DeviceGroup, devices: Iterable[Device]) -> int:
    """Add devices of the group's OU to a static group; the number newly added (present ones are kept)."""
    require_write(actor, group.ou_id)
    _static(group)
    devices = list(devices)
    if not devices:
        raise DomainError(_("Select at least one device."), code="required", field="devices")
    others = [d for d in devices if d.ou_id != group.ou_id]
    if others:
        keys = ", ".join(d.device_key for d in others[:10])
        raise DomainError(ngettext("%(keys)s is not a device of this group's OU: a group holds its OU's devices only.",
                                   "%(keys)s are not devices of this group's OU: a group holds its OU's devices only.",
                                   len(others)) % {"keys": keys}, code="other_ou", field="devices")
    present = set(group.members.filter(device__in=devices).values_list("device_id", flat=True))
    new = [d for d in dict.fromkeys(devices) if d.pk not in present]
    DeviceGroupMember.objects.bulk_create(
        [DeviceGroupMember(group=group, device=d, added_by=actor if actor.is_authenticated else None) for d in new],
        ignore_conflicts=True)
    if new:
        audit.record(actor, "group.devices_add", group, after={"added": sorted(d.asset_id for d in new)})
    return len(new)


@transaction.atomic
def remove_group_devices(actor: Any, group: DeviceGroup, devices: Iterable[Device]) -> int:
    require_write(actor, group.ou_id)
    _static(group)
    devices = list(devices)
    if not devices:
        raise DomainError(_("Select at least one device."), code="required", field="devices")
    removed_ids = set(group.members.filter(device__in=devices).values_list("device_id", flat=True))
    missing = [d for d in devices if d.pk not in removed_ids]
    if missing:
        raise Conflict(_("%(key)s is not in the group %(name)s.") % {"key": missing[0].device_key, "name": group.name},
                       code="not_a_member", field="devices")
    group.members.filter(device_id__in=removed_ids).delete()
    audit.record(actor, "group.devices_remove", group, before={"removed": sorted(d.asset_id for d in devices)})
    return len(removed_ids)


def drop_moved_members(actor: Any, device_ids: list[int], source: OrganizationUnit, migration_id: int) -> int:
    """Devices that left `source` (a migration) leave its static groups: one query and one audit event."""
    memberships = DeviceGroupMember.objects.filter(device_id__in=device_ids, group__ou_id=source.pk)
    removed = list(memberships.values_list("group__name", "device__asset_id"))
    if not removed:
        return 0
    memberships.delete()
    by_group: dict[str, list[str]] = {}
    for name, asset_id in removed:
        by_group.setdefault(name, []).append(asset_id)
    audit.record(actor, "group.devices_migrated_out", ou=source, object_type="migration",
                 object_id=str(migration_id), object_repr=f"{len(removed)} group membership(s) ended by a migration",
                 before={"groups": {name: sorted(ids) for name, ids in by_group.items()}})
    return len(removed)


# --- reads -----------------------------------------------------------------------------------------

def group_context(user: Any, group: DeviceGroup) -> QueryContext:
    context = context_for(Device.objects.all(), user)
    context.group_ou = group.ou_id
    return context


def group_q(user: Any, group: DeviceGroup, context: QueryContext | None = None) -> Q:
    """The condition that picks the group's devices (raises QueryError for a dynamic query gone stale)."""
    if not group.is_dynamic:
        return Q(pk__in=DeviceGroupMember.objects.filter(group_id=group.pk).values("device_id"))
    return dynamic_group_q(group, context or group_context(user, group))


def group_devices(user: Any, group: DeviceGroup) -> QuerySet[Device]:
    return Device.objects.visible_to(user).filter(ou_id=group.ou_id).filter(group_q(user, group))


def groups_with_counts(user: Any, groups: list[DeviceGroup]) -> list[DeviceGroup]:
    """Sets `device_count` (None where the query no longer compiles, with `problem`) on each group: static
    groups by one grouped count of memberships, dynamic groups by one aggregate with a filtered COUNT each."""
    if not groups:
        return groups
    static = [g for g in groups if not g.is_dynamic]
    counts: dict[int, int] = {}
    if static:
        visible = Device.objects.visible_to(user).values("pk")
        counts.update(DeviceGroupMember.objects.filter(group__in=static, device_id__in=visible)
                      .values_list("group_id").annotate(n=Count("pk")).values_list("group_id", "n"))
    aggregates: dict[str, Any] = {}
    context = context_for(Device.objects.all(), user)
    for group in groups:
        group.problem = ""
        if group.is_dynamic:
            try:
                aggregates[f"g{group.pk}"] = Count("pk", filter=dynamic_group_q(group, context))
            except QueryError as error:
                group.problem = error.message
    if aggregates:
        ou_ids = sorted({g.ou_id for g in groups})
        found = Device.objects.visible_to(user).filter(ou_id__in=ou_ids).aggregate(**aggregates)
        counts.update({int(key[1:]): value for key, value in found.items()})
    for group in groups:
        group.device_count = None if group.problem else counts.get(group.pk, 0)
    return groups


def groups_of_device(user: Any, device: Device) -> list[DeviceGroup]:
    """The device's OU groups it is in: static by membership, dynamic by one query with a filtered COUNT per
    group (groups whose query no longer compiles are left out)."""
    groups = list(DeviceGroup.objects.visible_to(user).filter(ou_id=device.ou_id)
                  .annotate(member=Count("members", filter=Q(members__device_id=device.pk))))
    found = [g for g in groups if not g.is_dynamic and g.member]
    dynamic = [g for g in groups if g.is_dynamic]
    if dynamic:
        context = context_for(Device.objects.all(), user)
        aggregates: dict[str, Any] = {}
        for group in dynamic:
            try:
                aggregates[f"g{group.pk}"] = Count("pk", filter=dynamic_group_q(group, context))
            except QueryError:
                continue
        if aggregates:
            hits = Device.objects.filter(pk=device.pk).aggregate(**aggregates)
            found += [g for g in dynamic if hits.get(f"g{g.pk}")]
    return sorted(found, key=lambda g: (g.name, g.pk))
