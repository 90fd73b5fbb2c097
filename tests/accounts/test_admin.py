"""The Django admin for support staff: every model's pages, who gets in, what staff see, and that
every write (enable/disable, memberships, OU grants, edits, deletes) goes through the services."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from accounts.actors import SYSTEM
from accounts.models import (
    AuditEvent,
    Membership,
    OrganizationUnit,
    OUGroupObjectPermission,
    OUUserObjectPermission,
    User,
)
from accounts.permissions import CHANGE, VIEW, forget_ou_permissions, ou_ids_with
from accounts.services import create_ou, set_membership
from assets import services
from assets.admin import MASK
from assets.models import Device, DeviceStatus, ModelShare, Product, ProductShare, ThingModel, status_q
from tests.conftest import client_for, make_user


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def support(db) -> User:
    user = make_user("support")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def staff_member(username: str, ou: OrganizationUnit, role: str, *codenames: str) -> User:
    """A non-superuser staff member with Django model permissions, limited to one OU by role."""
    user = make_user(username)
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    set_membership(SYSTEM, ou, user, role)
    return User.objects.get(pk=user.pk)  # fresh: no cached model or OU permissions


ASSET_PERMS = ("view_device", "change_device", "delete_device", "view_product", "view_thingmodel",
               "view_auditevent")


@pytest.fixture
def acme_staff(acme) -> User:
    return staff_member("acme-support", acme, "asset_manager", *ASSET_PERMS)


def url(obj_or_model, action: str = "changelist", *args) -> str:
    opts = obj_or_model._meta
    if action in ("change", "delete", "history"):
        args = (obj_or_model.pk,)
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def selected(*devices: Device) -> list[str]:
    return [str(d.pk) for d in devices]


# --- every page loads -------------------------------------------------------------------------------


@pytest.fixture
def one_of_each(owner, acme, globex, product, thing_model, device, gateway) -> dict[str, object]:
    services.share_product(product.ou.owner, product, globex)
    group = Group.objects.create(name="support-team")
    assign_perm("view_assets", group, acme)
    return {
        "user": owner,
        "ou": acme,
        "membership": Membership.objects.get(user=owner, ou=acme),
        "audit": AuditEvent.objects.filter(ou=acme).first(),
        "user_grant": OUUserObjectPermission.objects.filter(user=owner).first(),
        "group_grant": OUGroupObjectPermission.objects.get(group=group),
        "thing_model": thing_model,
        "product": product,
        "product_share": ProductShare.objects.get(product=product),
        "model_share": ModelShare.objects.get(model=thing_model),
        "device": device,
    }


ADDABLE = {"user", "ou", "membership", "group_grant", "thing_model", "product", "product_share", "device"}


@pytest.mark.parametrize("name", ["user", "ou", "membership", "audit", "user_grant", "group_grant",
                                  "thing_model", "product", "product_share", "model_share", "device"])
def test_every_changelist_and_change_form_loads_for_a_superuser(name, one_of_each, support):
    obj = one_of_each[name]
    client = client_for(support)
    assert client.get(url(obj)).status_code == 200
    assert client.get(url(obj, "change")).status_code == 200
    add = client.get(url(obj, "add"))
    assert add.status_code == (200 if name in ADDABLE else 403)


@pytest.mark.parametrize("who", ["writer", "anonymous"])
def test_non_staff_are_sent_to_the_admin_login(who, cast, device):
    response = client_for(cast[who]).get(url(Device))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- what non-superuser staff see -------------------------------------------------------------------


def test_staff_see_only_their_ous_devices(acme_staff, device, globex_device):
    client = client_for(acme_staff)
    page = client.get(url(Device)).content.decode()
    assert device.device_key in page
    assert globex_device.device_key not in page
    # another OU's device is not found, as in every other door
    assert client.get(url(globex_device, "change")).status_code == 404


def test_staff_see_only_their_ous_products_models_and_audit(acme_staff, product, globex_device):
    client = client_for(acme_staff)
    products = client.get(url(Product)).content.decode()
    assert product.product_key in products
    assert globex_device.product.product_key not in products
    models = client.get(url(ThingModel)).context["cl"].result_list
    assert [m.model_id for m in models] == ["inverter"]
    audit = client.get(url(AuditEvent))
    assert {e.ou_id for e in audit.context["cl"].result_list} == {product.ou_id}


def test_the_ou_filter_offers_only_the_staff_members_ous(acme_staff, acme, globex, device):
    initech = create_ou(SYSTEM, "Initech", acme_staff)  # a second OU of theirs: one choice only hides the filter
    page = client_for(acme_staff).get(url(Device)).content.decode()
    assert f"ou__id__exact={acme.pk}" in page
    assert f"ou__id__exact={initech.pk}" in page
    assert f"ou__id__exact={globex.pk}" not in page


def test_staff_with_read_access_get_a_read_only_form(acme, device):
    reader = staff_member("acme-reader", acme, "asset_viewer", *ASSET_PERMS)
    client = client_for(reader)
    assert 'name="_save"' not in client.get(url(device, "change")).content.decode()
    response = client.post(url(device, "change"), {"name": "Renamed", "timezone": "+08:00",
                                                   "attributes": '{"serial": "SN-1"}', "tags": "{}"})
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.name == "Inverter 1"


# --- the device list at scale ------------------------------------------------------------------------


def add_devices(product: Product, count: int) -> None:
    Device.objects.bulk_create([Device(ou=product.ou, product=product, device_key=f"bulk-{i:04d}",
                                       name=f"Bulk {i}", attributes={"serial": f"B{i}"}) for i in range(count)])


def changelist_queries(client, path: str = "") -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(Device) + path)
    assert response.status_code == 200
    return len(queries)


def test_device_changelist_queries_do_not_grow_with_the_number_of_devices(support, product, gateway):
    client = client_for(support)
    changelist_queries(client)  # the first visit also saves the session
    add_devices(product, 4)
    few = changelist_queries(client)
    add_devices_more = [Device(ou=product.ou, product=product, device_key=f"more-{i:04d}", name=f"More {i}",
                               attributes={"serial": "M"}, gateway=gateway if i % 2 else None) for i in range(25)]
    Device.objects.bulk_create(add_devices_more)
    assert Device.objects.count() == 30
    assert changelist_queries(client) == few
    # session, user, OU filter choices, row estimate (PostgreSQL only), count, page, the console's
    # current-OU context processor, and the savepoint pair around the view
    assert few <= 9


def test_staff_device_changelist_queries_do_not_grow_either(acme_staff, product):
    client = client_for(acme_staff)
    changelist_queries(client)
    add_devices(product, 5)
    few = changelist_queries(client)
    Device.objects.filter(device_key__startswith="bulk-").delete()
    add_devices(product, 30)
    assert changelist_queries(client) == few


@pytest.mark.parametrize("path", ["", "?status=online", "?q=inv"])
def test_a_huge_device_list_is_not_counted(path, support, device, monkeypatch):
    # what PostgreSQL's planner says for a table of two million devices
    monkeypatch.setattr("accounts.admin.estimated_row_count", lambda queryset: 2_000_000)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(support).get(url(Device) + path)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2_000_000
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_a_small_device_list_is_counted_exactly(support, device, gateway, monkeypatch):
    monkeypatch.setattr("accounts.admin.estimated_row_count", lambda queryset: 5_000)
    assert client_for(support).get(url(Device)).context["cl"].result_count == 2


def test_the_row_estimate_comes_from_the_postgresql_planner(device):
    from accounts.admin import estimated_row_count

    for queryset in (Device.objects.all(), Device.objects.filter(status_q(DeviceStatus.ONLINE))):
        estimate = estimated_row_count(queryset)
        if connection.vendor == "postgresql":
            assert isinstance(estimate, int) and estimate >= 0
        else:
            assert estimate is None


@pytest.fixture
def one_per_status(product) -> dict[str, Device]:
    from django.utils import timezone

    now = timezone.now()
    states = {
        DeviceStatus.DISABLED: {"enabled": False},
        DeviceStatus.INACTIVE: {},
        DeviceStatus.ONLINE: {"activated_at": now, "online": True},
        DeviceStatus.OFFLINE: {"activated_at": now, "online": False},
    }
    return {status: Device.objects.create(ou=product.ou, product=product, device_key=f"st-{status}",
                                          name=f"Status {status}", attributes={"serial": "S"}, **fields)
            for status, fields in states.items()}


@pytest.mark.parametrize("status", list(DeviceStatus))
def test_the_status_filter_and_column(status, one_per_status, support):
    response = client_for(support).get(url(Device) + f"?status={status.value}")
    shown = list(response.context["cl"].result_list)
    assert shown == [one_per_status[status]]
    assert f"<td class=\"field-status\">{status.label}</td>" in response.content.decode()


def test_search_by_device_key_and_asset_id(support, device, gateway):
    client = client_for(support)
    assert list(client.get(url(Device) + "?q=gw-00").context["cl"].result_list) == [gateway]
    assert list(client.get(url(Device) + f"?q={device.asset_id}").context["cl"].result_list) == [device]


def test_the_asset_type_filter_and_product_type_filter(support, product, device, gateway):
    sub = Device.objects.create(ou=product.ou, product=product, device_key="sub-0001", name="Sub",
                                attributes={"serial": "S"}, gateway=gateway)
    client = client_for(support)
    assert list(client.get(url(Device) + "?asset_type=Sub-device").context["cl"].result_list) == [sub]
    assert list(client.get(url(Device) + "?asset_type=Gateway").context["cl"].result_list) == [gateway]
    by_type = client.get(url(Device) + "?product__product_type__exact=Device").context["cl"].result_list
    assert set(by_type) == {device, sub}


# --- secrets ---------------------------------------------------------------------------------------


def test_the_device_secret_never_shows_in_clear(support, device):
    client = client_for(support)
    listing = client.get(url(Device)).content.decode()
    assert device.device_key in listing
    assert device.device_secret not in listing
    form = client.get(url(device, "change")).content.decode()
    assert device.device_secret not in form
    assert MASK in form
    assert reverse("assets:device-detail", args=[device.asset_id]) in form  # "view on site": the console
    assert client.get(url(device, "history")).status_code == 200


def test_the_product_secret_is_masked_too(support, product):
    client = client_for(support)
    form = client.get(url(product, "change")).content.decode()
    assert product.product_secret not in form
    assert MASK in form
    assert product.product_secret not in client.get(url(Product)).content.decode()


# --- enable / disable actions ------------------------------------------------------------------------


def run_action(client, action: str, *devices: Device):
    return client.post(url(Device), {"action": action, "_selected_action": selected(*devices)}, follow=True)


def test_disable_action_disables_through_the_service_and_audits(support, device, gateway):
    Device.objects.filter(pk=gateway.pk).update(enabled=False)
    response = run_action(client_for(support), "disable_devices", device, gateway)
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.enabled is False
    event = AuditEvent.objects.get(action="device.disable")
    assert (event.actor, event.object_id) == (support, device.asset_id)
    texts = messages_of(response)
    assert any("1 device disabled: inv-0001" in t for t in texts)
    assert any("1 device was already disabled: gw-0001" in t for t in texts)


def test_enable_action_enables_and_reports_those_already_enabled(support, device, gateway):
    Device.objects.filter(pk=device.pk).update(enabled=False)
    response = run_action(client_for(support), "enable_devices", device, gateway)
    device.refresh_from_db()
    assert device.enabled is True
    assert AuditEvent.objects.filter(action="device.enable", actor=support).count() == 1
    assert any("1 device was already enabled: gw-0001" in t for t in messages_of(response))


def test_staff_without_write_access_are_refused_by_the_service(acme, device):
    reader = staff_member("acme-reader", acme, "asset_viewer", *ASSET_PERMS)
    response = run_action(client_for(reader), "disable_devices", device)
    device.refresh_from_db()
    assert device.enabled is True
    assert any("refused" in t for t in messages_of(response))
    assert not AuditEvent.objects.filter(action="device.disable").exists()


# --- device edits go through the services -----------------------------------------------------------


def device_form(device: Device, **changes) -> dict:
    data = {"name": device.name, "description": device.description, "timezone": device.timezone,
            "attributes": json.dumps(device.attributes), "tags": json.dumps(device.tags),
            "gateway": device.gateway_id or ""}
    data.update(changes)
    return data


def test_editing_a_device_calls_update_device(support, device):
    response = client_for(support).post(url(device, "change"), device_form(device, name="Inverter One",
                                                                            tags='{"site": "north"}'))
    assert response.status_code == 302
    device.refresh_from_db()
    assert (device.name, device.tags) == ("Inverter One", {"site": "north"})
    event = AuditEvent.objects.get(action="device.update")
    assert event.actor == support
    assert (event.before["name"], event.after["name"]) == ("Inverter 1", "Inverter One")


def test_invalid_attributes_come_back_on_the_form(support, device):
    response = client_for(support).post(url(device, "change"),
                                        device_form(device, attributes='{"capacity": 99999}'))
    assert response.status_code == 200
    assert "above the maximum" in response.content.decode()
    assert not AuditEvent.objects.filter(action="device.update").exists()


def test_setting_a_gateway_adds_the_sub_device_through_the_service(support, device, gateway):
    response = client_for(support).post(url(device, "change"), device_form(device, gateway=gateway.pk))
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.gateway == gateway
    assert AuditEvent.objects.filter(action="device.sub_devices_add", actor=support).exists()


def test_a_refused_gateway_is_a_message_not_an_error_page(support, device, gateway, product):
    not_a_gateway = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                          attributes={"serial": "SN-2"})
    response = client_for(support).post(url(device, "change"), device_form(device, gateway=not_a_gateway.pk),
                                        follow=True)
    assert response.status_code == 200
    assert any("is not a gateway" in t for t in messages_of(response))
    device.refresh_from_db()
    assert device.gateway is None
    assert not AuditEvent.objects.filter(action="device.update").exists()


def test_adding_a_device_calls_create_device(support, acme, product):
    response = client_for(support).post(url(Device, "add"), {
        "ou": acme.pk, "product": product.pk, "device_key": "inv-0100", "name": "Inverter 100",
        "description": "", "timezone": "+08:00", "attributes": '{"serial": "SN-100"}', "tags": "",
    })
    assert response.status_code == 302
    created = Device.objects.get(device_key="inv-0100")
    assert created.tags == {}
    assert AuditEvent.objects.filter(action="device.create", object_id=created.asset_id, actor=support).exists()


def test_deleting_a_device_calls_delete_device(support, device):
    response = client_for(support).post(url(device, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Device.objects.filter(pk=device.pk).exists()
    assert AuditEvent.objects.filter(action="device.delete", actor=support).exists()


# --- products and models -----------------------------------------------------------------------------


def test_deleting_a_product_in_use_shows_the_services_message(support, product, device):
    response = client_for(support).post(url(product, "delete"), {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert any("is used by 1 device " in t for t in messages_of(response))
    assert Product.objects.filter(pk=product.pk).exists()


def test_bulk_deleting_products_is_all_or_nothing(support, product, gateway_product, device):
    response = client_for(support).post(url(Product), {
        "action": "delete_selected", "post": "yes", "_selected_action": [product.pk, gateway_product.pk]},
        follow=True)
    assert response.status_code == 200
    assert any("is used by" in t for t in messages_of(response))
    assert Product.objects.filter(pk__in=[product.pk, gateway_product.pk]).count() == 2
    assert not AuditEvent.objects.filter(action="product.delete").exists()


def test_deleting_an_unused_product_calls_delete_product(support, gateway_product):
    client = client_for(support)
    assert client.get(url(gateway_product, "delete")).status_code == 200
    client.post(url(gateway_product, "delete"), {"post": "yes"})
    assert not Product.objects.filter(pk=gateway_product.pk).exists()
    assert AuditEvent.objects.filter(action="product.delete", actor=support).exists()


def product_form(product: Product, **changes) -> dict:
    data = {"name": product.name, "description": product.description, "product_type": product.product_type,
            "data_format": product.data_format, "model": product.model_id}
    if product.dynamic_activation:
        data["dynamic_activation"] = "on"
    data.update(changes)
    return data


def test_editing_a_product_calls_update_product(support, product):
    response = client_for(support).post(url(product, "change"), product_form(product, name="Inverter v2"))
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.name == "Inverter v2"
    event = AuditEvent.objects.get(action="product.update")
    assert event.before == {"name": "Inverter"} and event.actor == support


def test_changing_the_type_of_a_product_with_devices_is_refused_with_a_message(support, product, device):
    response = client_for(support).post(url(product, "change"), product_form(product, product_type="Gateway"),
                                        follow=True)
    assert any("cannot change while the product has devices" in t for t in messages_of(response))
    product.refresh_from_db()
    assert product.product_type == "Device"


def test_deleting_a_model_in_use_shows_the_services_message(support, thing_model, product):
    response = client_for(support).post(url(thing_model, "delete"), {"post": "yes"}, follow=True)
    assert any("is used by 1 product; delete it first" in t for t in messages_of(response))
    assert ThingModel.objects.filter(pk=thing_model.pk).exists()


def test_adding_a_model_calls_create_model(support, acme):
    response = client_for(support).post(url(ThingModel, "add"), {
        "ou": acme.pk, "model_id": "meter", "name": "Meter", "description": "",
        "attributes": json.dumps([{"identifier": "serial", "name": "Serial", "data_type": "string"}]),
        "measurepoints": "", "services": "[]", "events": "[]",
    })
    assert response.status_code == 302
    model = ThingModel.objects.get(ou=acme, model_id="meter")
    assert model.measurepoints == []
    assert AuditEvent.objects.filter(action="model.create", actor=support).exists()


def test_an_invalid_model_definition_comes_back_on_the_form(support, thing_model):
    response = client_for(support).post(url(thing_model, "change"), {
        "name": "Inverter", "description": "", "attributes": '[{"identifier": "x", "data_type": "colour"}]',
        "measurepoints": "[]", "services": "[]", "events": "[]",
    })
    assert response.status_code == 200
    assert "data_type must be one of" in response.content.decode()
    assert not AuditEvent.objects.filter(action="model.update").exists()


def test_sharing_a_product_in_the_admin_shares_its_model_and_audits(support, product, globex):
    response = client_for(support).post(url(ProductShare, "add"), {"product": product.pk, "ou": globex.pk})
    assert response.status_code == 302
    assert ProductShare.objects.filter(product=product, ou=globex).exists()
    assert ModelShare.objects.filter(model=product.model, ou=globex).exists()
    assert AuditEvent.objects.filter(action="product.share", actor=support).exists()


# --- memberships keep guardian in sync ----------------------------------------------------------------


def test_adding_a_membership_in_the_admin_grants_the_roles_permissions(support, acme, outsider):
    response = client_for(support).post(url(Membership, "add"),
                                        {"user": outsider.pk, "ou": acme.pk, "role": "asset_viewer"})
    assert response.status_code == 302
    assert outsider.has_perm("accounts.view_assets", acme)
    assert not outsider.has_perm("accounts.change_assets", acme)
    assert AuditEvent.objects.filter(action="membership.set", actor=support, ou=acme).exists()


def test_changing_a_role_in_the_admin_changes_the_grants(support, acme, viewer):
    membership = Membership.objects.get(user=viewer, ou=acme)
    client_for(support).post(url(membership, "change"), {"role": "asset_manager"})
    assert acme.pk in ou_ids_with(User.objects.get(pk=viewer.pk), CHANGE)
    event = AuditEvent.objects.filter(action="membership.set").first()
    assert (event.before, event.after["role"], event.actor) == ({"role": "asset_viewer"}, "asset_manager", support)


def test_deleting_a_membership_in_the_admin_revokes_the_grants(support, acme, writer):
    membership = Membership.objects.get(user=writer, ou=acme)
    client_for(support).post(url(membership, "delete"), {"post": "yes"})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not OUUserObjectPermission.objects.filter(user=writer, content_object=acme).exists()
    assert AuditEvent.objects.filter(action="membership.remove", actor=support).exists()


def test_bulk_deleting_memberships_revokes_each(support, acme, writer, viewer):
    ids = list(Membership.objects.filter(user__in=[writer, viewer]).values_list("pk", flat=True))
    client_for(support).post(url(Membership), {"action": "delete_selected", "post": "yes",
                                               "_selected_action": ids})
    assert not OUUserObjectPermission.objects.filter(user__in=[writer, viewer]).exists()
    assert AuditEvent.objects.filter(action="membership.remove").count() == 2


MEMBERSHIP_PERMS = ("view_membership", "add_membership", "change_membership", "delete_membership")


def test_staff_cannot_grant_themselves_another_ous_access(acme, globex):
    manager = staff_member("acme-manager", acme, "asset_manager", *MEMBERSHIP_PERMS)
    client = client_for(manager)
    response = client.post(url(Membership, "add"), {"user": manager.pk, "ou": globex.pk, "role": "ou_admin"})
    assert response.status_code == 200  # the OU is not a choice for them
    assert not Membership.objects.filter(user=manager, ou=globex).exists()
    # nor may an asset manager change the members of their own OU
    response = client.post(url(Membership, "add"), {"user": manager.pk, "ou": acme.pk, "role": "ou_admin"})
    assert Membership.objects.get(user=manager, ou=acme).role == "asset_manager"


def test_an_ou_admin_on_the_staff_manages_their_ous_members(acme, outsider):
    ou_admin = staff_member("acme-lead", acme, "ou_admin", *MEMBERSHIP_PERMS)
    initech = create_ou(SYSTEM, "Initech", ou_admin)
    newcomer = make_user("newcomer")
    set_membership(SYSTEM, initech, newcomer, "asset_viewer")
    client = client_for(ou_admin)
    response = client.post(url(Membership, "add"), {"user": newcomer.pk, "ou": acme.pk, "role": "asset_viewer"})
    assert response.status_code == 302
    assert newcomer.has_perm("accounts.view_assets", acme)
    # a user of no OU of theirs is not a choice: bringing a stranger in is a superuser's work
    response = client.post(url(Membership, "add"), {"user": outsider.pk, "ou": acme.pk, "role": "asset_viewer"})
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user=outsider, ou=acme).exists()


def test_only_superusers_grant_ous_to_groups(acme):
    lead = staff_member("acme-lead", acme, "ou_admin", "view_ougroupobjectpermission",
                        "add_ougroupobjectpermission", "delete_ougroupobjectpermission")
    assert client_for(lead).get(url(OUGroupObjectPermission, "add")).status_code == 403


def test_a_duplicate_membership_is_a_form_error(support, acme, writer):
    response = client_for(support).post(url(Membership, "add"), {"user": writer.pk, "ou": acme.pk,
                                                                 "role": "asset_viewer"})
    assert response.status_code == 200
    assert Membership.objects.get(user=writer, ou=acme).role == "asset_manager"


# --- OU object permissions -------------------------------------------------------------------------------


def test_granting_an_ou_to_a_group_in_the_admin(support, acme, outsider, device):
    group = Group.objects.create(name="support-team")
    outsider.groups.add(group)
    view = Permission.objects.get(codename="view_assets")
    response = client_for(support).post(url(OUGroupObjectPermission, "add"),
                                        {"group": group.pk, "permission": view.pk, "content_object": acme.pk})
    assert response.status_code == 302
    forget_ou_permissions(outsider)
    assert acme.pk in ou_ids_with(outsider, VIEW)
    assert Device.objects.visible_to(outsider).filter(pk=device.pk).exists()
    assert AuditEvent.objects.filter(action="ou_permission.grant", actor=support, ou=acme).exists()

    grant = OUGroupObjectPermission.objects.get(group=group)
    client_for(support).post(url(grant, "delete"), {"post": "yes"})
    forget_ou_permissions(outsider)
    assert acme.pk not in ou_ids_with(outsider, VIEW)
    assert AuditEvent.objects.filter(action="ou_permission.revoke").exists()


def test_only_ou_permissions_can_be_granted(support):
    response = client_for(support).get(url(OUGroupObjectPermission, "add"))
    choices = {str(p) for p in response.context["adminform"].form.fields["permission"].queryset}
    assert len(choices) == 3 and all("Asset Management" in c or "members" in c for c in choices)


def test_user_grants_are_read_only_they_follow_memberships(support, acme, writer):
    grant = OUUserObjectPermission.objects.filter(user=writer).first()
    client = client_for(support)
    assert client.get(url(OUUserObjectPermission, "add")).status_code == 403
    assert client.post(url(grant, "delete"), {"post": "yes"}).status_code == 403


# --- OUs and the audit log -----------------------------------------------------------------------------


def test_adding_an_ou_in_the_admin_makes_the_owner_its_ou_admin(support, outsider):
    response = client_for(support).post(url(OrganizationUnit, "add"), {"name": "Initech", "owner": outsider.pk})
    assert response.status_code == 302
    ou = OrganizationUnit.objects.get(name="Initech")
    assert Membership.objects.get(ou=ou, user=outsider).role == "ou_admin"
    assert AuditEvent.objects.filter(action="ou.create", actor=support).exists()


def test_the_audit_log_is_read_only_and_shows_before_and_after(support, device):
    services.disable_device(support, device)
    event = AuditEvent.objects.get(action="device.disable")
    client = client_for(support)
    page = client.get(url(event, "change")).content.decode()
    assert "&quot;enabled&quot;: true" in page and "&quot;enabled&quot;: false" in page
    assert 'name="_save"' not in page
    assert client.post(url(event, "delete"), {"post": "yes"}).status_code == 403
    listing = client.get(url(AuditEvent) + "?family=device").content.decode()
    assert "device.disable" in listing and "ou.create" not in listing


def test_support_hands_an_ou_to_a_new_owner_through_the_service(support, acme, writer):
    from accounts.models import Membership, OrganizationUnit

    client = client_for(support)
    url = reverse("admin:accounts_organizationunit_change", args=[acme.pk])
    response = client.post(url, {"name": "Acme Renamed", "owner": writer.pk,
                                 "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code in (200, 302)
    acme = OrganizationUnit.objects.get(pk=acme.pk)
    assert (acme.name, acme.owner) == ("Acme Renamed", writer)
    assert Membership.objects.get(ou=acme, user=writer).role == "ou_admin"
    assert AuditEvent.objects.filter(action="ou.update", ou=acme).exists()
