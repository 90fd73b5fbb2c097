"""The console's access helpers: fetch an object the user may see (else 404) and whether they may write.

One place for the check, like healthchecks' `_get_check_for_user`: views never build their own
visibility filters.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.permissions import CHANGE, can

from .models import Device, DeviceGroup, Product, ThingModel


def get_device_for(user: Any, asset_id: str, *, write: bool = False) -> tuple[Device, bool]:
    device = get_object_or_404(
        Device.objects.visible_to(user).select_related("product__model", "ou", "gateway"), asset_id=asset_id
    )
    writable = can(user, CHANGE, device.ou_id)
    if write and not writable:
        raise PermissionDenied(_("You have read access only: write access to Asset Management is needed."))
    return device, writable


def get_product_for(user: Any, product_key: str, *, write: bool = False) -> tuple[Product, bool]:
    product = get_object_or_404(Product.objects.visible_to(user).select_related("model", "ou"),
                                product_key=product_key)
    writable = can(user, CHANGE, product.ou_id)
    if write and not writable:
        raise PermissionDenied(_("This product is read-only for you (shared, or read access only)."))
    return product, writable


def get_model_for(user: Any, pk: int, *, write: bool = False) -> tuple[ThingModel, bool]:
    model = get_object_or_404(ThingModel.objects.visible_to(user).select_related("ou"), pk=pk)
    writable = can(user, CHANGE, model.ou_id)
    if write and not writable:
        raise PermissionDenied(_("This model is read-only for you (shared, or read access only)."))
    return model, writable


def get_group_for(user: Any, pk: int, *, write: bool = False) -> tuple[DeviceGroup, bool]:
    group = get_object_or_404(DeviceGroup.objects.visible_to(user).select_related("ou"), pk=pk)
    writable = can(user, CHANGE, group.ou_id)
    if write and not writable:
        raise PermissionDenied("You have read access only: write access to Asset Management is needed.")
    return group, writable
