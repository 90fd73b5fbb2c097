"""The domain operations on devices, products and models: who may, what changes, what is audited."""

from __future__ import annotations

import string

import pytest
from django.utils.timezone import now

from accounts.actors import SYSTEM
from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import AuditEvent
from assets import services
from assets.models import (
    AssetType,
    Device,
    DeviceStatus,
    ModelShare,
    Product,
    ProductShare,
    ProductType,
    ThingModel,
    generate_device_secret,
)
from assets.signals import device_secrets_reset, devices_deleted, devices_disabled
from assets.validators import validate_device_key

pytestmark = pytest.mark.django_db

ALPHANUMERIC = set(string.ascii_letters + string.digits)


def create(actor, product, ou=None, **fields) -> Device:
    fields.setdefault("name", "New device")
    fields.setdefault("attributes", {"serial": "SN-NEW"})
    return services.create_device(actor, ou or product.ou, product, **fields)


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).first()


@pytest.fixture
def received():
    """Collects (signal name, device ids) sent by the assets signals during a test."""
    calls: list[tuple[str, list[int]]] = []
    receivers = {}
    for name, signal in (("disabled", devices_disabled), ("secrets_reset", device_secrets_reset),
                         ("deleted", devices_deleted)):
        def receiver(sender, device_ids, _name=name, **kwargs):
            calls.append((_name, list(device_ids)))
        receivers[signal] = receiver
        signal.connect(receiver)
    yield calls
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


# --- the device triple --------------------------------------------------------------------------------

def test_a_new_device_gets_its_triple(writer, product):
    device = create(writer, product)
    assert len(device.device_secret) == 20
    assert set(device.device_secret) <= ALPHANUMERIC
    assert device.asset_id and set(device.asset_id) <= ALPHANUMERIC
    validate_device_key(device.device_key)  # generated when not given
    assert device.triple() == {"productKey": product.product_key, "deviceKey": device.device_key,
                               "deviceSecret": device.device_secret}
    assert device.enabled and device.status == DeviceStatus.INACTIVE


def test_device_secrets_are_drawn_from_the_secrets_module(monkeypatch):
    monkeypatch.setattr("assets.models.secrets.choice", lambda alphabet: "Q")
    assert generate_device_secret() == "Q" * 20


def test_device_secrets_do_not_repeat():
    assert len({generate_device_secret() for _ in range(1000)}) == 1000


def test_each_device_gets_its_own_asset_id_and_secret(writer, product):
    first, second = create(writer, product), create(writer, product)
    assert first.asset_id != second.asset_id
    assert first.device_secret != second.device_secret
    assert first.device_key != second.device_key


def test_a_new_product_gets_its_own_product_key_and_secret(writer, acme, thing_model):
    product = services.create_product(writer, acme, model=thing_model, name="Meter")
    other = services.create_product(writer, acme, model=thing_model, name="Meter 2")
    assert other.product_key != product.product_key
    assert other.product_secret != product.product_secret
    assert len(product.product_key) == 8 and set(product.product_key) <= ALPHANUMERIC
    assert len(product.product_secret) == 16 and set(product.product_secret) <= ALPHANUMERIC


# --- create_device -------------------------------------------------------------------------------------

def test_writer_can_create_a_device_and_it_is_audited(writer, acme, product):
    device = create(writer, product, device_key="inv-0100", name="Roof inverter", timezone="Asia/Shanghai",
                    tags={"site": "roof"}, attributes={"serial": "SN-100", "capacity": 10, "phase": "3"})
    device.refresh_from_db()
    assert (device.ou, device.device_key, device.name, device.timezone) == (acme, "inv-0100", "Roof inverter",
                                                                            "Asia/Shanghai")
    assert device.attributes == {"serial": "SN-100", "capacity": 10.0, "phase": 3}  # stored in the model's types
    event = last_event("device.create")
    assert (event.actor, event.ou, event.object_id) == (writer, acme, device.asset_id)
    assert event.after["name"] == "Roof inverter"


def test_viewer_cannot_create_a_device(viewer, product):
    with pytest.raises(AccessDenied):
        create(viewer, product)
    assert not Device.objects.exists()


