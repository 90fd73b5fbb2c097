"""Thing models: own and shared lists, lookup by modelId, create/update/delete through the services."""

from __future__ import annotations

import pytest

from accounts.actors import SYSTEM
from accounts.services import set_membership
from assets import services
from assets.models import ThingModel
from tests.assets.api.helpers import assert_error, results

pytestmark = pytest.mark.django_db

FEATURE = {"identifier": "voltage", "name": "Voltage", "data_type": "double"}


def test_list_and_retrieve(api_for, viewer, thing_model):
    rows = results(api_for(viewer).get("/api/models/"))
    assert [row["modelId"] for row in rows] == ["inverter"]
    assert rows[0]["shared"] is False and rows[0]["attributes"][0]["identifier"] == "serial"
    detail = api_for(viewer).get("/api/models/inverter/")
    assert detail.status_code == 200 and detail.json()["measurepoints"][0]["identifier"] == "power"


def test_shared_model_is_marked_and_read_only(api_for, outsider, product, globex):
    services.share_product(product.ou.owner, product, globex)
    client = api_for(outsider)
    assert [(r["modelId"], r["shared"]) for r in results(client.get("/api/models/"))] == [("inverter", True)]
    error = assert_error(client.patch("/api/models/inverter/", {"name": "Mine"}), 403, "permission_denied")
    assert "shared to your OU read-only" in error["message"]
    assert_error(client.delete("/api/models/inverter/"), 403, "permission_denied")


def test_the_same_model_id_in_two_ous(api_for, writer, thing_model, globex):
    # ids are unique per OU: without ?ou= a user in both OUs must choose
    set_membership(SYSTEM, globex, writer, "asset_manager")
    theirs = ThingModel.objects.create(ou=globex, model_id="inverter", name="Globex inverter")
    client = api_for(writer)
    error = assert_error(client.get("/api/models/inverter/"), 400, "ambiguous")
    assert list(error["details"]) == ["ou"]
    assert client.get("/api/models/inverter/", {"ou": globex.ou_id}).json()["name"] == theirs.name
    assert client.get("/api/models/inverter/", {"ou": thing_model.ou.ou_id}).json()["name"] == "Inverter"


def test_own_model_wins_over_a_shared_one_with_the_same_id(api_for, outsider, product, globex):
    services.share_product(product.ou.owner, product, globex)
    own = ThingModel.objects.create(ou=globex, model_id="inverter", name="Globex inverter")
    response = api_for(outsider).get("/api/models/inverter/")
    assert response.json()["name"] == own.name and response.json()["shared"] is False


def test_ou_narrows_the_list(api_for, writer, thing_model, globex):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    ThingModel.objects.create(ou=globex, model_id="meter", name="Meter")
    assert [r["modelId"] for r in results(api_for(writer).get("/api/models/", {"ou": globex.ou_id}))] == ["meter"]


def test_create(api_for, writer, acme):
    response = api_for(writer).post("/api/models/", {"ouId": acme.ou_id, "modelId": "meter", "name": "Meter",
                                                     "attributes": [FEATURE]})
    assert response.status_code == 201, response.content
    assert response.json()["modelId"] == "meter"
    assert ThingModel.objects.get(ou=acme, model_id="meter").attributes == [FEATURE]


def test_create_with_a_taken_model_id(api_for, writer, acme, thing_model):
    error = assert_error(api_for(writer).post("/api/models/", {"ouId": acme.ou_id, "modelId": "inverter",
                                                               "name": "Again"}), 409, "model_id_exists")
    assert list(error["details"]) == ["modelId"]


def test_create_with_a_bad_definition(api_for, writer, acme):
    bad = {"identifier": "v", "name": "V", "data_type": "complex"}
    error = assert_error(api_for(writer).post("/api/models/", {"ouId": acme.ou_id, "modelId": "m", "name": "M",
                                                               "attributes": [bad]}), 400, "validation_error")
    assert "attributes[0]" in error["message"] and error["details"]
    assert not ThingModel.objects.filter(model_id="m").exists()


def test_update(api_for, writer, thing_model):
    response = api_for(writer).patch("/api/models/inverter/", {"name": "Inverter v2", "events": []})
    assert response.status_code == 200, response.content
    thing_model.refresh_from_db()
    assert (thing_model.name, thing_model.events) == ("Inverter v2", [])


def test_the_model_id_cannot_change(api_for, writer, thing_model):
    error = assert_error(api_for(writer).patch("/api/models/inverter/", {"modelId": "x"}), 400, "validation_error")
    assert list(error["details"]) == ["modelId"]


def test_delete(api_for, writer, spare_model):
    assert api_for(writer).delete("/api/models/spare/").status_code == 204
    assert not ThingModel.objects.filter(pk=spare_model.pk).exists()


def test_delete_in_use_is_a_conflict_with_the_count(api_for, writer, product, gateway_product):
    error = assert_error(api_for(writer).delete("/api/models/inverter/"), 409, "in_use")
    assert "used by 2 products; delete them first" in error["message"]
