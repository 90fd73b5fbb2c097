"""What a device reads and writes of its own record: attributes and tags (the same fields Device
Assets shows and edits), and its thing model as a TSL template.

Writes go through assets' one writer (validated against the model, audited with the device as
the actor), so a device's change and a user's change are checked alike.
"""

from __future__ import annotations

from typing import Any

from accounts.errors import DomainError
from assets import services as asset_services
from assets.models import Device

from .. import protocol as p
from ..sessions import model_features
from .base import DEVICE_ACTOR, Context, Refusal


def _device(ctx: Context) -> Device:
    device = Device.objects.select_related("product__model", "gateway").filter(pk=ctx.target.id).first()
    if device is None:
        raise Refusal(p.NOT_FOUND, "The device no longer exists.")
    return device


def _update(device: Device, **changes: Any) -> None:
    try:
        asset_services.update_device(DEVICE_ACTOR, device, **changes)
    except DomainError as error:
        raise Refusal(p.INVALID_VALUE, error.message) from None


def _identifiers(params: Any, name: str, code: int = p.BAD_REQUEST) -> list[str]:
    """`{name: [..]}` (an empty or missing list means all)."""
    wanted = params.get(name, []) if isinstance(params, dict) else params
    if wanted is None:
        return []
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        raise Refusal(code, f"params.{name} must be a list of identifiers.")
    return wanted


def update_attributes(ctx: Context) -> dict:
    if not isinstance(ctx.params, dict):
        raise Refusal(p.ATTRIBUTE_UPDATE_FORMAT_ERROR, "params.attributes must be an object of identifier: value.")
    attributes = ctx.params.get("attributes", ctx.params)
    device = _device(ctx)
    clean, problems = asset_services.attribute_problems(device.product.model, attributes, require_all=False)
    if problems:
        raise Refusal(p.INVALID_VALUE, "; ".join(problems.values()), data={"errors": problems})
    _update(device, attributes={**device.attributes, **clean})
    return p.reply(ctx.request.id)


def query_attributes(ctx: Context) -> dict:
    device = _device(ctx)
    wanted = _identifiers(ctx.params, "attributes", p.ATTRIBUTE_QUERY_FORMAT_ERROR)
    values = device.attributes if not wanted else {k: device.attributes[k] for k in wanted if k in device.attributes}
    return p.reply(ctx.request.id, p.SUCCESS, values)


def delete_attributes(ctx: Context) -> dict:
    device = _device(ctx)
    wanted = _identifiers(ctx.params, "attributes", p.ATTRIBUTE_DELETE_FORMAT_ERROR)
    if not wanted:
        raise Refusal(p.ATTRIBUTE_DELETE_FORMAT_ERROR, "params.attributes must name the attributes to delete.")
    defined = {f["identifier"]: f for f in device.product.model.attributes if isinstance(f, dict)}
    unknown = [name for name in wanted if name not in defined]
    if unknown:
        raise Refusal(p.INVALID_VALUE, f"Not attributes of model {device.product.model.model_id}: "
                                       f"{', '.join(unknown)}.")
    required = [name for name in wanted if defined[name].get("required")]
    if required:
        raise Refusal(p.INVALID_VALUE, f"Required attributes cannot be deleted: {', '.join(required)}.")
    _update(device, attributes={k: v for k, v in device.attributes.items() if k not in wanted})
    return p.reply(ctx.request.id)


def query_tags(ctx: Context) -> dict:
    device = _device(ctx)
    wanted = _identifiers(ctx.params, "tags")
    tags = device.tags if not wanted else {k: device.tags[k] for k in wanted if k in device.tags}
    return p.reply(ctx.request.id, p.SUCCESS, tags)


def update_tags(ctx: Context) -> dict:
    """`params`: [{tagKey, tagValue}, …] as the SDK sends, or an object of key: value."""
    params = ctx.params
    if isinstance(params, dict) and "tags" in params:
        params = params["tags"]
    if isinstance(params, list):
        changes: dict[str, Any] = {}
        for item in params:
            if not isinstance(item, dict) or "tagKey" not in item:
                raise Refusal(p.BAD_REQUEST, "Each tag is {tagKey, tagValue}.")
            changes[str(item["tagKey"])] = "" if item.get("tagValue") is None else str(item["tagValue"])
    elif isinstance(params, dict) and params:
        changes = {str(k): "" if v is None else str(v) for k, v in params.items()}
    else:
        raise Refusal(p.BAD_REQUEST, "params must list the tags to set: [{tagKey, tagValue}].")
    device = _device(ctx)
    _update(device, tags={**device.tags, **changes})
    return p.reply(ctx.request.id)


def delete_tags(ctx: Context) -> dict:
    device = _device(ctx)
    wanted = _identifiers(ctx.params, "tags")
    if not wanted:
        raise Refusal(p.BAD_REQUEST, "params.tags must name the tags to delete.")
    _update(device, tags={k: v for k, v in device.tags.items() if k not in wanted})
    return p.reply(ctx.request.id)


def _by_identifier(features: list[dict]) -> dict[str, dict]:
    return {f["identifier"]: f for f in features if isinstance(f, dict) and "identifier" in f}


def tsl_template(ctx: Context) -> dict:
    """The device's thing model in the shape the SDK reads (tsl…Map by identifier)."""
    model = _device(ctx).product.model
    features = model_features(model.pk)
    return p.reply(ctx.request.id, p.SUCCESS, {
        "modelId": model.model_id, "name": model.name, "tslModelId": model.model_id, "tslModelName": model.name,
        "tslAttributeMap": _by_identifier(model.attributes),
        "tslMeasurepointMap": features.measurepoints,
        "tslEventMap": features.events,
        "tslServiceMap": features.services,
    })
