"""The Django admin for support staff: users, OUs, memberships, OU permissions and the audit log.

Support staff look across OUs here. The admin is one more door: writes go through the same
services as the console and the API (memberships through `accounts.services`, so guardian grants
stay in sync), and non-superuser staff see only the OUs they hold `view_assets` on.

The pieces every admin of this project shares (OU filter, scoping, a paginator that does not
count a million rows, service refusals shown as messages) live here; `assets.admin` uses them.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Permission
from django.core.paginator import Paginator
from django.db import connections, models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from guardian.shortcuts import assign_perm, remove_perm

from . import audit, services
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

# --- shared pieces --------------------------------------------------------------------------------


def visible_ou_ids(request: HttpRequest) -> frozenset[int] | None:
    """The OUs the staff member may look at; None for a superuser (every OU)."""
    return ou_ids_with(request.user, VIEW)


def scope_to_visible_ous(request: HttpRequest, queryset: QuerySet, ou_lookup: str = "ou") -> QuerySet:
    """For models without `visible_to`: the same restriction, on their OU foreign key."""
    ids = visible_ou_ids(request)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{ou_lookup}__in": sorted(ids)})


class ReadOnlyAdmin(admin.ModelAdmin):
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


class ServiceAdmin(admin.ModelAdmin):
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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email", "phone")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("username", "email", "phone", "usable_password", "password1", "password2")}),
    )
    list_display = ("username", "email", "phone", "first_name", "last_name", "is_staff", "is_active")
    search_fields = ("username", "email", "phone", "first_name", "last_name")


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
    list_display = ("name", "ou_id", "owner", "owner_phone", "created_at")
    list_select_related = ("owner",)
    search_fields = ("name", "ou_id__exact", "owner__username")
    autocomplete_fields = ("owner",)
    inlines = (MembershipInline,)

    @admin.display(description="owner's phone", ordering="owner__phone")
    def owner_phone(self, ou: OrganizationUnit) -> str:
        return ou.owner.phone

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_visible_ous(request, super().get_queryset(request), "pk")

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
    """Saving and deleting go through set_membership/remove_membership: guardian grants follow."""

    list_display = ("user", "ou", "role", "created_at")
    list_filter = ("role", ("ou", OUListFilter))
    list_select_related = ("user", "ou")
    search_fields = ("user__username", "user__email", "ou__name", "ou__ou_id__exact")
    autocomplete_fields = ("user", "ou")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_visible_ous(request, super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return ("user", "ou", "created_at") if obj else ()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "ou":
            kwargs["queryset"] = _ous_managed_by(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and _manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and _manages(request, obj)

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
        raise AccessDenied("Only an OU admin of this OU can manage its members.")


# --- OU object permissions ------------------------------------------------------------------------


class OUPermissionAdmin(admin.ModelAdmin):
    list_select_related = ("permission__content_type", "content_object")
    list_filter = ("permission", ("content_object", OUListFilter))
    autocomplete_fields = ("content_object",)

    @admin.display(description="OU", ordering="content_object__name")
    def ou(self, grant: Any) -> OrganizationUnit:
        return grant.content_object

    @admin.display(description="permission", ordering="permission__codename")
    def codename(self, grant: Any) -> str:
        return grant.permission.codename

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_visible_ous(request, super().get_queryset(request), "content_object")

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
        ou, group, perm = obj.content_object, obj.group, obj.permission
        adopt(obj, assign_perm(perm.codename, group, ou))
        audit.record(request.user, "ou_permission.grant", ou=ou, object_type="group",
                     object_id=str(group.pk), object_repr=group.name, after={"permission": perm.codename})

    def delete_model(self, request: HttpRequest, obj: OUGroupObjectPermission) -> None:
        ou, group, codename = obj.content_object, obj.group, obj.permission.codename
        remove_perm(codename, group, ou)
        audit.record(request.user, "ou_permission.revoke", ou=ou, object_type="group",
                     object_id=str(group.pk), object_repr=group.name, before={"permission": codename})

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for grant in queryset.select_related("group", "permission", "content_object"):
            self.delete_model(request, grant)


# --- audit log ------------------------------------------------------------------------------------


class ActionFamilyFilter(admin.SimpleListFilter):
    """By kind of action. Fixed families: a DISTINCT over millions of audit rows is not free."""

    title = "action"
    parameter_name = "family"
    families = ("device", "product", "model", "membership", "ou", "ou_permission", "trace", "migration",
                "batch")

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(family, family.replace("_", " ")) for family in self.families]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(action__startswith=f"{value}.") if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only history of every write through every door."""

    list_display = ("created_at", "actor", "ou", "action", "object_type", "object_repr", "object_id")
    list_filter = (ActionFamilyFilter, ("ou", OUListFilter), "created_at")
    list_select_related = ("actor", "ou")
    search_fields = ("action__exact", "object_id__exact", "object_repr", "actor__username__exact",
                     "request_id__exact")
    fields = ("created_at", "actor", "ou", "action", "object_type", "object_id", "object_repr",
              "before_json", "after_json", "request_id")
    readonly_fields = fields
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator

    @admin.display(description="before")
    def before_json(self, event: AuditEvent) -> str:
        return pretty_json(event.before)

    @admin.display(description="after")
    def after_json(self, event: AuditEvent) -> str:
        return pretty_json(event.after)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_visible_ous(request, super().get_queryset(request))
