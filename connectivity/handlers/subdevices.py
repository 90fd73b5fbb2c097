"""A gateway's sub-devices: their sessions through the gateway's connection (combine.login, its batch
form, combine.logout), the topology (thing.topo.add/get/delete, the Sub-device tab of Device Assets)
and registering new sub-devices (thing.device.register).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.errors import DomainError
from assets import services as asset_services
from assets.models import Device, Product

from .. import protocol as p
from .base import DEVICE_ACTOR, Context, Refusal, trace
from .session import LoginRefused, authenticate, end_sub_session, open_session, timestamp_problem

MAX_SUB_DEVICES = 1_000


def combine_login(ctx: Context) -> dict:
    ctx.require_gateway()
    try:
        sub_login = p.LoginRequest.from_params(ctx.params)
    except p.ProtocolError as error:
        raise Refusal(error.code, error.message) from None
    session = ctx.session
    try:
        device = authenticate(sub_login, gateway=session.device, client_ip=session.client_ip)
        open_session(device, session.transport, client_id=sub_login.client_id, login=sub_login, via=session)
    except LoginRefused as refusal:
        raise Refusal(refusal.code, f"{sub_login.device_key}: {refusal.message}") from None
    return p.reply(ctx.request.id, p.SUCCESS, {"assetId": device.asset_id, "productKey": sub_login.product_key,
                                               "deviceKey": sub_login.device_key})


def combine_login_batch(ctx: Context) -> dict:
    """Many sub-devices in one message, signed with the batch's clientId and timestamp."""
    ctx.require_gateway()
    params = ctx.params_object()
    subs = params.get("subDevices")
    if not isinstance(subs, list) or not subs or len(subs) > MAX_SUB_DEVICES:
        raise Refusal(p.BAD_REQUEST, f"params.subDevices must list 1 to {MAX_SUB_DEVICES} sub-devices.")
    logged: list[dict] = []
    failed: list[dict] = []
    for item in subs:
        item = item if isinstance(item, dict) else {}
        fields = {"productKey": item.get("productKey"), "deviceKey": item.get("deviceKey"),
                  "clientId": params.get("clientId") or item.get("clientId"),
                  "timestamp": params.get("timestamp") or item.get("timestamp"),
                  "signMethod": params.get("signMethod") or item.get("signMethod") or "sha256",
                  "secureMode": item.get("secureMode", p.STATIC_ACTIVATION), "sign": item.get("sign")}
        keys = {"productKey": fields["productKey"], "deviceKey": fields["deviceKey"]}
        try:
            sub_login = p.LoginRequest.from_params(fields)
            device = authenticate(sub_login, gateway=ctx.session.device, client_ip=ctx.session.client_ip)
            open_session(device, ctx.session.transport, client_id=sub_login.client_id, login=sub_login,
                         via=ctx.session)
        except (p.ProtocolError, LoginRefused) as refusal:
            failed.append({**keys, "code": refusal.code, "message": refusal.message})
            continue
        logged.append({"assetId": device.asset_id, **keys})
    data = {"loginedSubDevices": logged,
            "failedSubDevices": [{"productKey": f["productKey"], "deviceKey": f["deviceKey"]} for f in failed]}
    if not failed:
        return p.reply(ctx.request.id, p.SUCCESS, data)
    # as EnOS: the first failure's code, and one "pk&dk has error: …;" per failed sub-device
    raise Refusal(failed[0]["code"], "".join(f"{f['productKey']}&{f['deviceKey']} has error: {f['message']};"
                                             for f in failed), data=data)


def combine_logout(ctx: Context) -> dict:
    ctx.require_gateway()
    params = ctx.params if isinstance(ctx.params, dict) else {}
    sub = ctx.session.target(params.get("productKey"), params.get("deviceKey"))
    if sub is None or sub.id == ctx.session.device.id:
        raise Refusal(p.SUB_DEVICE_NO_PERMISSION,
                      f"{params.get('deviceKey')} is not logged in through this gateway.")
    end_sub_session(ctx.session, sub.id, "combine.logout")
    return p.reply(ctx.request.id, p.SUCCESS, {"assetId": sub.asset_id, "productKey": sub.product_key,
                                               "deviceKey": sub.device_key})


# --- topology ----------------------------------------------------------------------------------------

def _gateway(ctx: Context, code: int) -> Device:
    if ctx.target.id != ctx.session.device.id or not ctx.session.device.is_gateway:
        raise Refusal(code, "Only a gateway manages sub-devices: this device is not a gateway.")
    gateway = Device.objects.select_related("product").filter(pk=ctx.session.device.id).first()
    if gateway is None:
        raise Refusal(p.NOT_FOUND, "The gateway no longer exists.")
    return gateway


def _items(params: Any, name: str = "subDevices") -> list[dict]:
    items = params.get(name) if isinstance(params, dict) else params
    if not isinstance(items, list) or not items or len(items) > MAX_SUB_DEVICES \
            or not all(isinstance(item, dict) for item in items):
        raise Refusal(p.BAD_REQUEST, f"params must list 1 to {MAX_SUB_DEVICES} sub-devices "
                                     "as {productKey, deviceKey, …}.")
    return items


