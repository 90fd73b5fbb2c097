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
    assert "used by 1 device (in this or other OUs)" in response.content.decode()


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
    assert "used by 1 product; delete it first" in response.content.decode()


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


def test_a_shared_product_counts_the_viewers_devices_only(cast, product, globex, outsider, writer):
    """The owner OU has three devices of the product, the target OU one: each sees its own."""
    from assets.models import Device

    for i in range(3):
        Device.objects.create(ou=product.ou, product=product, device_key=f"acme-{i}", name=f"A{i}")
    share_product(product.ou.owner, product, globex)
    Device.objects.create(ou=globex, product=product, device_key="globex-0", name="G0")
    target = client_for(outsider).get(reverse("assets:product-list"))
    assert {p.product_key: p.device_count for p in target.context["products"]} == {product.product_key: 1}
    owner = client_for(writer).get(reverse("assets:product-list"))
    assert {p.product_key: p.device_count for p in owner.context["products"]} == {product.product_key: 3}

    detail = client_for(outsider).get(reverse("assets:product-detail", args=[product.product_key]))
    assert detail.context["device_count"] == 1
    assert 'id="elsewhere-count"' not in detail.content.decode()  # nothing of the other OUs
    detail = client_for(writer).get(reverse("assets:product-detail", args=[product.product_key]))
    assert (detail.context["device_count"], detail.context["elsewhere_count"]) == (3, 1)


def test_a_shared_model_counts_the_products_the_viewer_sees(cast, product, gateway_product, globex, outsider,
                                                            writer):
    share_product(product.ou.owner, product, globex)  # one of the model's two products
    target = client_for(outsider).get(reverse("assets:model-list"))
    assert [m.product_count for m in target.context["models"]] == [1]
    assert client_for(outsider).get(reverse("assets:model-detail", args=[product.model.pk])
                                    ).context["product_count"] == 1
    assert [m.product_count for m in client_for(writer).get(reverse("assets:model-list")).context["models"]] == [2]


def test_the_delete_confirmation_says_a_product_in_use_will_be_refused(cast, device, writer):
    from assets.models import Device

    url = reverse("assets:product-delete", args=[device.product.product_key])
    body = client_for(writer).get(url).content.decode()
    assert "1 device (in this or other OUs) still uses this product: deleting it will be refused." in body
    assert 'type="submit"' not in body  # no Delete button that cannot succeed
    Device.objects.create(ou=device.ou, product=device.product, device_key="inv-0002", name="Inverter 2")
    assert "2 devices (in this or other OUs) still use this product" in client_for(writer).get(url).content.decode()


def test_the_delete_confirmation_says_a_model_in_use_will_be_refused(cast, product, writer):
    body = client_for(writer).get(reverse("assets:model-delete", args=[product.model.pk])).content.decode()
    assert "1 product (in this or other OUs) still uses this model: deleting it will be refused." in body


def test_the_delete_confirmation_of_an_unused_product_offers_delete(cast, product, writer):
    body = client_for(writer).get(reverse("assets:product-delete", args=[product.product_key])).content.decode()
    assert "deleting it will be refused" not in body
    assert "This cannot be undone." in body and 'class="danger">Delete</button>' in body
