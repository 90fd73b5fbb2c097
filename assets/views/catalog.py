"""Products and thing models of the current OU: its own (editable) and those shared to it (read-only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import ngettext

from accounts.errors import DomainError

from .. import services
from ..access import get_model_for, get_product_for
from ..forms import ProductForm, ThingModelForm
from ..models import Device, Product, ThingModel
from .common import SAVED, can_write, confirm_delete, console_view, current_ou
from .specs import with_spec_lines


def _form_errors(form, error: DomainError) -> None:
    if not error.details:
        form.add_error(None, error.message)
    for field, problems in error.details.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@console_view
def product_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    # a shared product counts the viewer's devices, never the owner's or another target's
    products = (Product.objects.in_ou(ou).select_related("model", "ou")
                .annotate(device_count=Count("devices", filter=Q(devices__ou=ou), distinct=True))
                .order_by("name", "pk"))
    return render(request, "assets/product_list.html", {"products": products, "ou": ou,
                                                        "writable": can_write(request)})


@console_view
def product_detail(request: HttpRequest, product_key: str) -> HttpResponse:
    product, writable = get_product_for(request.user, product_key)
    ou = current_ou(request)
    shared = product.ou_id != ou.pk
    return render(request, "assets/product_detail.html", {
        "product": product, "writable": writable, "shared": shared,
        "device_count": product.devices.filter(ou=ou).count(),
        # the owner answers for the product everywhere (a device anywhere blocks its deletion)
        "elsewhere_count": None if shared else product.devices.exclude(ou=ou).count(),
    })


@console_view
def product_edit(request: HttpRequest, product_key: str | None = None) -> HttpResponse:
    product = None
    if product_key is not None:
        product, _ = get_product_for(request.user, product_key, write=True)
    elif not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    form = ProductForm(request.POST or None, instance=product, ou=product.ou if product else current_ou(request))
    return _edit(request, PRODUCTS, form, product)


@console_view
def product_delete(request: HttpRequest, product_key: str) -> HttpResponse:
    product, _ = get_product_for(request.user, product_key, write=True)
    return _delete(request, PRODUCTS, product)


@console_view
def model_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    # the products this OU sees (its own and those shared to it), not every OU's
    models = (ThingModel.objects.in_ou(ou).select_related("ou")
              .annotate(product_count=Count("products", filter=Q(products__ou=ou) | Q(products__shares__ou=ou),
                                            distinct=True))
              .order_by("name", "pk"))
    return render(request, "assets/model_list.html", {"models": models, "ou": ou,
                                                      "writable": can_write(request)})


@console_view
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model, writable = get_model_for(request.user, pk)
    return render(request, "assets/model_detail.html", {
        "model": model, "writable": writable, "shared": model.ou_id != current_ou(request).pk,
        "product_count": Product.objects.in_ou(current_ou(request)).filter(model=model).count(),
        "attributes": with_spec_lines(model.attributes), "measurepoints": with_spec_lines(model.measurepoints),
        "events": with_spec_lines(model.events),
    })


@console_view
def model_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    model = None
    if pk is not None:
        model, _ = get_model_for(request.user, pk, write=True)
    elif not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    return _edit(request, MODELS, ThingModelForm(request.POST or None, instance=model), model)


@console_view
def model_delete(request: HttpRequest, pk: int) -> HttpResponse:
    model, _ = get_model_for(request.user, pk, write=True)
    return _delete(request, MODELS, model)


# --- what editing and deleting a product or a model share --------------------------------------------

@dataclass(frozen=True)
class Catalog:
    kind: str
    create: Callable[..., Any]  # (actor, ou, **fields)
    update: Callable[..., Any]  # (actor, instance, **fields)
    delete: Callable[[Any, Any], None]  # (actor, instance)
    refusal: Callable[[Any], str]  # why the service would refuse to delete it now ("" when it would not)
    detail_url: Callable[[Any], str]
    list_url_name: str


def _product_in_use(product: Product) -> str:
    count = Device.objects.filter(product=product).count()
    return ngettext(
        "%(count)d device (in this or other OUs) still uses this product: deleting it will be refused. "
        "Delete or move the device first.",
        "%(count)d devices (in this or other OUs) still use this product: deleting it will be refused. "
        "Delete or move the devices first.", count) % {"count": count} if count else ""


def _model_in_use(model: ThingModel) -> str:
    count = model.products.count()
    return ngettext(
        "%(count)d product (in this or other OUs) still uses this model: deleting it will be refused. "
        "Delete the product first.",
        "%(count)d products (in this or other OUs) still use this model: deleting it will be refused. "
        "Delete the products first.", count) % {"count": count} if count else ""


PRODUCTS = Catalog("product", services.create_product, services.update_product, services.delete_product,
                   _product_in_use,
                   lambda product: reverse("assets:product-detail", args=[product.product_key]),
                   "assets:product-list")
MODELS = Catalog("model", services.create_model, services.update_model, services.delete_model, _model_in_use,
                 lambda model: reverse("assets:model-detail", args=[model.pk]), "assets:model-list")


def _edit(request: HttpRequest, catalog: Catalog, form: ModelForm, instance: Product | ThingModel | None
          ) -> HttpResponse:
    """The form page; on a valid POST, create (in the current OU) or update through the service."""
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in form.Meta.fields}
        try:
            if instance is None:
                instance = catalog.create(request.user, current_ou(request), **fields)
            else:
                instance = type(instance).objects.get(pk=instance.pk)  # the form mutated the instance
                catalog.update(request.user, instance, **fields)
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, SAVED[catalog.kind] % {"name": instance.name})
            return redirect(catalog.detail_url(instance))
    return render(request, "assets/catalog_form.html", {"form": form, "object": instance, "kind": catalog.kind,
                                                        "cancel": reverse(catalog.list_url_name)})


def _delete(request: HttpRequest, catalog: Catalog, instance: Product | ThingModel) -> HttpResponse:
    return confirm_delete(request, instance, catalog.kind, catalog.delete, catalog.detail_url(instance),
                          reverse(catalog.list_url_name), refusal=catalog.refusal(instance))
