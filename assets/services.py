"""Domain operations on devices, products and thing models: the one place that writes them.

Views, the API, admin actions, tasks and consumers all call these. Each takes its actor first: a
user, whose write access on the OU is checked, or SYSTEM (accounts.actors) for the portal's own
writes, accepted only by the services that say so (`system_allowed=True`). Each leaves one audit event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import audit
from accounts.actors import is_system
from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import OrganizationUnit
from accounts.permissions import CHANGE, can

from .datatypes import ValueProblem, check_value
from .models import (
    Device,
    Disablement,
    ModelShare,
    Product,
    ProductShare,
    ProductType,
    ThingModel,
    generate_device_key,
    generate_device_secret,
)
from .signals import device_secrets_reset, devices_deleted, devices_disabled, devices_enabled
from .validators import tag_problems, validate_device_key, validate_device_name, validate_timezone

DEVICE_FIELDS = ("name", "description", "timezone", "attributes", "tags")


def require_write(actor: Any, ou: OrganizationUnit | int, *, system_allowed: bool = False) -> None:
    """The actor may change the OU's assets: a user with write access, or SYSTEM where allowed."""
    if is_system(actor, system_allowed=system_allowed):
        return
    ou_pk = ou if isinstance(ou, int) else ou.pk
    if not can(actor, CHANGE, ou_pk):
        raise AccessDenied()


def device_snapshot(device: Device) -> dict:
    return {
        "name": device.name,
        "description": device.description,
        "timezone": device.timezone,
        "attributes": device.attributes,
        "tags": device.tags,
        "enabled": device.enabled,
        "gateway": device.gateway.asset_id if device.gateway_id and device.gateway else None,
    }


# --- validation ---------------------------------------------------------------------------------

def attribute_problems(model: ThingModel, attributes: Any, *, require_all: bool,
                       from_text: bool = False) -> tuple[dict, dict[str, str]]:
    """Check attribute values against the model: (clean values, problems by identifier)."""
    if not isinstance(attributes, dict):
        return {}, {"attributes": _("attributes must be an object of identifier: value")}
    features = {f["identifier"]: f for f in model.attributes}
    clean: dict = {}
    problems: dict[str, str] = {}
    for identifier, value in attributes.items():
        feature = features.get(identifier)
        if feature is None:
            problems[identifier] = _('"%(identifier)s" is not an attribute of model %(model)s') % {
                "identifier": identifier, "model": model.model_id}
            continue
        if value is None or value == "":
            if feature.get("required"):
                problems[identifier] = required_message(identifier)
            continue
        try:
            clean[identifier] = check_value(feature, value, from_text=from_text)
        except ValueProblem as problem:
            problems[identifier] = _('attribute "%(identifier)s": %(problem)s') % {
                "identifier": identifier, "problem": problem}
    if require_all:
        for identifier, feature in features.items():
            if feature.get("required") and identifier not in clean and identifier not in problems:
                problems[identifier] = required_message(identifier)
    return clean, problems


def required_message(identifier: str) -> str:
    return _('attribute "%(identifier)s" is required') % {"identifier": identifier}


def _validate_device_fields(device: Device, *, require_all_attributes: bool) -> None:
    errors: dict[str, list[str]] = {}
    for field, check in (("device_key", validate_device_key), ("name", validate_device_name),
                         ("timezone", validate_timezone)):
        try:
            check(getattr(device, field))
        except ValidationError as error:
            errors[field] = error.messages
    if len(device.description or "") > 500:
        errors["description"] = [_("The description can be at most %(maximum)d characters.") % {"maximum": 500}]
    tag_errors = tag_problems(device.tags)
    if tag_errors:
        errors["tags"] = tag_errors
    clean, problems = attribute_problems(
        device.product.model, device.attributes, require_all=require_all_attributes
    )
    if problems:
        errors["attributes"] = list(problems.values())
    else:
        device.attributes = clean
    if errors:
        first = next(iter(errors.values()))[0]
        raise DomainError(first, code="validation_error", details=errors)


def _product_usable_in(product: Product, ou: OrganizationUnit) -> bool:
    return product.ou_id == ou.pk or product.shares.filter(ou=ou).exists()