def test_outsider_cannot_create_a_device_in_another_ou(outsider, product):
    with pytest.raises(AccessDenied):
        create(outsider, product)


def test_a_duplicate_device_key_in_the_same_product_is_a_conflict(writer, product, device):
    with pytest.raises(Conflict) as error:
        create(writer, product, device_key=device.device_key)
    assert error.value.code == "device_key_exists"
    assert error.value.details == {"deviceKey": [f'deviceKey "inv-0001" already exists in product '
                                                 f'{product.product_key}.']}
    assert Device.objects.count() == 1


def test_the_same_device_key_in_another_product_is_fine(writer, acme, thing_model, device):
    other = services.create_product(writer, acme, model=thing_model, name="Other inverter")
    twin = create(writer, other, device_key=device.device_key)
    assert twin.device_key == device.device_key


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"device_key": "abc"}, "device_key", '"abc" is not a valid deviceKey: use 4 to 64 letters, digits or - _ . :'),
    ({"name": ""}, "name", "The device name is required."),
    ({"timezone": "+25:00"}, "timezone", '"+25:00" is not a valid time zone'),
    ({"timezone": "Mars/Base"}, "timezone", '"Mars/Base" is not a valid time zone'),
    ({"description": "d" * 501}, "description", "The description can be at most 500 characters."),
    ({"tags": {"bad key": "x"}}, "tags", 'tag key "bad key" must be 1 to 50 letters, digits or _ - /'),
    ({"tags": {f"k{i}": "v" for i in range(101)}}, "tags", "a device can have at most 100 tags, got 101"),
])
def test_invalid_device_fields_are_refused_with_the_field_named(writer, product, fields, field, message):
    with pytest.raises(DomainError) as error:
        create(writer, product, **fields)
    assert error.value.code == "validation_error"
    assert error.value.details[field] == [message]
    assert not Device.objects.exists()


@pytest.mark.parametrize(("attributes", "message"), [
    ({}, 'attribute "serial" is required'),
    ({"serial": ""}, 'attribute "serial" is required'),
    ({"serial": "S", "colour": "red"}, '"colour" is not an attribute of model inverter'),
    ({"serial": "S", "capacity": "big"}, 'attribute "capacity": expected a number, got \'big\''),
    ({"serial": "S", "capacity": 6000}, 'attribute "capacity": 6000.0 is above the maximum 5000'),
    ({"serial": "S", "phase": "2"}, 'attribute "phase": "2" is not one of the allowed values: 1 (single), 3 (three)'),
    ({"serial": "S", "commissioned": "2023-02-30"}, 'attribute "commissioned": "2023-02-30" is not a date'),
    ({"serial": "S" * 33}, 'attribute "serial": text is 33 characters long, the maximum is 32'),
])
def test_attributes_are_checked_against_the_model(writer, product, attributes, message):
    with pytest.raises(DomainError) as error:
        create(writer, product, attributes=attributes)
    assert len(error.value.details["attributes"]) == 1
    assert error.value.details["attributes"][0].startswith(message)


def test_every_invalid_field_is_reported_at_once(writer, product):
    with pytest.raises(DomainError) as error:
        create(writer, product, device_key="x", timezone="+14:30", attributes={"colour": "red"})
    assert set(error.value.details) == {"device_key", "timezone", "attributes"}
    assert len(error.value.details["attributes"]) == 2  # unknown colour, missing serial


def test_a_device_cannot_use_a_product_not_available_in_its_ou(outsider, globex, product):
    with pytest.raises(DomainError) as error:
        create(outsider, product, ou=globex)
    assert error.value.code == "product_not_found"


