"""The New Device form: choosing another Product reloads the model's attribute fields and keeps what was
typed (it used to clear Name and Serial number)."""

from __future__ import annotations

from django.urls import reverse

from assets.models import Product, ThingModel
from tests.conftest import client_for

NEW = reverse("assets:device-create")
HTMX_FIELDS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "device-form-fields"}


def test_changing_the_product_keeps_what_was_typed(cast, product, gateway_product, writer):
    typed = {"product": gateway_product.product_key, "name": "Roof inverter", "device_key": "roof-01",
             "description": "On the roof", "timezone": "Asia/Shanghai", "tags": "site=north",
             "attr_serial": "SN-77", "attr_phase": "3"}
    response = client_for(writer).get(NEW, typed, **HTMX_FIELDS)
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound  # shown as typed, not judged before Save
    for name, value in typed.items():
        assert form[name].value() == value, name
    body = response.content.decode()
    assert 'value="Roof inverter"' in body and 'value="SN-77"' in body and "errorlist" not in body
    assert f'<option value="{gateway_product.product_key}" selected>' in body


def test_attributes_the_new_model_lacks_are_left_behind(cast, product, acme, writer):
    bare = ThingModel.objects.create(ou=acme, model_id="bare", name="Bare", attributes=[
        {"identifier": "site", "name": "Site", "data_type": "string"}])
    other = Product.objects.create(ou=acme, name="Bare product", model=bare)
    response = client_for(writer).get(NEW, {"product": other.product_key, "name": "Kept", "attr_serial": "SN-1"},
                                      **HTMX_FIELDS)
    form = response.context["form"]
    assert form["name"].value() == "Kept"
    assert "attr_serial" not in form.fields and "attr_site" in form.fields


def test_the_product_select_sends_the_whole_form(cast, product, writer):
    body = client_for(writer).get(NEW).content.decode()
    assert 'hx-include="#device-form-fields"' in body
