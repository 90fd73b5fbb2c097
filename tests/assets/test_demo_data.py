"""`manage.py load_demo_data`: what it loads, that the data obeys the domain's own rules, and that
a second run changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent, Membership, OrganizationUnit, OUUserObjectPermission, User
from accounts.permissions import CHANGE, VIEW, ou_ids_with
from assets.management.commands.load_demo_data import DEMO_OUS, DEMO_PASSWORD, simulated_device_keys
from assets.models import Device, DeviceStatus, Product, ProductType, ThingModel
from assets.services import attribute_problems


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "users": sorted(User.objects.values_list("username", "password", "phone", "is_superuser")),
        "ous": sorted(OrganizationUnit.objects.values_list("ou_id", "name", "owner__username")),
        "memberships": sorted(Membership.objects.values_list("user__username", "ou__name", "role")),
        "grants": OUUserObjectPermission.objects.count(),
        "models": sorted(ThingModel.objects.values_list("ou__name", "model_id")),
        "products": sorted(Product.objects.values_list("product_key", "product_secret", "name")),
        "devices": sorted(Device.objects.values_list("device_key", "asset_id", "device_secret", "enabled",
                                                     "online", "gateway__device_key")),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def demo(db) -> str:
    return load()


def test_a_second_run_changes_nothing_and_does_not_fail(demo):
    before = snapshot()
    assert "(0 device(s) created this run)" in load()
    assert snapshot() == before


def test_it_fills_in_what_is_missing(demo):
    Device.objects.filter(device_key="east-dev-0042").delete()
    assert "(1 device(s) created this run)" in load()
    assert Device.objects.filter(device_key="east-dev-0042").exists()


def test_two_ous_with_an_owner_and_one_user_per_role(demo):
    ous = {ou.name: ou for ou in OrganizationUnit.objects.select_related("owner")}
    assert set(ous) == {"Solar Farm East", "Wind Farm West"}
    for key, ou in (("east", ous["Solar Farm East"]), ("west", ous["Wind Farm West"])):
        assert ou.owner.username == f"{key}-admin" and ou.owner.phone.startswith("+")
        roles = dict(Membership.objects.filter(ou=ou).values_list("user__username", "role"))
        assert roles == {f"{key}-admin": "ou_admin", f"{key}-manager": "asset_manager",
                         f"{key}-viewer": "asset_viewer"}


def test_the_demo_users_have_their_roles_access_and_the_known_password(demo):
    east = OrganizationUnit.objects.get(name="Solar Farm East")
    manager, viewer = User.objects.get(username="east-manager"), User.objects.get(username="east-viewer")
    assert ou_ids_with(manager, CHANGE) == {east.pk}
    assert ou_ids_with(viewer, VIEW) == {east.pk} and ou_ids_with(viewer, CHANGE) == frozenset()
    assert manager.check_password(DEMO_PASSWORD)
    support = User.objects.get(username="support")
    assert support.is_superuser and support.is_staff and support.check_password(DEMO_PASSWORD)


def test_it_prints_who_can_log_in(demo):
    for username in ("support", "east-admin", "east-manager", "east-viewer", "west-admin", "west-viewer"):
        assert username in demo
    assert "Asset manager" in demo and "Wind Farm West" in demo and DEMO_PASSWORD in demo


def test_the_thing_model_covers_the_data_types(demo):
    for model in ThingModel.objects.all():
        model.full_clean()
        attributes = {a["identifier"]: a for a in model.attributes}
        assert {a["data_type"] for a in attributes.values()} == {"string", "double", "enum", "date"}
        assert any(a["data_type"] == "string" and a.get("required") for a in attributes.values())
        assert any(a["data_type"] == "double" and "min" in a["spec"] and "max" in a["spec"]
                   for a in attributes.values())
        assert {m["data_type"] for m in model.measurepoints} == {"double", "float", "bool"}
        assert any(p["data_type"] == "int32" for s in model.services for p in s["input"])
        assert model.events


def test_a_device_and_a_gateway_product_per_ou(demo):
    for ou in OrganizationUnit.objects.all():
        types = sorted(Product.objects.filter(ou=ou).values_list("product_type", flat=True))
        assert types == [ProductType.DEVICE, ProductType.GATEWAY]


def test_enough_devices_in_every_status_but_online(demo):
    counts = Device.objects.status_counts()
    assert counts["total"] >= 200
    for status in (DeviceStatus.DISABLED, DeviceStatus.INACTIVE, DeviceStatus.OFFLINE):
        assert counts[status.value] > 0, status
    for ou in OrganizationUnit.objects.all():
        per_ou = Device.objects.filter(ou=ou).status_counts()
        assert all(per_ou[s.value] > 0 for s in (DeviceStatus.DISABLED, DeviceStatus.INACTIVE, DeviceStatus.OFFLINE))


def test_no_device_is_online_without_a_connection(demo):
    # only a live session makes a device Online; run_portal connects the ones meant to be
    assert Device.objects.status_counts()[DeviceStatus.ONLINE.value] == 0
    assert not Device.objects.filter(online=True).exists()


def test_the_devices_meant_to_be_online_can_be_connected_in_every_ou(demo):
    for spec in DEMO_OUS:
        keys = simulated_device_keys(spec)
        devices = {d.device_key: d for d in Device.objects.filter(ou__name=spec.name, device_key__in=keys)}
        assert set(devices) == set(keys) and len(keys) >= 40
        for device in devices.values():
            # enabled and activated: a login makes each one Online, never refused (723) nor first-activated
            assert device.enabled and device.activated_at is not None and not device.online
            assert device.last_online_at < device.last_offline_at
            assert device.gateway is None or device.gateway.device_key in keys  # a sub-device comes with its gateway
        assert any(d.gateway is not None for d in devices.values())


def test_the_simulator_fleet_is_the_devices_meant_to_be_online(demo):
    from connectivity.management.commands.simulate_devices import Command

    keys = [key for spec in DEMO_OUS for key in simulated_device_keys(spec)]
    fleet = Command()._fleet({"ou": [spec.name for spec in DEMO_OUS], "keys": ",".join(keys), "product": "",
                              "count": len(keys)})
    connected = [triple.device_key for triple, _, _ in fleet]
    connected += [sub.device_key for _, _, subs in fleet for sub, _ in subs]
    assert sorted(connected) == sorted(keys)


def test_a_gateway_with_sub_devices_of_its_own_ou(demo):
    gateway = Device.objects.get(device_key="east-gw-0001")
    assert gateway.product.product_type == ProductType.GATEWAY
    subs = list(gateway.sub_devices.select_related("product"))
    assert len(subs) >= 3
    assert all(s.ou_id == gateway.ou_id and s.product.product_type == ProductType.DEVICE for s in subs)
    assert not Device.objects.filter(gateway__gateway__isnull=False).exists()  # no gateway under a gateway


def test_every_demo_device_obeys_the_domain_rules(demo):
    devices = Device.objects.select_related("product__model")
    assert devices.exclude(tags={}).count() > 0
    for device in devices:
        device.full_clean(validate_unique=False, validate_constraints=False)  # key, name, timezone, tags
        clean, problems = attribute_problems(device.product.model, device.attributes, require_all=True)
        assert not problems, (device.device_key, problems)
        assert clean == device.attributes
        assert device.product.ou_id == device.ou_id
        if device.online:
            assert device.enabled and device.activated_at is not None
