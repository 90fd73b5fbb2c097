"""The Django admin for support staff: users, OUs, memberships, OU permissions and the audit log.

Support staff look across OUs here. The admin is one more door: writes go through the same
services as the console and the API (memberships through `accounts.services`, so guardian grants
stay in sync), and every admin derives from `OUScopedAdmin` (accounts.admin_scope): non-superuser
staff see only the OUs they hold `view_assets` on, and write only where they may.

The pieces every admin of this project shares (OU filter, scoping, a paginator that does not
count a million rows, service refusals shown as messages) live here; `assets.admin` uses them.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.paginator import Paginator
from django.db import connections, models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import audit, services
from .admin_scope import OUScopedAdmin, SuperuserOnlyAdmin, within_ous
from .errors import AccessDenied, DomainError
from .models import (
    OU_PERMISSIONS,
    AuditEvent,
    Membership,
    OrganizationUnit,
    OUGroupObjectPermission,
    OUUserObjectPermission,
    User,
)
from .permissions import MANAGE_MEMBERS, VIEW, can, ou_ids_with
from .time_zones import time_html

# --- shared pieces --------------------------------------------------------------------------------


def visible_ou_ids(request: HttpRequest) -> frozenset[int] | None:
    """The OUs the staff member may look at; None for a superuser (every OU)."""
    return ou_ids_with(request.user, VIEW)


def scope_to_visible_ous(request: HttpRequest, queryset: QuerySet, ou_lookup: str = "ou") -> QuerySet:
    """For models without `visible_to`: the same restriction, on their OU foreign key."""
    return within_ous(queryset, visible_ou_ids(request), ou_lookup)


class ReadOnlyAdmin(OUScopedAdmin):
    """Look, never write: what it lists is written elsewhere (services, sweeps, devices' connections)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OUListFilter(admin.RelatedFieldListFilter):
    """Filter by OU, offering only the OUs the staff member may see."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        ous = scope_to_visible_ous(request, OrganizationUnit.objects.order_by("name"), "pk")
        return [(ou.pk, str(ou)) for ou in ous]


def estimated_row_count(queryset: QuerySet) -> int | None:
    """PostgreSQL's planner estimate of how many rows `queryset` returns; None on other databases.

    EXPLAIN costs a millisecond where COUNT(*) reads every matching row (0.3 s for one OU's
    million devices); the estimate comes from the statistics autovacuum keeps.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly, unless the planner expects a huge result: then its estimate draws the pages.

    The admin's own COUNT(*) over a million devices would run on every changelist page; past
    `estimate_above` rows an approximate total is all the page links need.
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        estimate = estimated_row_count(self.object_list)
        if estimate is not None and estimate >= self.estimate_above:
            return estimate
        return super().count


class ServiceAdmin(OUScopedAdmin):
    """An admin whose writes are service calls: a refusal (DomainError) becomes an error message.

    The whole view runs in one transaction, so a refusal half-way (a bulk delete, a log entry
    already written) leaves nothing behind.
    """

    def _refused(self, request: HttpRequest, error: DomainError, to: str) -> HttpResponse:
        self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(to)

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            return self._refused(request, error, request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            opts = self.model._meta
            return self._refused(request, error, reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id],
                current_app=self.admin_site.name))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().changelist_view(request, extra_context)
        except DomainError as error:
            return self._refused(request, error, request.get_full_path())