# --- devices -------------------------------------------------------------------------------------

@transaction.atomic
def create_device(actor: Any, ou: OrganizationUnit, product: Product, *, name: str,
                  device_key: str | None = None, description: str = "", timezone: str = "+08:00",
                  attributes: dict | None = None, tags: dict | None = None) -> Device:
    require_write(actor, ou, system_allowed=True)  # SYSTEM: a gateway registering sub-devices
    if not _product_usable_in(product, ou):
        raise DomainError(_("Product %(product)s is not available in OU %(ou)s.")
                          % {"product": product.product_key, "ou": ou.ou_id},
                          code="product_not_found", field="productKey")
    device = Device(ou=ou, product=product, name=name, description=description, timezone=timezone,
                    device_key=device_key or generate_device_key(), attributes=attributes or {},
                    tags=tags or {})
    _validate_device_fields(device, require_all_attributes=True)
    if Device.objects.filter(product=product, device_key=device.device_key).exists():
        raise Conflict(f'deviceKey "{device.device_key}" already exists in product {product.product_key}.',
                       code="device_key_exists", field="deviceKey")
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError:
        raise Conflict(f'deviceKey "{device.device_key}" already exists in product {product.product_key}.',
                       code="device_key_exists", field="deviceKey") from None
    audit.record(actor, "device.create", device, after=device_snapshot(device))
    return device