def test_a_device_can_use_a_product_shared_to_its_ou(outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    device = create(outsider, product, ou=globex)
    assert device.ou == globex


def test_no_service_acts_without_an_actor(product, device, gateway):
    for write in (lambda: create(None, product), lambda: services.update_device(None, device, name="X"),
                  lambda: services.disable_device(None, device), lambda: services.delete_device(None, device),
                  lambda: services.reveal_secret(None, device),
                  lambda: services.add_sub_devices(None, gateway, [device]),
                  lambda: services.delete_product(None, product)):
        with pytest.raises(TypeError, match="needs its actor"):
            write()
    device.refresh_from_db()
    assert (device.name, device.enabled, device.gateway_id) == ("Inverter 1", True, None)
    assert not AuditEvent.objects.filter(action__startswith="device.").exists()


def test_the_system_writes_only_where_a_service_allows_it(product, device):
    services.update_device(SYSTEM, device, attributes={"serial": "SN-2"})  # a device reporting its attributes
    assert last_event("device.update").actor is None
    assert create(SYSTEM, product).ou == product.ou  # a gateway registering a sub-device (thing.device.register)
    for write in (lambda: services.disable_device(SYSTEM, device),
                  lambda: services.reveal_secret(SYSTEM, device), lambda: services.delete_device(SYSTEM, device)):
        with pytest.raises(AccessDenied):
            write()
    device.refresh_from_db()
    assert device.enabled and not AuditEvent.objects.filter(action="device.disable").exists()


def test_sharing_a_product_needs_write_access_to_it_and_is_audited(product, globex, viewer, writer):
    with pytest.raises(AccessDenied):
        services.share_product(viewer, product, globex)
    assert services.share_product(writer, product, globex) is True
    assert last_event("product.share").actor == writer and last_event("product.share").after == {"ou": globex.ou_id}


# --- update_device / delete_device ----------------------------------------------------------------------

def test_writer_can_edit_a_device_and_before_and_after_are_audited(writer, device):
    services.update_device(writer, device, name="Renamed", tags={"site": "north"}, timezone="-12:00")
    device.refresh_from_db()
    assert (device.name, device.tags, device.timezone) == ("Renamed", {"site": "north"}, "-12:00")
    event = last_event("device.update")
    assert event.actor == writer
    assert (event.before["name"], event.after["name"]) == ("Inverter 1", "Renamed")
    assert (event.before["tags"], event.after["tags"]) == ({}, {"site": "north"})


def test_viewer_cannot_edit_a_device(viewer, device):
    with pytest.raises(AccessDenied):
        services.update_device(viewer, device, name="Renamed")
    device.refresh_from_db()
    assert device.name == "Inverter 1"


def test_an_invalid_edit_changes_nothing(writer, device):
    with pytest.raises(DomainError):
        services.update_device(writer, device, name="Renamed", timezone="+25:00")
    device.refresh_from_db()
    assert (device.name, device.timezone) == ("Inverter 1", "+08:00")
    assert not AuditEvent.objects.filter(action="device.update").exists()


@pytest.mark.parametrize("field", ["device_key", "device_secret", "enabled", "ou", "gateway"])
def test_fields_outside_the_edit_form_cannot_be_changed_by_update(writer, device, field):
    with pytest.raises(DomainError, match="cannot be changed"):
        services.update_device(writer, device, **{field: None})


def test_writer_can_delete_a_device_and_the_audit_event_outlives_it(writer, device):
    asset_id = device.asset_id
    services.delete_device(writer, device)
    assert not Device.objects.filter(asset_id=asset_id).exists()
    event = last_event("device.delete")
    assert (event.actor, event.object_id, event.before["name"]) == (writer, asset_id, "Inverter 1")


def test_deleting_a_device_tells_the_other_apps_which_one(writer, device, received):
    pk = device.pk
    services.delete_device(writer, device)
    assert received == [("deleted", [pk])]


def test_viewer_cannot_delete_a_device(viewer, device):
    with pytest.raises(AccessDenied):
        services.delete_device(viewer, device)
    assert Device.objects.filter(pk=device.pk).exists()


def test_deleting_a_gateway_leaves_its_sub_devices_as_plain_devices(writer, gateway, device):
    services.add_sub_devices(writer, gateway, [device])
    services.delete_device(writer, gateway)
    device.refresh_from_db()
    assert device.gateway is None
    assert device.asset_type == AssetType.DEVICE


# --- enable / disable -----------------------------------------------------------------------------------

def test_writer_can_disable_a_device_and_it_is_audited(writer, acme, device):
    services.disable_device(writer, device)
    assert device.status == DeviceStatus.DISABLED
    device.refresh_from_db()
    assert device.enabled is False
    event = last_event("device.disable")
    assert (event.actor, event.ou, event.object_type, event.object_id) == (writer, acme, "device", device.asset_id)
    assert (event.before, event.after) == ({"enabled": True}, {"enabled": False})


def test_disabling_tells_the_connectivity_app_once_the_transaction_commits(
        writer, device, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.disable_device(writer, device)
        assert received == []  # not before the commit
    assert len(callbacks) == 1
    assert received == [("disabled", [device.pk])]


def test_writer_can_enable_a_disabled_device_and_its_status_comes_back(writer, device):
    Device.objects.filter(pk=device.pk).update(enabled=False, activated_at=now(), online=False)
    device.refresh_from_db()
    services.enable_device(writer, device)
    assert device.status == DeviceStatus.OFFLINE
    event = last_event("device.enable")
    assert (event.actor, event.before, event.after) == (writer, {"enabled": False}, {"enabled": True})


def test_enabling_an_enabled_device_is_a_conflict_and_records_nothing(writer, device):
    with pytest.raises(Conflict) as error:
        services.enable_device(writer, device)
    assert error.value.code == "already_enabled"
    assert error.value.message == "Device inv-0001 is already enabled."
    assert not AuditEvent.objects.filter(action__startswith="device.").exists()


def test_disabling_a_disabled_device_is_a_conflict(writer, device):
    services.disable_device(writer, device)
    with pytest.raises(Conflict) as error:
        services.disable_device(writer, device)
    assert error.value.code == "already_disabled"
    assert AuditEvent.objects.filter(action="device.disable").count() == 1


def test_a_stale_copy_cannot_disable_twice(writer, device):
    stale = Device.objects.get(pk=device.pk)
    services.disable_device(writer, device)
    with pytest.raises(Conflict):
        services.disable_device(writer, stale)  # the database decides, not the copy in memory


def test_viewer_cannot_disable_a_device(viewer, device):
    with pytest.raises(AccessDenied):
        services.disable_device(viewer, device)
    device.refresh_from_db()
    assert device.enabled
    assert not AuditEvent.objects.filter(action="device.disable").exists()


def test_outsider_cannot_disable_a_device(outsider, device):
    with pytest.raises(AccessDenied):
        services.disable_device(outsider, device)


def test_owner_can_disable_a_device(owner, device):
    services.disable_device(owner, device)
    assert device.status == DeviceStatus.DISABLED


# --- secrets -------------------------------------------------------------------------------------------

def test_writer_can_reveal_the_secret_and_the_reveal_is_audited(writer, device):
    assert services.reveal_secret(writer, device) == device.device_secret
    event = last_event("device.secret_reveal")
    assert (event.actor, event.object_id) == (writer, device.asset_id)
    # the log says who looked, never what they saw
    assert device.device_secret not in f"{event.before}{event.after}{event.object_repr}"


def test_viewer_cannot_reveal_the_secret(viewer, device):
    with pytest.raises(AccessDenied):
        services.reveal_secret(viewer, device)
    assert not AuditEvent.objects.filter(action="device.secret_reveal").exists()


def test_writer_can_reset_the_secret(writer, device, received, django_capture_on_commit_callbacks):
    old = device.device_secret
    with django_capture_on_commit_callbacks(execute=True):
        new = services.reset_secret(writer, device)
    device.refresh_from_db()
    assert device.device_secret == new != old
    assert len(new) == 20 and set(new) <= ALPHANUMERIC
    assert last_event("device.secret_reset").actor == writer
    assert received == [("secrets_reset", [device.pk])]  # live sessions must log in again


def test_viewer_cannot_reset_the_secret(viewer, device):
    old = device.device_secret
    with pytest.raises(AccessDenied):
        services.reset_secret(viewer, device)
    device.refresh_from_db()
    assert device.device_secret == old


# --- sub-devices ---------------------------------------------------------------------------------------

@pytest.fixture
def other_gateway(gateway_product) -> Device:
    return Device.objects.create(ou=gateway_product.ou, product=gateway_product, device_key="gw-0002",
                                 name="Gateway 2", attributes={"serial": "GW-2"})


def test_sub_device_candidates_are_free_device_type_devices_of_the_same_ou(
        writer, product, gateway, other_gateway, device, globex_device):
    attached = create(writer, product, device_key="inv-attached")
    services.add_sub_devices(writer, other_gateway, [attached])
    free = create(writer, product, device_key="inv-free")
    assert set(services.sub_device_candidates(gateway)) == {device, free}


def test_writer_can_add_sub_devices_to_a_gateway(writer, gateway, device):
    assert services.add_sub_devices(writer, gateway, [device]) == 1
    device.refresh_from_db()
    assert device.gateway == gateway
    assert device.asset_type == AssetType.SUB_DEVICE
    assert gateway.asset_type == AssetType.GATEWAY
    event = last_event("device.sub_devices_add")
    assert (event.actor, event.object_id, event.after) == (writer, gateway.asset_id, {"added": [device.asset_id]})


def test_a_device_that_is_not_a_gateway_cannot_have_sub_devices(writer, product, device):
    other = create(writer, product, device_key="inv-0002")
    with pytest.raises(DomainError) as error:
        services.add_sub_devices(writer, device, [other])
    assert error.value.code == "not_a_gateway"


def test_a_gateway_cannot_go_under_a_gateway(writer, gateway, other_gateway):
    with pytest.raises(Conflict) as error:
        services.add_sub_devices(writer, gateway, [other_gateway])
    assert error.value.code == "not_eligible"
    other_gateway.refresh_from_db()
    assert other_gateway.gateway is None


def test_a_gateway_that_is_itself_a_sub_device_takes_no_sub_devices(writer, gateway, other_gateway, device):
    Device.objects.filter(pk=other_gateway.pk).update(gateway=gateway)  # data from before the rule
    other_gateway.refresh_from_db()
    with pytest.raises(DomainError, match="cannot be a gateway of others"):
        services.add_sub_devices(writer, other_gateway, [device])


def test_a_device_already_under_another_gateway_is_refused(writer, gateway, other_gateway, device):
    services.add_sub_devices(writer, other_gateway, [device])
    with pytest.raises(Conflict, match="inv-0001"):
        services.add_sub_devices(writer, gateway, [device])
    device.refresh_from_db()
    assert device.gateway == other_gateway


def test_a_device_of_another_ou_cannot_become_a_sub_device(writer, gateway, globex_device):
    with pytest.raises(Conflict):
        services.add_sub_devices(writer, gateway, [globex_device])
    globex_device.refresh_from_db()
    assert globex_device.gateway is None


def test_one_refused_device_refuses_the_whole_batch(writer, gateway, other_gateway, device):
    with pytest.raises(Conflict):
        services.add_sub_devices(writer, gateway, [device, other_gateway])
    device.refresh_from_db()
    assert device.gateway is None


def test_adding_no_devices_is_refused(writer, gateway):
    with pytest.raises(DomainError) as error:
        services.add_sub_devices(writer, gateway, [])
    assert error.value.code == "required"


def test_viewer_cannot_add_sub_devices(viewer, gateway, device):
    with pytest.raises(AccessDenied):
        services.add_sub_devices(viewer, gateway, [device])


def test_writer_can_remove_sub_devices_and_they_stay_in_the_ou(writer, acme, gateway, device):
    services.add_sub_devices(writer, gateway, [device])
    assert services.remove_sub_devices(writer, gateway, [device]) == 1
    device.refresh_from_db()
    assert device.gateway is None and device.ou == acme
    event = last_event("device.sub_devices_remove")
    assert (event.actor, event.before) == (writer, {"removed": [device.asset_id]})


def test_removing_a_device_that_is_not_a_sub_device_of_this_gateway_is_refused(
        writer, gateway, other_gateway, device):
    services.add_sub_devices(writer, other_gateway, [device])
    device.refresh_from_db()
    with pytest.raises(Conflict) as error:
        services.remove_sub_devices(writer, gateway, [device])
    assert error.value.code == "not_a_sub_device"
    device.refresh_from_db()
    assert device.gateway == other_gateway


def test_a_stale_copy_of_a_detached_sub_device_cannot_be_removed_again(writer, gateway, device):
    services.add_sub_devices(writer, gateway, [device])
    attached = Device.objects.get(pk=device.pk)
    services.remove_sub_devices(writer, gateway, [attached])
    stale = Device.objects.get(pk=device.pk)
    stale.gateway_id = gateway.pk  # as a page loaded before the removal still has it
    with pytest.raises(Conflict):
        services.remove_sub_devices(writer, gateway, [stale])
    assert AuditEvent.objects.filter(action="device.sub_devices_remove").count() == 1


def test_viewer_cannot_remove_sub_devices(writer, viewer, gateway, device):
    services.add_sub_devices(writer, gateway, [device])
    with pytest.raises(AccessDenied):
        services.remove_sub_devices(viewer, gateway, [device])


# --- thing models --------------------------------------------------------------------------------------

def test_writer_can_create_a_model_and_it_is_audited(writer, acme):
    model = services.create_model(writer, acme, model_id="meter", name="Meter",
                                  attributes=[{"identifier": "serial", "data_type": "string"}])
    assert ThingModel.objects.get(pk=model.pk).attributes[0]["identifier"] == "serial"
    assert last_event("model.create").after == {"model_id": "meter", "name": "Meter"}


def test_a_model_id_is_unique_within_an_ou_only(writer, outsider, globex, thing_model):
    with pytest.raises(Conflict) as error:
        services.create_model(writer, thing_model.ou, model_id="inverter", name="Again")
    assert error.value.code == "model_id_exists"
    assert services.create_model(outsider, globex, model_id="inverter", name="Theirs").ou == globex


def test_an_unsound_model_is_refused(writer, acme):
    with pytest.raises(DomainError) as error:
        services.create_model(writer, acme, model_id="bad", name="Bad",
                              measurepoints=[{"identifier": "power", "data_type": "int64"}])
    assert error.value.code == "validation_error"
    assert not ThingModel.objects.filter(model_id="bad").exists()


def test_viewer_cannot_create_a_model(viewer, acme):
    with pytest.raises(AccessDenied):
        services.create_model(viewer, acme, model_id="meter", name="Meter")


def test_writer_can_edit_a_model(writer, thing_model):
    services.update_model(writer, thing_model, name="Inverter v2")
    thing_model.refresh_from_db()
    assert thing_model.name == "Inverter v2"
    event = last_event("model.update")
    assert (event.before, event.after) == ({"name": "Inverter"}, {"name": "Inverter v2"})


def test_an_unsound_model_edit_is_refused(writer, thing_model):
    with pytest.raises(DomainError):
        services.update_model(writer, thing_model, attributes=[{"identifier": "9", "data_type": "int32"}])
    thing_model.refresh_from_db()
    assert thing_model.attributes[0]["identifier"] == "serial"


def test_a_model_in_use_cannot_be_deleted_and_the_message_names_the_count(writer, product, gateway_product):
    with pytest.raises(Conflict) as error:
        services.delete_model(writer, product.model)
    assert error.value.code == "in_use"
    assert "used by 2 products; delete them first" in error.value.message
    assert ThingModel.objects.filter(pk=product.model_id).exists()


def test_an_unused_model_can_be_deleted(writer, acme):
    model = services.create_model(writer, acme, model_id="spare", name="Spare")
    services.delete_model(writer, model)
    assert not ThingModel.objects.filter(model_id="spare").exists()
    assert last_event("model.delete").before == {"model_id": "spare", "name": "Spare"}


# --- products ------------------------------------------------------------------------------------------

def test_writer_can_create_a_gateway_product(writer, acme, thing_model):
    product = services.create_product(writer, acme, model=thing_model, name="Edge",
                                      product_type=ProductType.GATEWAY)
    assert product.is_gateway
    assert last_event("product.create").after == {"name": "Edge", "product_type": "Gateway"}


def test_a_product_cannot_use_a_model_of_another_ou(outsider, globex, thing_model):
    with pytest.raises(DomainError) as error:
        services.create_product(outsider, globex, model=thing_model, name="Copy")
    assert error.value.code == "model_not_found"


def test_a_product_can_use_a_model_shared_to_its_ou(outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    mine = services.create_product(outsider, globex, model=product.model, name="Our inverter")
    assert (mine.ou, mine.model) == (globex, product.model)


def test_an_invalid_product_type_is_refused(writer, acme, thing_model):
    with pytest.raises(DomainError) as error:
        services.create_product(writer, acme, model=thing_model, name="X", product_type="Robot")
    assert "product_type" in error.value.details


def test_viewer_cannot_create_a_product(viewer, acme, thing_model):
    with pytest.raises(AccessDenied):
        services.create_product(viewer, acme, model=thing_model, name="Meter")


def test_writer_can_rename_a_product(writer, product):
    services.update_product(writer, product, name="Inverter v2", dynamic_activation=True)
    product.refresh_from_db()
    assert (product.name, product.dynamic_activation) == ("Inverter v2", True)
    assert last_event("product.update").after == {"name": "Inverter v2", "dynamic_activation": "True"}


def test_product_type_cannot_change_while_devices_use_the_product(writer, product, device):
    with pytest.raises(Conflict) as error:
        services.update_product(writer, product, product_type=ProductType.GATEWAY)
    assert error.value.code == "in_use"


def test_product_model_cannot_change_while_devices_use_the_product(writer, acme, product, device):
    other = services.create_model(writer, acme, model_id="other", name="Other")
    with pytest.raises(Conflict):
        services.update_product(writer, product, model=other)


def test_product_type_can_change_while_no_device_uses_it(writer, product):
    services.update_product(writer, product, product_type=ProductType.GATEWAY)
    product.refresh_from_db()
    assert product.is_gateway


def test_a_product_in_use_cannot_be_deleted_and_the_message_names_the_count(writer, product, device):
    create(writer, product, device_key="inv-0002")
    with pytest.raises(Conflict) as error:
        services.delete_product(writer, product)
    assert error.value.code == "in_use"
    assert f"Product {product.product_key} is used by 2 devices" in error.value.message
    assert Product.objects.filter(pk=product.pk).exists()


def test_devices_in_other_ous_also_keep_a_product_from_deletion(writer, outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    create(outsider, product, ou=globex)
    with pytest.raises(Conflict, match="used by 1 device"):
        services.delete_product(writer, product)


def test_deleting_a_shared_product_removes_it_from_the_target_ou(writer, outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    assert list(Product.objects.visible_to(outsider)) == [product]
    pk = product.pk
    services.delete_product(writer, product)
    assert not Product.objects.filter(pk=pk).exists()
    assert not ProductShare.objects.filter(product_id=pk).exists()  # the share rows went with it
    assert list(Product.objects.in_ou(globex)) == []
    assert list(Product.objects.visible_to(outsider)) == []
    assert last_event("product.delete").before == {"name": "Inverter"}


def test_the_target_ou_cannot_edit_a_product_shared_to_it(outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    with pytest.raises(AccessDenied):
        services.update_product(outsider, product, name="Hijacked")
    product.refresh_from_db()
    assert product.name == "Inverter"


def test_the_target_ou_cannot_delete_a_product_or_model_shared_to_it(outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    with pytest.raises(AccessDenied):
        services.delete_product(outsider, product)
    with pytest.raises(AccessDenied):
        services.update_model(outsider, product.model, name="Hijacked")
    with pytest.raises(AccessDenied):
        services.delete_model(outsider, product.model)
    assert Product.objects.filter(pk=product.pk).exists()


def test_sharing_a_product_shares_its_model_once(product, globex):
    assert services.share_product(product.ou.owner, product, globex) is True
    assert services.share_product(product.ou.owner, product, globex) is False
    assert ProductShare.objects.filter(product=product, ou=globex).count() == 1
    assert ModelShare.objects.filter(model=product.model, ou=globex).count() == 1


def test_sharing_a_product_to_its_own_ou_does_nothing(product):
    assert services.share_product(product.ou.owner, product, product.ou) is False
    assert not ProductShare.objects.exists() and not ModelShare.objects.exists()
