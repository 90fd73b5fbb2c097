"""The Django admin for thing models, products, shares and devices.

Support staff look across OUs and fix data here, through the same services as every other
door: every save, delete, enable and disable is a call into `assets.services` with the staff
member as actor, so it is checked and audited like a console click. Non-superuser staff see
what `visible_to(user)` lets them see, nothing more, and change what they may write
(`OUScopedAdmin`, accounts.admin_scope, under every admin here).

Built for a million devices: the device list never counts the whole table, joins what it shows
in one query, and its filters run on indexed columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext

from accounts.admin import (
    EstimatedCountPaginator,
    OUListFilter,
    ReadOnlyAdmin,
    ServiceAdmin,
    adopt,
    visible_ou_ids,
)
from accounts.errors import Conflict, DomainError

from . import services
from .models import (
    STATUS_EXPRESSION,
    AssetType,
    Device,
    DeviceStatus,
    ModelShare,
    Product,
    ProductShare,
    ProductType,
    ThingModel,
    status_q,
)

MASK = "•" * 8
MODEL_FIELDS = ("name", "description", "attributes", "measurepoints", "services", "events")
PRODUCT_FIELDS = ("name", "description", "product_type", "data_format", "model", "dynamic_activation")


class JSONDefaultsForm(forms.ModelForm):
    """An emptied JSON box means "none" (the field's default, {} or []), not NULL."""

    def clean(self) -> dict:
        cleaned = super().clean()
        for field in self._meta.model._meta.concrete_fields:
            if isinstance(field, models.JSONField) and not field.null and field.name in cleaned \
                    and cleaned[field.name] is None:
                cleaned[field.name] = field.get_default()
        return cleaned


class AssetAdmin(ServiceAdmin):
    """The OU-owned asset admins. Scoping (visible_to), object-level write checks (read-only access
    or a shared copy shows the form read-only) and form choices come from OUScopedAdmin."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        # Django's collector would walk every related row (a product's 100,000 devices) to draw
        # the confirmation page; the delete services decide what may go and say why not.
        objs = list(objs)
        opts = self.model._meta
        name = opts.verbose_name if len(objs) == 1 else opts.verbose_name_plural
        return [str(obj) for obj in objs], {name: len(objs)}, set(), []


# --- thing models ---------------------------------------------------------------------------------


@admin.register(ThingModel)
class ThingModelAdmin(AssetAdmin):
    form = JSONDefaultsForm
    list_display = ("name", "model_id", "ou", "feature_counts", "updated_at")
    list_filter = (("ou", OUListFilter),)
    list_select_related = ("ou",)
    search_fields = ("name", "model_id__exact")
    autocomplete_fields = ("ou",)

    @admin.display(description=gettext_lazy("attributes / measure points / services / events"))
    def feature_counts(self, model: ThingModel) -> str:
        return " / ".join(str(len(getattr(model, s) or [])) for s in ("attributes", "measurepoints",
                                                                      "services", "events"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return ("ou", "model_id", "created_at", "updated_at") if obj else ()

    def save_model(self, request: HttpRequest, obj: ThingModel, form: Any, change: bool) -> None:
        if not change:
            fields = {f: form.cleaned_data[f] for f in ("model_id", *MODEL_FIELDS)}
            adopt(obj, services.create_model(request.user, obj.ou, **fields))
            return
        # the form already changed `obj`; the service needs the stored row for its "before"
        stored = ThingModel.objects.get(pk=obj.pk)
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in MODEL_FIELDS}
        if changes:
            adopt(obj, services.update_model(request.user, stored, **changes))

    def delete_model(self, request: HttpRequest, obj: ThingModel) -> None:
        services.delete_model(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for model in queryset:
            services.delete_model(request.user, model)


@admin.register(ModelShare)
class ModelShareAdmin(ReadOnlyAdmin):
    """Read-only: a model is shared together with its product (see the product share admin)."""

    list_display = ("model", "model_owner", "ou", "created_at")
    list_select_related = ("model__ou", "ou")
    list_filter = (("ou", OUListFilter),)
    search_fields = ("model__model_id__exact", "model__name", "ou__name", "ou__ou_id__exact")

    @admin.display(description=gettext_lazy("owner OU"))
    def model_owner(self, share: ModelShare) -> Any:
        return share.model.ou

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return _shares_visible(request, queryset, "model")


def _shares_visible(request: HttpRequest, queryset: QuerySet, shared: str) -> QuerySet:
    """Shares of the staff member's OUs' products/models, and shares made to their OUs."""
    ids = visible_ou_ids(request)
    if ids is None:
        return queryset
    if not ids:
        return queryset.none()
    ids = sorted(ids)
    return queryset.filter(Q(**{f"{shared}__ou__in": ids}) | Q(ou__in=ids))


# --- products -------------------------------------------------------------------------------------


@admin.register(Product)
class ProductAdmin(AssetAdmin):
    list_display = ("name", "product_key", "product_type", "data_format", "model", "ou", "dynamic_activation",
                    "created_at")
    list_filter = ("product_type", "data_format", "dynamic_activation", ("ou", OUListFilter))
    list_select_related = ("ou", "model")
    search_fields = ("name", "product_key__exact")
    autocomplete_fields = ("ou", "model")

    @admin.display(description=gettext_lazy("product secret"))
    def masked_product_secret(self, product: Product) -> str:
        return MASK

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        if obj is None:
            return ("ou", *PRODUCT_FIELDS)
        return ("ou", "product_key", "masked_product_secret", *PRODUCT_FIELDS, "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return ("ou", "product_key", "masked_product_secret", "created_at", "updated_at") if obj else ()

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        if not change:
            fields = {f: form.cleaned_data[f] for f in PRODUCT_FIELDS}
            adopt(obj, services.create_product(request.user, obj.ou, **fields))
            return
        stored = Product.objects.select_related("model").get(pk=obj.pk)
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in PRODUCT_FIELDS}
        if changes:
            adopt(obj, services.update_product(request.user, stored, **changes))

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        services.delete_product(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for product in queryset:
            services.delete_product(request.user, product)


@admin.register(ProductShare)
class ProductShareAdmin(ServiceAdmin):
    """Sharing a product read-only to another OU (its model goes with it). Shares are not edited or
    removed here: devices in the target OU may depend on them."""

    list_display = ("product", "product_owner", "ou", "created_at")
    list_select_related = ("product__ou", "ou")
    list_filter = (("ou", OUListFilter),)
    search_fields = ("product__product_key__exact", "product__name", "ou__name", "ou__ou_id__exact")
    autocomplete_fields = ("product", "ou")

    @admin.display(description=gettext_lazy("owner OU"))
    def product_owner(self, share: ProductShare) -> Any:
        return share.product.ou

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return _shares_visible(request, queryset, "product")

    def may_write(self, request: HttpRequest, obj: ProductShare) -> bool:
        return False  # shares are made, never edited or removed here

    def save_model(self, request: HttpRequest, obj: ProductShare, form: Any, change: bool) -> None:
        adopt(obj, services.share_product_to(request.user, obj.product, obj.ou))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- devices --------------------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Status is derived; the filter is a query on indexed columns (status_q), never a Python loop."""

    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(DeviceStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in DeviceStatus.values:
            return queryset.filter(status_q(value))
        return queryset


class AssetTypeFilter(admin.SimpleListFilter):
    title = gettext_lazy("asset type")
    parameter_name = "asset_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(AssetType.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == AssetType.SUB_DEVICE:
            return queryset.filter(gateway__isnull=False)
        if value == AssetType.GATEWAY:
            return queryset.filter(gateway__isnull=True, product__product_type=ProductType.GATEWAY)
        if value == AssetType.DEVICE:
            return queryset.filter(gateway__isnull=True, product__product_type=ProductType.DEVICE)
        return queryset


class DeviceAdminForm(JSONDefaultsForm):
    """Checks attribute values against the product's model before the service is called, so a
    mistake comes back on the form with the staff member's input intact."""

    def clean(self) -> dict:
        cleaned = super().clean()
        product = cleaned.get("product") or (self.instance.product if self.instance.product_id else None)
        if product is not None and "attributes" in cleaned:
            clean_values, problems = services.attribute_problems(
                product.model, cleaned["attributes"], require_all=True)
            if problems:
                self.add_error("attributes", list(problems.values()))
            else:
                cleaned["attributes"] = clean_values
        return cleaned


@admin.register(Device)
class DeviceAdmin(AssetAdmin):
    form = DeviceAdminForm
    list_display = ("name", "device_key", "asset_id", "status", "asset_type", "product", "ou", "is_enabled",
                    "created_at")
    list_filter = (StatusFilter, AssetTypeFilter, ("ou", OUListFilter), "product__product_type")
    list_select_related = ("product", "ou")
    # contains-search on name and deviceKey uses the trigram indexes (PostgreSQL); the asset ID is
    # matched exactly (case-sensitive "__exact", not "=" which is iexact) so its unique index serves
    search_fields = ("name", "device_key", "asset_id__exact")
    # newest first by primary key: a backward index scan, where "-created_at" across every OU
    # would sort a million rows (the created_at indexes all start with ou)
    ordering = ("-pk",)
    sortable_by = ("name", "device_key", "created_at")
    raw_id_fields = ("gateway",)
    autocomplete_fields = ("ou", "product")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ("enable_devices", "disable_devices")

    add_fields = ("ou", "product", "device_key", "name", "description", "timezone", "attributes", "tags")
    change_fields = ("asset_id", "ou", "product", "device_key", "masked_secret", "name", "description",
                     "timezone", "attributes", "tags", "gateway", "status", "asset_type", "is_enabled",
                     "activated_at", "online", "last_online_at", "last_offline_at", "created_at", "updated_at")
    # written by the device connection and the enable/disable services, never typed in a form
    change_readonly = ("asset_id", "ou", "product", "device_key", "masked_secret", "status", "asset_type",
                       "is_enabled", "activated_at", "online", "last_online_at", "last_offline_at",
                       "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(status_value=STATUS_EXPRESSION)

    @admin.display(boolean=True, description=gettext_lazy("enabled"))
    def is_enabled(self, device: Device) -> bool:
        return device.enabled

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return self.change_readonly if obj else ()

    @admin.display(description=gettext_lazy("status"))
    def status(self, device: Device) -> str:
        value = getattr(device, "status_value", None) or device.status
        return DeviceStatus(value).label

    @admin.display(description=gettext_lazy("asset type"))
    def asset_type(self, device: Device) -> str:
        return device.asset_type.label

    def view_on_site(self, device: Device) -> str:
        return reverse("assets:device-detail", args=[device.asset_id])  # the console's details page

    @admin.display(description=gettext_lazy("device secret"))
    def masked_secret(self, device: Device) -> str:
        # revealing is audited and needs write access: it happens in the console, not here
        return MASK

    # --- writes -----------------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Device, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            created = services.create_device(
                request.user, data["ou"], data["product"], name=data["name"], device_key=data["device_key"],
                description=data["description"], timezone=data["timezone"], attributes=data["attributes"],
                tags=data["tags"])
            adopt(obj, created)
            return
        stored = Device.objects.select_related("product__model", "gateway").get(pk=obj.pk)
        changes = {f: data[f] for f in form.changed_data if f in services.DEVICE_FIELDS}
        if changes:
            stored = services.update_device(request.user, stored, **changes)
        if "gateway" in form.changed_data:
            if stored.gateway is not None:
                services.remove_sub_devices(request.user, stored.gateway, [stored])
                stored.gateway = None
            if data["gateway"] is not None:
                services.add_sub_devices(request.user, data["gateway"], [stored])
        stored.refresh_from_db()
        adopt(obj, stored)

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        services.delete_device(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for device in queryset.select_related("gateway"):
            services.delete_device(request.user, device)

    @admin.action(description=gettext_lazy("Enable selected devices"), permissions=["change"])
    def enable_devices(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, services.enable_device, enabling=True)

    @admin.action(description=gettext_lazy("Disable selected devices"), permissions=["change"])
    def disable_devices(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, services.disable_device, enabling=False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet,
                     toggle: Callable[[Any, Device], Device], *, enabling: bool) -> None:
        """One service call per device; devices already in that state are listed, not an error page."""
        done: list[str] = []
        already: list[str] = []
        refused: list[str] = []
        for device in queryset.order_by("pk"):
            try:
                toggle(request.user, device)
                done.append(device.device_key)
            except Conflict:
                already.append(device.device_key)
            except DomainError as error:
                refused.append(f"{device.device_key} ({error.message})")
        if done:
            text = (ngettext("%(count)d device enabled: %(devices)s.", "%(count)d devices enabled: %(devices)s.",
                             len(done)) if enabling else
                    ngettext("%(count)d device disabled: %(devices)s.", "%(count)d devices disabled: %(devices)s.",
                             len(done)))
            self.message_user(request, text % {"count": len(done), "devices": _some(done)}, messages.SUCCESS)
        if already:
            text = (ngettext("%(count)d device was already enabled: %(devices)s.",
                             "%(count)d devices were already enabled: %(devices)s.", len(already)) if enabling else
                    ngettext("%(count)d device was already disabled: %(devices)s.",
                             "%(count)d devices were already disabled: %(devices)s.", len(already)))
            self.message_user(request, text % {"count": len(already), "devices": _some(already)}, messages.WARNING)
        if refused:
            self.message_user(request, ngettext("%(count)d device refused: %(devices)s.",
                                                "%(count)d devices refused: %(devices)s.", len(refused))
                              % {"count": len(refused), "devices": _some(refused)}, messages.ERROR)


def _some(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else gettext("%(shown)s and %(count)d more") % {
        "shown": shown, "count": len(names) - limit}


from . import group_admin  # noqa: E402, F401 - registers the device groups admin
from .export import admin as export_admin  # noqa: E402, F401 - registers ExportJobAdmin
