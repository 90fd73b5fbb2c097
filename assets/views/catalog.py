"""Products and thing models of the current OU: its own (editable) and those shared to it (read-only)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.errors import DomainError

from .. import services
from ..access import get_model_for, get_product_for
from ..forms import ProductForm, ThingModelForm
from ..models import Product, ThingModel
from .common import can_write, console_view, current_ou, report


def _form_errors(form, error: DomainError) -> None:
    if not error.details:
        form.add_error(None, error.message)
    for field, problems in error.details.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@console_view
def product_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    products = (Product.objects.in_ou(ou).select_related("model", "ou")
                .annotate(device_count=Count("devices", distinct=True)).order_by("name", "pk"))
    return render(request, "assets/product_list.html", {"products": products, "ou": ou,
                                                        "writable": can_write(request)})


@console_view
def product_detail(request: HttpRequest, product_key: str) -> HttpResponse:
    product, writable = get_product_for(request.user, product_key)
    return render(request, "assets/product_detail.html", {
        "product": product, "writable": writable, "device_count": product.devices.count(),
        "shared": product.ou_id != current_ou(request).pk,
    })


@console_view
def product_edit(request: HttpRequest, product_key: str | None = None) -> HttpResponse:
    ou = current_ou(request)
    product = None
    if product_key is not None:
        product, _ = get_product_for(request.user, product_key, write=True)
    elif not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    form = ProductForm(request.POST or None, instance=product, ou=product.ou if product else ou)
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in form.Meta.fields}
        try:
            if product is None:
                model = fields.pop("model")
                product = services.create_product(request.user, ou, model=model, **fields)
            else:
                product = Product.objects.get(pk=product.pk)  # the form mutated the instance
                services.update_product(request.user, product, **fields)
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Product {product.name} saved.")
            return redirect("assets:product-detail", product_key=product.product_key)
    return render(request, "assets/catalog_form.html", {"form": form, "object": product, "kind": "product",
                                                        "cancel": reverse("assets:product-list")})


@console_view
def product_delete(request: HttpRequest, product_key: str) -> HttpResponse:
    product, _ = get_product_for(request.user, product_key, write=True)
    if request.method == "POST":
        try:
            services.delete_product(request.user, product)
        except DomainError as error:
            report(request, error)
            return redirect("assets:product-detail", product_key=product_key)
        messages.success(request, f"Product {product.name} deleted.")
        return redirect("assets:product-list")
    return render(request, "assets/confirm_delete.html", {
        "object": product, "kind": "product", "cancel": reverse("assets:product-detail", args=[product_key])})


@console_view
def model_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    models = (ThingModel.objects.in_ou(ou).select_related("ou")
              .annotate(product_count=Count("products", distinct=True)).order_by("name", "pk"))
    return render(request, "assets/model_list.html", {"models": models, "ou": ou,
                                                      "writable": can_write(request)})


@console_view
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model, writable = get_model_for(request.user, pk)
    return render(request, "assets/model_detail.html", {
        "model": model, "writable": writable, "shared": model.ou_id != current_ou(request).pk,
        "product_count": model.products.count(),
    })


@console_view
def model_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    ou = current_ou(request)
    model = None
    if pk is not None:
        model, _ = get_model_for(request.user, pk, write=True)
    elif not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    form = ThingModelForm(request.POST or None, instance=model)
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in form.Meta.fields}
        try:
            if model is None:
                model = services.create_model(request.user, ou, **fields)
            else:
                model = ThingModel.objects.get(pk=model.pk)
                services.update_model(request.user, model, **fields)
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Model {model.name} saved.")
            return redirect("assets:model-detail", pk=model.pk)
    return render(request, "assets/catalog_form.html", {"form": form, "object": model, "kind": "model",
                                                        "cancel": reverse("assets:model-list")})


@console_view
def model_delete(request: HttpRequest, pk: int) -> HttpResponse:
    model, _ = get_model_for(request.user, pk, write=True)
    if request.method == "POST":
        try:
            services.delete_model(request.user, model)
        except DomainError as error:
            report(request, error)
            return redirect("assets:model-detail", pk=pk)
        messages.success(request, f"Model {model.name} deleted.")
        return redirect("assets:model-list")
    return render(request, "assets/confirm_delete.html", {
        "object": model, "kind": "model", "cancel": reverse("assets:model-detail", args=[pk])})