def adopt(target: models.Model, source: models.Model) -> None:
    """Make the admin's unsaved instance the row a service saved, so the admin logs and links it."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def pretty_json(value: Any) -> str:
    if value is None:
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


# --- users, OUs, memberships ----------------------------------------------------------------------


# a non-superuser never sees these in a form, so never posts them: no granting oneself power
SUPERUSER_ONLY_USER_FIELDS = frozenset({"is_staff", "is_superuser", "groups", "user_permissions"})


@admin.register(User)
class UserAdmin(ServiceAdmin, BaseUserAdmin):
    """Non-superuser staff see the members of their OUs (never a superuser) and change a member's
    details, active flag or password only as OU admin of every OU that member belongs to
    (`services.can_manage_user`); creating users, staff and superusers is superusers' work."""

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email", "phone")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("username", "email", "phone", "usable_password", "password1", "password2")}),
    )
    list_display = ("username", "email", "phone", "first_name", "last_name", "is_staff", "is_active")
    search_fields = ("username", "email", "phone", "first_name", "last_name")
    readonly_fields = ("last_login", "date_joined")  # facts of the account, not settings

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        ids = visible_ou_ids(request)
        if ids is None:
            return queryset
        members = Membership.objects.filter(ou__in=sorted(ids)).values("user")
        return queryset.filter(is_superuser=False, pk__in=members)

    def may_write(self, request: HttpRequest, obj: User) -> bool:
        return services.can_manage_user(request.user, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # an OU admin takes a member out of their OU (the membership), never the account itself
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in SUPERUSER_ONLY_USER_FIELDS]})
                for name, options in fieldsets]

    def get_list_filter(self, request: HttpRequest) -> Any:
        if request.user.is_superuser:
            return super().get_list_filter(request)
        return ("is_staff", "is_active")  # the group filter would list every group's name

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)  # superusers only (has_add_permission)
            return
        stored = User.objects.get(pk=obj.pk)
        editable = (*services.USER_FIELDS, *services.PRIVILEGE_FIELDS)
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in editable}
        adopt(obj, services.update_user(request.user, stored, **changes))

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # the password form saves itself (and checks has_change_permission first): audit what it did
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            audit.record(request.user, "user.password_change", user, object_id=str(user.pk))
        return response


class MembershipInline(admin.TabularInline):
    """The OU's members, read-only here: they change through the Membership admin (and its service)."""

    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user", "ou")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrganizationUnit)
class OrganizationUnitAdmin(ServiceAdmin):
    """An OU admin renames their OU or hands it to another member; new OUs are superusers' work."""

    ou_path = "pk"
    write_permission = MANAGE_MEMBERS
    list_display = ("name", "ou_id", "owner", "owner_phone", "created_at")
    list_select_related = ("owner",)
    search_fields = ("name", "ou_id__exact", "owner__username")
    autocomplete_fields = ("owner",)
    inlines = (MembershipInline,)

    @admin.display(description="owner's phone", ordering="owner__phone")
    def owner_phone(self, ou: OrganizationUnit) -> str:
        return ou.owner.phone

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def get_inlines(self, request: HttpRequest, obj: Any) -> tuple:
        return self.inlines if obj else ()  # a new OU's only member is its owner, made by create_ou

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return ("ou_id", "created_at") if obj else ()

    def save_model(self, request: HttpRequest, obj: OrganizationUnit, form: Any, change: bool) -> None:
        if not change:
            adopt(obj, services.create_ou(request.user, obj.name, obj.owner))
            return
        stored = OrganizationUnit.objects.get(pk=obj.pk)
        services.update_ou(request.user, stored, name=obj.name, owner=obj.owner)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # devices are PROTECTed and no service retires an OU


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    """Saving and deleting go through set_membership/remove_membership: guardian grants follow.
    A non-superuser OU admin manages the members of the OUs they administer, choosing among the
    users they can see (members of their OUs)."""

    write_permission = MANAGE_MEMBERS
    list_display = ("user", "ou", "role", "created_at")
    list_filter = ("role", ("ou", OUListFilter))
    list_select_related = ("user", "ou")
    search_fields = ("user__username", "user__email", "ou__name", "ou__ou_id__exact")
    autocomplete_fields = ("user", "ou")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return ("user", "ou", "created_at") if obj else ()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "ou":
            kwargs["queryset"] = _ous_managed_by(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        _require_manage(request, obj)
        adopt(obj, services.set_membership(request.user, obj.ou, obj.user, obj.role))

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        _require_manage(request, obj)
        services.remove_membership(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for membership in queryset.select_related("user", "ou"):
            self.delete_model(request, membership)


# set_membership checks the actor manages the OU's members; this door also narrows the form's OU
# choices to those, so a non-superuser staff member cannot even pick another OU.
def _ous_managed_by(request: HttpRequest) -> QuerySet:
    ids = ou_ids_with(request.user, MANAGE_MEMBERS)
    ous = OrganizationUnit.objects.all()
    return ous if ids is None else ous.filter(pk__in=sorted(ids))


def _manages(request: HttpRequest, membership: Membership | None) -> bool:
    return membership is None or can(request.user, MANAGE_MEMBERS, membership.ou_id)


def _require_manage(request: HttpRequest, membership: Membership) -> None:
    if not _manages(request, membership):
        raise AccessDenied(_("Only an OU admin of this OU can manage its members."))


# --- OU object permissions ------------------------------------------------------------------------


class OUPermissionAdmin(OUScopedAdmin):
    """Grants on the staff member's OUs, for reading; only superusers give or take them."""

    ou_path = "content_object"
    list_select_related = ("permission__content_type", "content_object")
    list_filter = ("permission", ("content_object", OUListFilter))
    autocomplete_fields = ("content_object",)

    @admin.display(description=_("OU"), ordering="content_object__name")
    def ou(self, grant: Any) -> OrganizationUnit:
        return grant.content_object

    @admin.display(description=_("permission"), ordering="permission__codename")
    def codename(self, grant: Any) -> str:
        return grant.permission.codename

    def may_write(self, request: HttpRequest, obj: Any) -> bool:
        return False  # user grants follow memberships; group grants are superusers' (see below)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permission":
            kwargs["queryset"] = Permission.objects.select_related("content_type").filter(
                content_type__app_label="accounts", codename__in=OU_PERMISSIONS)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a grant is given or taken away, never edited in place


@admin.register(OUUserObjectPermission)
class OUUserObjectPermissionAdmin(OUPermissionAdmin):
    """Users' grants, shown for support; they follow memberships, so change the membership instead."""

    list_display = ("user", "ou", "codename")
    list_select_related = ("user", *OUPermissionAdmin.list_select_related)
    search_fields = ("user__username", "content_object__name", "content_object__ou_id__exact")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OUGroupObjectPermission)
class OUGroupObjectPermissionAdmin(OUPermissionAdmin):
    """Grants on an OU to a group (e.g. a support team): given and taken through guardian, audited."""

    list_display = ("group", "ou", "codename")
    list_select_related = ("group", *OUPermissionAdmin.list_select_related)
    search_fields = ("group__name", "content_object__name", "content_object__ou_id__exact")

    # a group grant reaches past memberships: only superusers give or take one
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: OUGroupObjectPermission, form: Any, change: bool) -> None:
        adopt(obj, services.grant_ou_to_group(request.user, obj.group, obj.content_object, obj.permission.codename))

    def delete_model(self, request: HttpRequest, obj: OUGroupObjectPermission) -> None:
        services.revoke_ou_from_group(request.user, obj.group, obj.content_object, obj.permission.codename)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for grant in queryset.select_related("group", "permission", "content_object"):
            self.delete_model(request, grant)


