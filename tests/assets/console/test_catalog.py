from __future__ import annotations

import json

from django.urls import reverse

from assets.models import Product, ThingModel
from assets.services import share_product
from tests.conftest import client_for


def test_shared_products_and_models_are_listed_read_only(cast, product, globex, outsider):
    share_product(product.ou.owner, product, globex)
    client = client_for(outsider)
    body = client.get(reverse("assets:product-list")).content.decode()
    assert product.product_key in body and "Shared · read-only" in body
    assert "Shared · read-only" in client.get(reverse("assets:model-list")).content.decode()
    detail = client.get(reverse("assets:product-detail", args=[product.product_key])).content.decode()
    assert reverse("assets:product-edit", args=[product.product_key]) not in detail
    assert client.post(reverse("assets:product-edit", args=[product.product_key]), {"name": "x"}).status_code == 403
    assert client.post(reverse("assets:product-delete", args=[product.product_key])).status_code == 403
    assert client.post(reverse("assets:model-delete", args=[product.model.pk])).status_code == 403
    assert Product.objects.filter(pk=product.pk).exists()


def test_owner_changes_show_in_the_target(cast, product, globex, outsider, writer):
    share_product(product.ou.owner, product, globex)
    client_for(writer).post(reverse("assets:product-edit", args=[product.product_key]), {
        "name": "Renamed inverter", "product_type": "Device", "data_format": "Json", "model": product.model.pk})
    assert "Renamed inverter" in client_for(outsider).get(reverse("assets:product-list")).content.decode()


def test_deleting_a_product_in_use_is_refused_with_the_count(cast, device, writer):
    response = client_for(writer).post(reverse("assets:product-delete", args=[device.product.product_key]),
                                       follow=True)
    assert "used by 1 device(s)" in response.content.decode()


def test_create_product_and_model(cast, writer, acme):
    client = client_for(writer)
    response = client.post(reverse("assets:model-create"), {
        "model_id": "meter", "name": "Meter", "description": "",
        "attributes": '[{"identifier": "serial", "name": "Serial", "data_type": "string"}]',
        "measurepoints": "[]", "services": "[]", "events": "[]"})
    model = ThingModel.objects.get(ou=acme, model_id="meter")
    assert response.status_code == 302
    response = client.post(reverse("assets:product-create"), {
        "name": "Meter", "product_type": "Gateway", "data_format": "Json", "model": model.pk})
    assert response.status_code == 302
    assert Product.objects.get(ou=acme, name="Meter").product_type == "Gateway"


def test_a_bad_model_definition_is_shown_not_saved(cast, writer, acme):
    response = client_for(writer).post(reverse("assets:model-create"), {
        "model_id": "bad", "name": "Bad", "attributes": '[{"identifier": "1x", "data_type": "nope"}]',
        "measurepoints": "[]", "services": "[]", "events": "[]"})
    assert response.status_code == 200
    assert "data_type must be one of" in response.content.decode()
    assert not ThingModel.objects.filter(model_id="bad").exists()


def test_deleting_a_model_in_use_is_refused(cast, product, writer):
    response = client_for(writer).post(reverse("assets:model-delete", args=[product.model.pk]), follow=True)
    assert "used by 1 product(s)" in response.content.decode()


def test_a_product_and_its_model_are_edited_then_deleted_through_the_console(cast, product, writer):
    client, model = client_for(writer), product.model
    response = client.post(reverse("assets:product-edit", args=[product.product_key]), {
        "name": "Inverter v2", "product_type": "Device", "data_format": "Json", "model": model.pk}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("assets:product-detail", args=[product.product_key])
    assert "Product Inverter v2 saved." in response.content.decode()
    response = client.post(reverse("assets:model-edit", args=[model.pk]), {
        "model_id": model.model_id, "name": "Inverter model v2", "description": "",
        "attributes": json.dumps(model.attributes), "measurepoints": json.dumps(model.measurepoints),
        "services": json.dumps(model.services), "events": json.dumps(model.events)}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("assets:model-detail", args=[model.pk])
    assert "Model Inverter model v2 saved." in response.content.decode()

    response = client.post(reverse("assets:product-delete", args=[product.product_key]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("assets:product-list")
    assert "Product Inverter v2 deleted." in response.content.decode()
    response = client.post(reverse("assets:model-delete", args=[model.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("assets:model-list")
    assert "Model Inverter model v2 deleted." in response.content.decode()
    assert not Product.objects.filter(pk=product.pk).exists() and not ThingModel.objects.filter(pk=model.pk).exists()