def _sub_device(item: dict, code: int) -> Device:
    device = (Device.objects.select_related("product")
              .filter(product__product_key=str(item.get("productKey", "")),
                      device_key=str(item.get("deviceKey", ""))).first())
    if device is None:
        raise Refusal(code, f"Sub-device {item.get('deviceKey')} does not exist.")
    return device


def topo_add(ctx: Context) -> dict:
    """Add sub-devices to the gateway, each proving it holds the sub-device's secret (its sign)."""
    gateway = _gateway(ctx, p.TOPO_ADD_FAILED)
    devices = []
    for item in _items(ctx.params):
        device = _sub_device(item, p.TOPO_ADD_FAILED)
        login = p.LoginRequest(product_key=device.product.product_key, device_key=device.device_key,
                               client_id=str(item.get("clientId", "")), timestamp=str(item.get("timestamp", "")),
                               sign=str(item.get("sign", "")), sign_method=str(item.get("signMethod", "sha256")))
        stale = timestamp_problem(login.timestamp)
        if stale or not p.sign_matches(login.signed_fields(), device.device_secret, login.sign, login.sign_method):
            raise Refusal(p.TOPO_ADD_FAILED, f"{device.device_key}: sign check failed.")
        if device.gateway_id != gateway.pk:
            devices.append(device)
    if devices:
        try:
            asset_services.add_sub_devices(DEVICE_ACTOR, gateway, devices)
        except DomainError as error:
            raise Refusal(p.TOPO_ADD_FAILED, error.message) from None
        for device in devices:
            trace(device.pk, "up", ctx.request.method, "ok", message=f"added to gateway {gateway.device_key}")
    return p.reply(ctx.request.id)


def topo_get(ctx: Context) -> dict:
    gateway = _gateway(ctx, p.TOPO_GET_FAILED)
    subs = (Device.objects.filter(gateway=gateway).select_related("product").order_by("pk")
            .only("asset_id", "device_key", "product__product_key")[:10_000])
    return p.reply(ctx.request.id, p.SUCCESS, [
        {"productKey": d.product.product_key, "deviceKey": d.device_key, "assetId": d.asset_id} for d in subs])


def topo_delete(ctx: Context) -> dict:
    gateway = _gateway(ctx, p.TOPO_DELETE_FAILED)
    devices = [_sub_device(item, p.TOPO_DELETE_FAILED) for item in _items(ctx.params)]
    not_ours = [d.device_key for d in devices if d.gateway_id != gateway.pk]
    if not_ours:
        raise Refusal(p.TOPO_DELETE_FAILED, f"Not sub-devices of this gateway: {', '.join(not_ours)}.")
    online = [d.device_key for d in devices if d.online]
    if online:  # as EnOS: log a sub-device out (combine.logout) before removing it
        raise Refusal(p.TOPO_DELETE_FAILED, f"Sub-devices still online: {', '.join(online)}.")
    asset_services.remove_sub_devices(DEVICE_ACTOR, gateway, devices)
    return p.reply(ctx.request.id)


def register(ctx: Context) -> dict:
    """New sub-devices of a product with dynamic activation, in the gateway's OU, attached to it."""
    gateway = _gateway(ctx, p.BAD_REQUEST)
    items = _items(ctx.params, "subDevices")
    created: list[dict] = []
    with transaction.atomic():
        for index, item in enumerate(items):
            product = Product.objects.filter(product_key=str(item.get("productKey", ""))).first()
            if product is None:
                raise Refusal(p.NOT_FOUND, f"Item {index}: product {item.get('productKey')} does not exist.")
            if not product.dynamic_activation or product.is_gateway:
                raise Refusal(p.DYNAMIC_ACTIVATION_NOT_ALLOWED,
                              f"Item {index}: product {product.product_key} does not allow devices to register "
                              "(it needs dynamic activation and the Device type).")
            name = item.get("deviceName")
            if isinstance(name, dict):
                name = name.get("defaultValue")
            try:
                device = asset_services.create_device(
                    DEVICE_ACTOR, gateway.ou, product, name=str(name or item.get("deviceKey") or "sub-device"),
                    device_key=item.get("deviceKey") or None, description=str(item.get("deviceDesc") or ""),
                    timezone=str(item.get("timezone") or "+08:00"),
                    attributes=item.get("deviceAttributes") if isinstance(item.get("deviceAttributes"), dict)
                    else None)
                asset_services.add_sub_devices(DEVICE_ACTOR, gateway, [device])
            except DomainError as error:
                code = p.DEVICE_KEY_EXISTS if error.code == "device_key_exists" else p.INVALID_VALUE
                raise Refusal(code, f"Item {index}: {error.message}") from None
            created.append({"assetId": device.asset_id, "productKey": product.product_key,
                            "deviceKey": device.device_key, "deviceSecret": device.device_secret})
    for item in created:
        trace(gateway.pk, "up", ctx.request.method, "ok", message=f"registered {item['deviceKey']}")
    return p.reply(ctx.request.id, p.SUCCESS, created)
