"""The move: one transaction, all devices or none; sub-device rules; read-only sharing of what the
target lacks, each product and model once; audit on both sides; the devices_migrated signal."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.actors import SYSTEM
from accounts.errors import AccessDenied, Conflict
from accounts.models import AuditEvent, Membership, User
from accounts.services import create_ou, remove_membership
from assets import services as asset_services
from assets.migration import services
from assets.models import Device, MigrationStatus, ModelShare, Product, ProductShare, ThingModel
from assets.signals import devices_migrated
from tests.assets.migration.helpers import send, start
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def migrate(actor, devices, target, *, include=True):
    request = start(actor, devices, target, include=include)
    return services.confirm_migration(actor, request.pk, send(request))


def ou_of(*devices: Device) -> list[int]:
    return [Device.objects.get(pk=d.pk).ou_id for d in devices]


def test_the_source_loses_the_device_and_the_target_can_edit_it(writer, outsider, device, globex):
    migrate(writer, [device], globex)
    assert not Device.objects.visible_to(writer).filter(pk=device.pk).exists()
    assert Device.objects.writable_by(outsider).filter(pk=device.pk).exists()
    device.refresh_from_db()
    asset_services.update_device(outsider, device, name="Now Globex's")
    assert Device.objects.get(pk=device.pk).name == "Now Globex's"


def test_missing_product_and_model_are_shared_read_only(writer, outsider, device, globex, product, thing_model):
    done = migrate(writer, [device], globex)
    assert done.result["shared_products"] == [product.product_key]
    assert done.result["shared_models"] == [thing_model.model_id]
    assert Product.objects.in_ou(globex).filter(pk=product.pk).exists()
    assert ThingModel.objects.in_ou(globex).filter(pk=thing_model.pk).exists()
    # read-only for the target; the owner OU still owns and changes them
    assert not Product.objects.writable_by(outsider).filter(pk=product.pk).exists()
    assert not ThingModel.objects.writable_by(outsider).filter(pk=thing_model.pk).exists()
    with pytest.raises(AccessDenied):
        asset_services.update_product(outsider, product, name="Mine now")
    asset_services.update_product(writer, product, name="Inverter v2")
    assert Product.objects.in_ou(globex).get(pk=product.pk).name == "Inverter v2"
    # the owner cannot delete it while the migrated device uses it
    with pytest.raises(Conflict, match="other OUs"):
        asset_services.delete_product(writer, product)


def test_each_product_and_model_is_shared_once(writer, globex, product, sensor_product):
    devices = [Device.objects.create(ou=product.ou, product=p, device_key=f"k-{p.pk}-{i}", name=f"D {i}",
                                     attributes={"serial": "S"} if p == product else {})
               for p in (product, sensor_product) for i in range(4)]
    done = migrate(writer, devices[:3] + devices[4:7], globex)
    assert sorted(done.result["shared_products"]) == sorted([product.product_key, sensor_product.product_key])
    assert ProductShare.objects.filter(ou=globex).count() == 2
    assert ModelShare.objects.filter(ou=globex).count() == 2
    again = migrate(writer, [devices[3], devices[7]], globex)
    assert again.result["shared_products"] == [] and again.result["shared_models"] == []
    assert ProductShare.objects.filter(ou=globex).count() == 2


def test_what_the_target_owns_is_not_shared_to_it(writer, acme, globex, globex_device):
    # a Globex product shared to Acme, used by an Acme device, goes home: nothing to share
    globex_product = globex_device.product
    ProductShare.objects.create(product=globex_product, ou=acme)
    ModelShare.objects.create(model=globex_product.model, ou=acme)
    device = Device.objects.create(ou=acme, product=globex_product, device_key="borrowed", name="Borrowed")
    done = migrate(writer, [device], globex)
    assert done.result["shared_products"] == [] and done.result["shared_models"] == []
    assert not ProductShare.objects.filter(ou=globex).exists()


def test_a_gateway_takes_its_sub_devices_along(writer, gateway, sub_devices, globex):
    done = migrate(writer, [gateway], globex, include=True)
    assert ou_of(gateway, *sub_devices) == [globex.pk] * 4
    assert all(Device.objects.get(pk=s.pk).gateway_id == gateway.pk for s in sub_devices)
    assert (done.result["moved"], done.result["moved_sub_devices"], done.result["detached_sub_devices"]) == (4, 3, 0)


def test_a_gateway_moved_alone_leaves_its_sub_devices_detached(writer, acme, gateway, sub_devices, globex):
    done = migrate(writer, [gateway], globex, include=False)
    assert ou_of(gateway) == [globex.pk]
    assert ou_of(*sub_devices) == [acme.pk] * 3
    assert not Device.objects.filter(pk__in=[s.pk for s in sub_devices], gateway__isnull=False).exists()
    assert (done.result["moved"], done.result["detached_sub_devices"]) == (1, 3)


def test_a_sub_device_moved_without_its_gateway_is_detached(writer, acme, gateway, sub_devices, globex):
    lone = sub_devices[0]
    done = migrate(writer, [lone], globex)
    lone.refresh_from_db()
    assert (lone.ou_id, lone.gateway_id) == (globex.pk, None)
    assert ou_of(gateway) == [acme.pk]
    assert gateway.sub_devices.count() == 2  # the others stay attached
    assert done.result["detached_from_gateway"] == 1


def test_a_sub_device_chosen_with_its_gateway_stays_attached(writer, acme, gateway, sub_devices, globex):
    chosen = sub_devices[0]
    migrate(writer, [gateway, chosen], globex, include=False)
    chosen.refresh_from_db()
    assert (chosen.ou_id, chosen.gateway_id) == (globex.pk, gateway.pk)
    assert ou_of(*sub_devices[1:]) == [acme.pk] * 2
    assert not Device.objects.filter(pk__in=[s.pk for s in sub_devices[1:]], gateway__isnull=False).exists()


def test_a_device_deleted_after_get_code_fails_the_confirm_cleanly(writer, acme, device, gateway, globex):
    request = start(writer, [device, gateway], globex)
    code = send(request)
    asset_id = device.asset_id
    asset_services.delete_device(device.ou.owner, device)
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, code)
    assert error.value.code == "devices_changed"
    assert asset_id in error.value.message and "Nothing was moved" in error.value.message
    assert ou_of(gateway) == [acme.pk]  # the rest did not move either
    request.refresh_from_db()
    assert request.status == MigrationStatus.FAILED and "deleted or moved" in request.result["error"]
    with pytest.raises(Conflict, match="failed"):
        services.confirm_migration(writer, request.pk, code)


def test_a_device_moved_by_another_migration_fails_the_confirm(writer, acme, device, gateway, globex, initech):
    first = start(writer, [device, gateway], globex)
    second = start(writer, [device], globex)
    first_code, second_code = send(first), send(second)
    services.confirm_migration(writer, second.pk, second_code)
    with pytest.raises(Conflict, match="moved to another OU"):
        services.confirm_migration(writer, first.pk, first_code)
    assert ou_of(gateway) == [acme.pk]


def test_any_failure_leaves_every_device_where_it_was(writer, acme, device, gateway, sub_devices, globex):
    request = start(writer, [device, gateway], globex)
    code = send(request)
    with mock.patch.object(ProductShare.objects, "bulk_create", side_effect=RuntimeError("disk full")), \
            pytest.raises(RuntimeError):
        services.confirm_migration(writer, request.pk, code)
    assert ou_of(device, gateway, *sub_devices) == [acme.pk] * 5
    assert all(Device.objects.get(pk=s.pk).gateway_id == gateway.pk for s in sub_devices)
    assert not ProductShare.objects.exists() and not ModelShare.objects.exists()
    request.refresh_from_db()
    assert request.status == MigrationStatus.PENDING  # the code was not used up: try again
    services.confirm_migration(writer, request.pk, code)
    assert ou_of(device) == [globex.pk]


def test_a_requester_who_lost_write_access_moves_nothing(writer, acme, device, globex):
    request = start(writer, [device], globex)
    code = send(request)
    remove_membership(acme.owner, Membership.objects.get(user=writer, ou=acme))
    writer = User.objects.get(pk=writer.pk)  # as the next request loads it
    with pytest.raises(AccessDenied):
        services.confirm_migration(writer, request.pk, code)
    assert ou_of(device) == [acme.pk]


def test_the_audit_log_records_the_migration_on_both_sides(writer, acme, device, globex):
    done = migrate(writer, [device], globex)
    out = AuditEvent.objects.get(action="device.migrate_out")
    into = AuditEvent.objects.get(action="device.migrate_in")
    assert (out.ou, into.ou) == (acme, globex)
    assert out.actor == into.actor == writer
    assert out.object_id == into.object_id == str(done.pk)
    assert out.after["devices"] == [device.asset_id] and out.after["target"] == globex.ou_id
    assert into.after["source"] == acme.ou_id


def test_devices_migrated_is_sent_after_commit(writer, acme, gateway, sub_devices, globex,
                                               django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    devices_migrated.connect(listener)
    try:
        request = start(writer, [gateway], globex)
        code = send(request)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.confirm_migration(writer, request.pk, code)
        assert heard == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        devices_migrated.disconnect(listener)
    assert len(heard) == 1
    assert sorted(heard[0]["device_ids"]) == sorted([gateway.pk, *(s.pk for s in sub_devices)])
    assert (heard[0]["source_ou_id"], heard[0]["target_ou_id"]) == (acme.pk, globex.pk)


def _queries_to_move(writer, gateway, product, n_subs: int) -> int:
    """Queries of the confirm, to a fresh target OU (so both runs share a product and a model)."""
    Device.objects.bulk_create([Device(ou=gateway.ou, product=product, device_key=f"n{n_subs}-{i}", name=f"S{i}",
                                       gateway=gateway) for i in range(n_subs)])
    target = create_ou(SYSTEM, f"Target {n_subs}", make_user(f"owner{n_subs}", phone="+4915100000000"))
    request = start(writer, [gateway], target)
    code = send(request)
    with CaptureQueriesContext(connection) as queries:
        done = services.confirm_migration(writer, request.pk, code)
    assert done.result["moved"] == n_subs + 1
    return len(queries)


def test_the_query_count_does_not_grow_with_the_sub_devices(writer, acme, gateway_product, product):
    small = Device.objects.create(ou=acme, product=gateway_product, device_key="gw-small", name="Small")
    large = Device.objects.create(ou=acme, product=gateway_product, device_key="gw-large", name="Large")
    few = _queries_to_move(writer, small, product, 5)
    many = _queries_to_move(writer, large, product, 300)
    assert many == few
    assert few <= 20


def test_deleting_a_shared_product_in_the_owner_ou_removes_it_for_the_target(writer, outsider, device, globex,
                                                                              product):
    migrate(writer, [device], globex)
    asset_services.delete_device(outsider, Device.objects.get(pk=device.pk))  # the target's to delete now
    asset_services.delete_product(writer, product)
    assert not Product.objects.in_ou(globex).filter(pk=product.pk).exists()
    assert not ProductShare.objects.filter(ou=globex).exists()
