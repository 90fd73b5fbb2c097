"""Every door of the admin keeps a non-superuser staff member inside their OUs.

The cast: `support`, a staff member who is an asset viewer of Acme only and holds *every* Django
model permission on every registered model (the worst case of "ordinary model permissions"). For
each registered model there is one object of Acme (which they must see) and one of Globex (which
they must not: a 404 on its pages, absent from lists and autocompletes). A model registered
without a case here fails the suite, so a new admin cannot skip scoping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils.timezone import now
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token, TokenProxy

from accounts.actors import SYSTEM
from accounts.admin_scope import OUScopedAdmin, SuperuserOnlyAdmin
from accounts.models import (
    AuditEvent,
    Membership,
    OrganizationUnit,
    OUGroupObjectPermission,
    OUUserObjectPermission,
    User,
)
from accounts.services import create_ou, set_membership
from assets.groups import create_group
from assets.models import Device, ExportJob, ModelShare, ProductShare
from assets.services import share_product
from connectivity.models import CommandInvocation, ConnectionRecord, DeviceSession
from fleet.services import start_job
from tests.conftest import client_for, make_user
from tests.observability.alert_world import admin_rows
from tracing.models import MessageTrace

REGISTRY = admin.site._registry
SUPERUSER_ONLY = {label for label, model_admin in ((m._meta.label, a) for m, a in REGISTRY.items())
                  if isinstance(model_admin, SuperuserOnlyAdmin)}


def registered_admin_perms() -> models.QuerySet:
    return Permission.objects.filter(content_type__in=[ContentType.objects.get_for_model(m, for_concrete_model=False)
                                                       for m in REGISTRY])


def staff_member(username: str, ou: OrganizationUnit, role: str, perms: models.QuerySet | None = None) -> User:
    user = make_user(username, "+8613800000100")
    user.is_staff = True
    user.save()
    user.user_permissions.set(registered_admin_perms() if perms is None else perms)
    set_membership(SYSTEM, ou, user, role)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def support(acme) -> User:
    return staff_member("support-a", acme, "asset_viewer")


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "x", phone="+8613800000999")


def one_per_device(device: Device, user: User) -> dict[str, models.Model]:
    return {
        "tracing.MessageTrace": MessageTrace.objects.create(ou=device.ou, device=device, started_by=user,
                                                            expires_at=now() + timedelta(hours=1)),
        "connectivity.DeviceSession": DeviceSession.objects.create(device=device, session_id=f"s-{device.pk}",
                                                                   transport="websocket"),
        "connectivity.CommandInvocation": CommandInvocation.objects.create(device=device, service="restart"),
        "connectivity.ConnectionRecord": ConnectionRecord.objects.create(
            device=device, ou=device.ou, session_id=f"s-{device.pk}", transport="websocket", started_at=now()),
        "assets.ExportJob": ExportJob.objects.create(ou=device.ou, requested_by=user, format="csv", total=1),
        **admin_rows(device),
    }


@pytest.fixture
def world(acme, globex, owner, writer, outsider, thing_model, product, device, globex_device, superuser):
    """For each registered model: ("shown", an Acme object) and ("hidden", a Globex object)."""
    initech = create_ou(SYSTEM, "Initech", make_user("initech-owner"))
    share_product(owner, product, globex)  # Acme's product, shared out: Acme's staff see the share
    share_product(outsider, globex_device.product, initech)  # Globex's to Initech: nothing of Acme's
    acme_team, globex_team = Group.objects.create(name="acme-team"), Group.objects.create(name="globex-team")
    assign_perm("view_assets", acme_team, acme)
    assign_perm("view_assets", globex_team, globex)
    Token.objects.create(user=writer)
    Token.objects.create(user=outsider)
    shown = {
        "accounts.User": writer, "accounts.OrganizationUnit": acme,
        "accounts.Membership": Membership.objects.get(user=writer),
        "accounts.OUUserObjectPermission": OUUserObjectPermission.objects.filter(user=writer).first(),
        "accounts.OUGroupObjectPermission": OUGroupObjectPermission.objects.get(group=acme_team),
        "accounts.AuditEvent": AuditEvent.objects.filter(ou=acme).first(),
        "assets.ThingModel": thing_model, "assets.Product": product, "assets.Device": device,
        "assets.ModelShare": ModelShare.objects.get(model=thing_model),
        "assets.ProductShare": ProductShare.objects.get(product=product),
        "auth.Group": acme_team, "authtoken.TokenProxy": TokenProxy.objects.get(user=writer),
        **one_per_device(device, writer),
        "assets.DeviceGroup": create_group(writer, acme, name="acme group"),
        "fleet.Job": start_job(writer, acme, action="disable", asset_ids=[device.asset_id]),
    }
    hidden = {
        "accounts.User": outsider, "accounts.OrganizationUnit": globex,
        "accounts.Membership": Membership.objects.get(user=outsider),
        "accounts.OUUserObjectPermission": OUUserObjectPermission.objects.filter(user=outsider).first(),
        "accounts.OUGroupObjectPermission": OUGroupObjectPermission.objects.get(group=globex_team),
        "accounts.AuditEvent": AuditEvent.objects.filter(ou=globex).first(),
        "assets.ThingModel": globex_device.product.model, "assets.Product": globex_device.product,
        "assets.Device": globex_device,
        "assets.ModelShare": ModelShare.objects.get(model=globex_device.product.model),
        "assets.ProductShare": ProductShare.objects.get(product=globex_device.product),
        "auth.Group": globex_team, "authtoken.TokenProxy": TokenProxy.objects.get(user=outsider),
        **one_per_device(globex_device, outsider),
        "assets.DeviceGroup": create_group(outsider, globex, name="globex group"),
        "fleet.Job": start_job(outsider, globex, action="disable", asset_ids=[globex_device.asset_id]),
    }
    return {"shown": shown, "hidden": hidden}


def admin_url(obj_or_model, action: str = "changelist") -> str:
    opts = obj_or_model._meta
    args = ()
    if action != "changelist":
        # the token admin addresses a token by its user's id
        args = (obj_or_model.user_id if isinstance(obj_or_model, Token) else obj_or_model.pk,)
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


# --- the mechanism is everywhere ----------------------------------------------------------------------


@pytest.mark.parametrize("model", list(REGISTRY), ids=lambda m: m._meta.label)
def test_every_registered_admin_uses_the_scoping_mixin(model):
    assert isinstance(REGISTRY[model], OUScopedAdmin), (
        f"{type(REGISTRY[model]).__name__} must derive from accounts.admin_scope.OUScopedAdmin "
        "(or SuperuserOnlyAdmin)")


def test_every_registered_model_has_a_scope_case_here(world):
    labels = {m._meta.label for m in REGISTRY}
    assert labels == set(world["shown"]) == set(world["hidden"])
    assert {"auth.Group", "authtoken.TokenProxy"} == SUPERUSER_ONLY


@pytest.mark.parametrize("label", sorted(m._meta.label for m in REGISTRY))
def test_staff_see_their_ous_object_and_get_a_404_for_another_ous(label, world, support, superuser):
    shown, hidden = world["shown"][label], world["hidden"][label]
    model = apps.get_model(label)
    client = client_for(support)
    if label in SUPERUSER_ONLY:
        assert client.get(admin_url(model)).status_code == 403
        assert client.get(admin_url(hidden, "change")).status_code == 404
        assert client.get(admin_url(shown, "change")).status_code == 404
        # the page exists and lists the object for a superuser: the 403 is the scoping, not a typo
        listed = client_for(superuser).get(admin_url(model)).context["cl"].result_list
        assert hidden.pk in {row.pk for row in listed}
        return
    listed = {row.pk for row in client.get(admin_url(model)).context["cl"].result_list}
    assert shown.pk in listed
    assert hidden.pk not in listed
    assert client.get(admin_url(shown, "change")).status_code == 200
    for action in ("change", "history", "delete"):
        assert client.get(admin_url(hidden, action)).status_code == 404, action
    assert client.post(admin_url(hidden, "delete"), {"post": "yes"}).status_code == 404
    assert type(hidden).objects.filter(pk=hidden.pk).exists()


def autocomplete_cases() -> list[tuple[str, str, str]]:
    """Every foreign key and many-to-many field of every model that points at a registered model
    with search fields: each is an autocomplete the admin serves."""
    cases = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and (field.many_to_one or field.many_to_many
                                                               or field.one_to_one)):
                continue
            remote = field.remote_field.model
            if remote in REGISTRY and REGISTRY[remote].search_fields:
                cases.append((model._meta.app_label, model._meta.model_name, field.name))
    return cases


AUTOCOMPLETES = autocomplete_cases()


def test_the_autocomplete_cases_cover_the_issues_examples():
    assert ("accounts", "organizationunit", "owner") in AUTOCOMPLETES
    assert ("assets", "device", "product") in AUTOCOMPLETES
    assert len(AUTOCOMPLETES) >= 15


@pytest.mark.parametrize("app_label,model_name,field_name", AUTOCOMPLETES)
def test_every_autocomplete_offers_only_the_staff_members_ous(app_label, model_name, field_name, world, support):
    field = apps.get_model(app_label, model_name)._meta.get_field(field_name)
    remote = field.remote_field.model
    hidden = world["hidden"][remote._meta.label]
    response = client_for(support).get(reverse("admin:autocomplete"), {
        "app_label": app_label, "model_name": model_name, "field_name": field_name, "term": ""})
    if remote._meta.label in SUPERUSER_ONLY:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    to_field = remote._meta.get_field(getattr(field.remote_field, "field_name", None) or remote._meta.pk.name)
    offered = {row["id"] for row in response.json()["results"]}
    assert str(getattr(world["shown"][remote._meta.label], to_field.attname)) in offered
    assert str(getattr(hidden, to_field.attname)) not in offered


def test_the_owner_autocomplete_lists_only_members_of_the_staff_members_ous(world, support, superuser):
    response = client_for(support).get(
        "/admin/autocomplete/?app_label=accounts&model_name=organizationunit&field_name=owner&term=")
    offered = {row["text"] for row in response.json()["results"]}
    assert offered == {"owner", "writer", "viewer", "support-a"}