# --- audit log ------------------------------------------------------------------------------------


class ActionFamilyFilter(admin.SimpleListFilter):
    """By kind of action. Fixed families: a DISTINCT over millions of audit rows is not free."""

    title = _("action")
    parameter_name = "family"
    families = ("device", "product", "model", "membership", "ou", "ou_permission", "user", "trace", "migration",
                "batch")

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(family, family.replace("_", " ")) for family in self.families]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(action__startswith=f"{value}.") if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only history of every write through every door."""

    list_display = ("when", "actor", "ou", "action", "object_type", "object_repr", "object_id")
    list_filter = (ActionFamilyFilter, ("ou", OUListFilter), "created_at")
    list_select_related = ("actor", "ou")
    search_fields = ("action__exact", "object_id__exact", "object_repr", "actor__username__exact",
                     "request_id__exact")
    fields = ("when", "actor", "ou", "action", "object_type", "object_id", "object_repr",
              "before_json", "after_json", "request_id")
    readonly_fields = fields
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator

    @admin.display(description=_("time"), ordering="created_at")
    def when(self, event: AuditEvent) -> str:
        return time_html(event.created_at)  # in the reader's zone, named

    @admin.display(description=_("before"))
    def before_json(self, event: AuditEvent) -> str:
        return pretty_json(event.before)

    @admin.display(description=_("after"))
    def after_json(self, event: AuditEvent) -> str:
        return pretty_json(event.after)

    # scoped by OUScopedAdmin on `ou`: events of no OU (a user's account) are superusers' reading


# --- models that belong to no OU: superusers only ------------------------------------------------------

admin.site.unregister(Group)
admin.site.unregister(TokenProxy)


@admin.register(Group)
class GroupAdmin(SuperuserOnlyAdmin, BaseGroupAdmin):
    """A group carries model permissions and OU grants to all its members: superusers' only."""


@admin.register(TokenProxy)
class TokenAdmin(SuperuserOnlyAdmin, BaseTokenAdmin):
    """An API token acts as its user on every OU they belong to: superusers make and read them."""
