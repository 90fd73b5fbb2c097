"""One scoping mechanism for every ModelAdmin: what support staff who are not superusers see and change.

The admin is one more door, so it restricts like the console and the API do, through the same
`visible_to` / `writable_by` querysets and `ou_ids_with` grants:

- a non-superuser staff member sees only objects of the OUs they hold `view_assets` on (their
  memberships); anything else, typed into a URL or an autocomplete, is a 404 or absent;
- they change or delete an object only where they have write access (`change_assets`; an OU and
  its members need `manage_members`); Django's model permissions still decide which pages they get;
- every choice in a form (select, raw id, autocomplete) is what the related model's admin would
  show them, so a posted id from another OU is a form error, not a write;
- models with no OU (groups, API tokens) are superusers' only (`SuperuserOnlyAdmin`).

Every registered admin derives from `OUScopedAdmin`; a test walks `admin.site._registry` to keep
it so.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from .permissions import CHANGE, VIEW, can, ou_ids_with


def within_ous(queryset: QuerySet, ids: frozenset[int] | None, ou_path: str) -> QuerySet:
    """`queryset` narrowed to rows whose `ou_path` is one of `ids` (None: every OU)."""
    if ids is None:
        return queryset
    if not ids:
        return queryset.none()
    return queryset.filter(**{f"{ou_path}__in": sorted(ids)})


class OUScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, objects, writes and form choices are limited to the staff member's OUs.

    Subclasses say how their model reaches its OU (`ou_path`, a lookup such as "ou" or
    "content_object") and which OU permission writing needs (`write_permission`); models whose
    queryset has `visible_to` are narrowed by it. Override `visible` / `may_write` only where a
    model's rule is not "its OU" (users, shares).
    """

    ou_path: str = "ou"
    write_permission: str = CHANGE

    # --- the two questions -----------------------------------------------------------------------

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The rows of `queryset` the staff member may see."""
        if hasattr(queryset, "visible_to"):
            return queryset.visible_to(request.user)
        return within_ous(queryset, ou_ids_with(request.user, VIEW), self.ou_path)

    def may_write(self, request: HttpRequest, obj: Model) -> bool:
        """Whether the staff member may change or delete `obj` (already known to be visible)."""
        return can(request.user, self.write_permission, self.ou_pk_of(obj))

    def ou_pk_of(self, obj: Model) -> int:
        *hops, last = self.ou_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
        if last == "pk":
            return obj.pk
        return getattr(obj, obj._meta.get_field(last).attname)

    # --- Django's hooks, all answered from the two questions -------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # also what the autocomplete view and every related-field choice of other admins use
        return self.visible(request, super().get_queryset(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # Not found and not visible look alike: a 404, as in every other door (the stock admin
        # redirects to its index with a message naming the missing id).
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(_("No %(name)s matches the given query.") % {"name": self.opts.verbose_name})
        return obj

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._writes(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._writes(request, obj)

    def _writes(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or request.user.is_superuser or self.may_write(request, obj)

    def get_field_queryset(self, db: str | None, db_field: Any, request: HttpRequest) -> QuerySet | None:
        """Choices of a foreign key or many-to-many field: what that model's admin shows this user."""
        queryset = super().get_field_queryset(db, db_field, request)
        if request.user.is_superuser:
            return queryset
        related = db_field.remote_field.model
        related_admin = self.admin_site._registry.get(related)
        if related_admin is None:
            # a model no admin scopes (permissions, content types): none unless the admin says which
            return related._default_manager.none()
        scoped = related_admin.get_queryset(request)  # already in that admin's ordering
        return scoped.using(db) if db else scoped


class SuperuserOnlyAdmin(OUScopedAdmin):
    """Models that belong to no OU and reach past memberships (groups carry permissions, API tokens
    act as their user): only superusers see or touch them; everyone else gets no page and no rows."""

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if request.user.is_superuser else queryset.none()

    def may_write(self, request: HttpRequest, obj: Model) -> bool:
        return request.user.is_superuser

    def _superuser(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)