@transaction.atomic
def update_device(actor: Any, device: Device, **changes: Any) -> Device:
    require_write(actor, device.ou_id, system_allowed=True)  # SYSTEM: a device reporting its attributes
    unknown = set(changes) - set(DEVICE_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    before = device_snapshot(device)
    for field, value in changes.items():
        setattr(device, field, value)
    _validate_device_fields(device, require_all_attributes=True)
    device.save(update_fields=[*changes.keys(), "updated_at"])
    audit.record(actor, "device.update", device, before=before, after=device_snapshot(device))
    return device


@transaction.atomic
def delete_device(actor: Any, device: Device) -> None:
    require_write(actor, device.ou_id)
    before = device_snapshot(device)
    ids = [device.pk]
    devices_deleted.send(sender=Device, device_ids=ids)
    Device.objects.filter(gateway=device).update(gateway=None)
    audit.record(actor, "device.delete", device, before=before)
    device.delete()


def _set_enabled(actor: Any, device: Device, enabled: bool) -> Device:
    require_write(actor, device.ou_id)
    word = "enabled" if enabled else "disabled"
    already = (_("Device %(device)s is already enabled.") if enabled
               else _("Device %(device)s is already disabled."))
    with transaction.atomic():
        if enabled:
            changed = Disablement.objects.filter(device_id=device.pk).delete()[0]
        else:  # the row's foreign-key check locks the device at commit: a login waits for it, and sees it
            changed = Disablement.objects.get_or_create(device_id=device.pk, defaults={"ou_id": device.ou_id})[1]
        if not changed:
            raise Conflict(already % {"device": device.device_key}, code=f"already_{word}")
        device.enabled = enabled
        audit.record(actor, "device.enable" if enabled else "device.disable", device,
                     before={"enabled": not enabled}, after={"enabled": enabled})
        # the connectivity app closes the live session of a disabled device, and tells gateways
        signal = devices_enabled if enabled else devices_disabled
        transaction.on_commit(lambda: signal.send(sender=Device, device_ids=[device.pk]))
    device.refresh_from_db(fields=["online", "activated_at", "last_offline_at", "updated_at"])
    device.enabled = enabled
    return device


def enable_device(actor: Any, device: Device) -> Device:
    return _set_enabled(actor, device, True)


def disable_device(actor: Any, device: Device) -> Device:
    return _set_enabled(actor, device, False)


def reveal_secret(actor: Any, device: Device) -> str:
    require_write(actor, device.ou_id)
    audit.record(actor, "device.secret_reveal", device)
    return device.device_secret


@transaction.atomic
def reset_secret(actor: Any, device: Device) -> str:
    require_write(actor, device.ou_id)
    device.device_secret = generate_device_secret()
    device.save(update_fields=["device_secret", "updated_at"])
    audit.record(actor, "device.secret_reset", device)
    transaction.on_commit(lambda: device_secrets_reset.send(sender=Device, device_ids=[device.pk]))
    return device.device_secret


# --- sub-devices ---------------------------------------------------------------------------------

def sub_device_candidates(gateway: Device):
    """Device-type devices of the gateway's OU that belong to no gateway."""
    return Device.objects.filter(
        ou_id=gateway.ou_id, gateway__isnull=True, product__product_type=ProductType.DEVICE
    ).exclude(pk=gateway.pk)


@transaction.atomic
def add_sub_devices(actor: Any, gateway: Device, devices: Iterable[Device]) -> int:
    require_write(actor, gateway.ou_id, system_allowed=True)  # SYSTEM: a gateway's thing.topo.add
    if not gateway.product.is_gateway:
        raise DomainError(_("%(name)s is not a gateway: only Gateway devices have sub-devices.")
                          % {"name": gateway.name},
                          code="not_a_gateway")
    if gateway.gateway_id is not None:
        raise DomainError(_("A sub-device cannot be a gateway of others."), code="not_a_gateway")
    devices = list(devices)
    ids = [d.pk for d in devices]
    if not ids:
        raise DomainError(_("Select at least one device."), code="required", field="devices")
    eligible = set(sub_device_candidates(gateway).select_for_update().filter(pk__in=ids)
                   .values_list("pk", flat=True))
    refused = [d for d in devices if d.pk not in eligible]
    if refused:
        names = ", ".join(d.device_key for d in refused[:5])
        raise Conflict(
            _("These devices cannot be added: %(devices)s. Only Device-type devices of this OU "
              "that belong to no gateway can be added.") % {"devices": names}, code="not_eligible",
        )
    Device.objects.filter(pk__in=ids).update(gateway=gateway)
    audit.record(actor, "device.sub_devices_add", gateway,
                 after={"added": sorted(d.asset_id for d in devices)})
    return len(ids)


@transaction.atomic
def remove_sub_devices(actor: Any, gateway: Device, devices: Iterable[Device]) -> int:
    require_write(actor, gateway.ou_id, system_allowed=True)  # SYSTEM: a gateway's thing.topo.delete
    devices = list(devices)
    ids = [d.pk for d in devices]
    # the database decides, as for adding: a copy loaded earlier may be stale
    attached = set(Device.objects.select_for_update().filter(pk__in=ids, gateway=gateway)
                   .values_list("pk", flat=True))
    not_ours = [d for d in devices if d.pk not in attached]
    if not ids:
        raise DomainError(_("Select at least one sub-device."), code="required", field="devices")
    if not_ours:
        raise Conflict(_("%(device)s is not a sub-device of %(gateway)s.")
                       % {"device": not_ours[0].device_key, "gateway": gateway.name},
                       code="not_a_sub_device")
    Device.objects.filter(pk__in=ids, gateway=gateway).update(gateway=None)
    audit.record(actor, "device.sub_devices_remove", gateway,
                 before={"removed": sorted(d.asset_id for d in devices)})
    return len(ids)


# --- products and models ---------------------------------------------------------------------------

def _full_clean(obj: Any, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        details = {k: list(v) for k, v in error.message_dict.items()}
        first = next(iter(details.values()))[0]
        raise DomainError(first, code="validation_error", details=details) from None


@transaction.atomic
def create_model(actor: Any, ou: OrganizationUnit, **fields: Any) -> ThingModel:
    require_write(actor, ou, system_allowed=True)  # SYSTEM: the demo data
    model = ThingModel(ou=ou, **fields)
    _full_clean(model, exclude=["ou"])
    if ThingModel.objects.filter(ou=ou, model_id=model.model_id).exists():
        raise Conflict(f'Model ID "{model.model_id}" already exists in this OU.', code="model_id_exists",
                       field="model_id")
    model.save()
    audit.record(actor, "model.create", model, after={"model_id": model.model_id, "name": model.name})
    return model


@transaction.atomic
def update_model(actor: Any, model: ThingModel, **changes: Any) -> ThingModel:
    require_write(actor, model.ou_id)
    before = {k: getattr(model, k) for k in changes}
    for field, value in changes.items():
        setattr(model, field, value)
    _full_clean(model, exclude=["ou"])
    model.save()
    audit.record(actor, "model.update", model, before=before, after=changes)
    return model


@transaction.atomic
def delete_model(actor: Any, model: ThingModel) -> None:
    require_write(actor, model.ou_id)
    in_use = model.products.count()
    if in_use:
        raise Conflict(ngettext("Model %(model)s is used by %(count)d product; delete it first.",
                                "Model %(model)s is used by %(count)d products; delete them first.", in_use)
                       % {"model": model.model_id, "count": in_use},
                       code="in_use")
    audit.record(actor, "model.delete", model, before={"model_id": model.model_id, "name": model.name})
    model.delete()


@transaction.atomic
def create_product(actor: Any, ou: OrganizationUnit, *, model: ThingModel, **fields: Any) -> Product:
    require_write(actor, ou, system_allowed=True)  # SYSTEM: the demo data
    if model.ou_id != ou.pk and not model.shares.filter(ou=ou).exists():
        raise DomainError(_("Model %(model)s is not available in this OU.") % {"model": model.model_id},
                          code="model_not_found",
                          field="model")
    product = Product(ou=ou, model=model, **fields)
    _full_clean(product, exclude=["ou", "model"])
    product.save()
    audit.record(actor, "product.create", product, after={"name": product.name,
                                                         "product_type": product.product_type})
    return product


@transaction.atomic
def update_product(actor: Any, product: Product, **changes: Any) -> Product:
    require_write(actor, product.ou_id)
    if "product_type" in changes and changes["product_type"] != product.product_type \
            and product.devices.exists():
        raise Conflict(_("The product type cannot change while the product has devices."), code="in_use")
    if "model" in changes and changes["model"] != product.model and product.devices.exists():
        raise Conflict(_("The model cannot change while the product has devices."), code="in_use")
    before = {k: str(getattr(product, k)) for k in changes}
    for field, value in changes.items():
        setattr(product, field, value)
    _full_clean(product, exclude=["ou", "model"])
    product.save()
    audit.record(actor, "product.update", product, before=before,
                 after={k: str(v) for k, v in changes.items()})
    return product


@transaction.atomic
def delete_product(actor: Any, product: Product) -> None:
    """Deleting removes it everywhere it is shared; refused while any OU's device uses it."""
    require_write(actor, product.ou_id)
    in_use = Device.objects.filter(product=product).count()
    if in_use:
        raise Conflict(ngettext("Product %(product)s is used by %(count)d device (in this or other OUs); "
                                "delete or move it first.",
                                "Product %(product)s is used by %(count)d devices (in this or other OUs); "
                                "delete or move them first.", in_use)
                       % {"product": product.product_key, "count": in_use}, code="in_use")
    audit.record(actor, "product.delete", product, before={"name": product.name})
    product.delete()


@transaction.atomic
def share_product(actor: Any, product: Product, ou: OrganizationUnit) -> bool:
    """Share a product (and its model) read-only to `ou`; True when a share was made (and audited)."""
    require_write(actor, product.ou_id)
    made = False
    if product.model.ou_id != ou.pk:
        _, created = ModelShare.objects.get_or_create(model=product.model, ou=ou)
        made |= created
    if product.ou_id != ou.pk:
        _, created = ProductShare.objects.get_or_create(product=product, ou=ou)
        made |= created
    if made:
        audit.record(actor, "product.share", product, after={"ou": ou.ou_id})
    return made


@transaction.atomic
def share_product_to(actor: Any, product: Product, ou: OrganizationUnit) -> ProductShare:
    """A writer of the product's OU shares it (and its model) read-only to another OU; audited."""
    require_write(actor, product.ou_id)
    if product.ou_id == ou.pk:
        raise DomainError(_("A product cannot be shared to the OU that owns it."), code="invalid")
    share_product(actor, product, ou)  # audited there
    return ProductShare.objects.get(product=product, ou=ou)
