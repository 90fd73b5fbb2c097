"""Products: own and shared lists, the read-only share, create/update/delete through the services."""

from __future__ import annotations

import pytest

from accounts.actors import SYSTEM
from accounts.services import set_membership
from assets import services
from assets.models import Product, ThingModel
from tests.assets.api.helpers import assert_error, results

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_to_globex(product, globex):
    services.share_product(product.ou.owner, product, globex)
    return product


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["productKey"]: row for row in rows}


def test_list_own_products(api_for, viewer, product, gateway_product, globex_device):
    rows = by_key(results(api_for(viewer).get("/api/products/")))
    assert set(rows) == {product.product_key, gateway_product.product_key}
    row = rows[product.product_key]
    assert row["shared"] is False and row["ouId"] == product.ou.ou_id and row["modelId"] == "inverter"
    assert row["productType"] == "Device" and row["dataFormat"] == "Json" and row["dynamicActivation"] is False
    assert "productSecret" not in row


def test_the_target_ou_sees_a_shared_product_marked_shared(api_for, outsider, shared_to_globex, globex_device):
    rows = by_key(results(api_for(outsider).get("/api/products/")))
    assert rows[shared_to_globex.product_key]["shared"] is True
    assert rows[globex_device.product.product_key]["shared"] is False
    detail = api_for(outsider).get(f"/api/products/{shared_to_globex.product_key}/").json()
    assert detail["shared"] is True


def test_ou_narrows_to_that_ous_own_and_shared(api_for, writer, shared_to_globex, gateway_product, globex,
                                               globex_device):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    everything = by_key(results(api_for(writer).get("/api/products/")))
    assert len(everything) == 3 and not any(row["shared"] for row in everything.values())
    in_globex = by_key(results(api_for(writer).get("/api/products/", {"ou": globex.ou_id})))
    assert set(in_globex) == {shared_to_globex.product_key, globex_device.product.product_key}
    assert in_globex[shared_to_globex.product_key]["shared"] is True  # relative to globex


def test_list_filters(api_for, viewer, product, gateway_product):
    assert set(by_key(results(api_for(viewer).get("/api/products/", {"productType": "Gateway"})))) == {
        gateway_product.product_key}
    assert set(by_key(results(api_for(viewer).get("/api/products/", {"name": "edge"})))) == {
        gateway_product.product_key}


def test_list_queries_do_not_grow(api_for, viewer, thing_model, acme, django_assert_num_queries):
    Product.objects.bulk_create([Product(ou=acme, name=f"P{n}", model=thing_model) for n in range(40)])
    client = api_for(viewer)
    for size in (5, 40):
        with django_assert_num_queries(4):
            assert len(results(client.get("/api/products/", {"pageSize": size}))) == size


def test_shared_product_is_read_only_for_the_target(api_for, outsider, shared_to_globex):
    client = api_for(outsider)
    key = shared_to_globex.product_key
    error = assert_error(client.patch(f"/api/products/{key}/", {"name": "Mine now"}), 403, "permission_denied")
    assert "shared to your OU read-only" in error["message"]
    assert_error(client.delete(f"/api/products/{key}/"), 403, "permission_denied")
    shared_to_globex.refresh_from_db()
    assert shared_to_globex.name == "Inverter"


def test_the_owner_change_shows_in_the_target(api_for, writer, outsider, shared_to_globex):
    key = shared_to_globex.product_key
    assert api_for(writer).patch(f"/api/products/{key}/", {"name": "Inverter v2"}).status_code == 200
    assert api_for(outsider).get(f"/api/products/{key}/").json()["name"] == "Inverter v2"


def test_create(api_for, writer, acme, thing_model):
    response = api_for(writer).post("/api/products/", {
        "ouId": acme.ou_id, "name": "Meter", "modelId": "inverter", "productType": "Gateway",
        "dataFormat": "Custom", "dynamicActivation": True, "description": "d"})
    assert response.status_code == 201, response.content
    body = response.json()
    product = Product.objects.get(product_key=body["productKey"])
    assert (product.model, product.product_type, product.data_format, product.dynamic_activation) == (
        thing_model, "Gateway", "Custom", True)
    assert body["productSecret"] == product.product_secret and body["shared"] is False


def test_create_with_a_model_shared_to_the_ou(api_for, outsider, globex, shared_to_globex):
    response = api_for(outsider).post("/api/products/", {"ouId": globex.ou_id, "name": "Mine",
                                                         "modelId": "inverter"})
    assert response.status_code == 201, response.content
    assert Product.objects.get(product_key=response.json()["productKey"]).model == shared_to_globex.model


def test_create_with_an_unknown_model(api_for, writer, acme):
    error = assert_error(api_for(writer).post("/api/products/", {"ouId": acme.ou_id, "name": "X",
                                                                 "modelId": "nope"}), 400, "validation_error")
    assert list(error["details"]) == ["modelId"]


def test_create_validation_errors_name_each_field(api_for, writer, acme, thing_model):
    error = assert_error(api_for(writer).post("/api/products/", {
        "ouId": acme.ou_id, "name": "", "modelId": "inverter", "productType": "Sensor"}), 400, "validation_error")
    assert set(error["details"]) == {"productType"}
    error = assert_error(api_for(writer).post("/api/products/", {
        "ouId": acme.ou_id, "name": "", "modelId": "inverter"}), 400, "validation_error")
    assert set(error["details"]) == {"name"}


def test_update_model_and_type(api_for, writer, spare_product, acme):
    other = ThingModel.objects.create(ou=acme, model_id="meter", name="Meter")
    response = api_for(writer).patch(f"/api/products/{spare_product.product_key}/",
                                     {"modelId": "meter", "productType": "Gateway"})
    assert response.status_code == 200, response.content
    assert response.json()["modelId"] == "meter"
    spare_product.refresh_from_db()
    assert (spare_product.model, spare_product.product_type) == (other, "Gateway")


def test_type_cannot_change_while_devices_use_it(api_for, writer, product, device):
    assert_error(api_for(writer).patch(f"/api/products/{product.product_key}/", {"productType": "Gateway"}),
                 409, "in_use")


def test_patch_refuses_the_product_key(api_for, writer, product):
    error = assert_error(api_for(writer).patch(f"/api/products/{product.product_key}/", {"productKey": "x"}),
                         400, "validation_error")
    assert list(error["details"]) == ["productKey"]


def test_delete(api_for, writer, spare_product):
    assert api_for(writer).delete(f"/api/products/{spare_product.product_key}/").status_code == 204
    assert not Product.objects.filter(pk=spare_product.pk).exists()


def test_delete_in_use_is_a_conflict_with_the_count(api_for, writer, product, device):
    error = assert_error(api_for(writer).delete(f"/api/products/{product.product_key}/"), 409, "in_use")
    assert "used by 1 device (in this or other OUs)" in error["message"]
    assert Product.objects.filter(pk=product.pk).exists()
