"""Measure points and events a device reports: post, post.batch, resume (cached while offline) and
its batch form, and thing.event.<id>.post.

A post's values become the device's latest values (the newest by the device's own time wins,
so a late or resumed value never overwrites a newer one); a resume's values are also kept as
history with their own timestamps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from assets.datatypes import ValueProblem, check_value
from assets.models import Device

from .. import protocol as p
from ..latest import LatestRow, store_history, store_latest_values
from ..models import ValueKind
from ..sessions import DeviceRef, ModelFeatures, model_features
from .base import Context, Refusal, trace

MAX_BATCH_ITEMS = 1_000


def report_time(params: dict) -> dt.datetime:
    """The device's own time of a report (ms since the epoch), or now when it gives none."""
    stamp = params.get("time")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 <= stamp < 2**53:
        return dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)
    if isinstance(stamp, str) and stamp.isascii() and stamp.isdigit() and len(stamp) < 16:
        return dt.datetime.fromtimestamp(int(stamp) / 1000, tz=dt.UTC)
    return dt.datetime.now(dt.UTC)  # not django's now(): this runs for every report


def _unwrap(feature: dict, raw: Any) -> Any:
    """EnOS lets a point carry {"value": v, "quality": q}; a struct is an object by itself."""
    if isinstance(raw, dict) and "value" in raw and set(raw) <= {"value", "quality"} \
            and not (feature.get("data_type") == "struct" and "value" not in _struct_fields(feature)):
        return raw["value"]
    return raw


def _struct_fields(feature: dict) -> set[str]:
    return {f.get("identifier") for f in (feature.get("spec") or {}).get("fields") or []}


def check_points(features: ModelFeatures, points: Any) -> dict[str, Any]:
    """The checked values of one report; Refusal 460 naming every point that does not fit."""
    if not isinstance(points, dict) or not points:
        raise Refusal(p.BAD_REQUEST, "params.measurepoints must be an object of identifier: value.")
    clean: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for identifier, raw in points.items():
        feature = features.measurepoints.get(identifier)
        if feature is None:
            problems[identifier] = f'"{identifier}" is not a measure point of model {features.model_id}'
            continue
        try:
            clean[identifier] = check_value(feature, _unwrap(feature, raw))
        except ValueProblem as problem:
            problems[identifier] = f'measure point "{identifier}": {problem}'
    if problems:
        raise Refusal(p.INVALID_VALUE, "; ".join(problems.values()), data={"errors": problems})
    return clean


def _store(ctx: Context, device_id: int, values: dict, when: dt.datetime) -> None:
    if ctx.latest is not None:
        ctx.latest.add(device_id, ValueKind.MEASUREPOINT, values, when)
    else:
        store_latest_values([LatestRow(device_id, ValueKind.MEASUREPOINT, k, v, when) for k, v in values.items()])


def post(ctx: Context) -> dict:
    params = ctx.params_object()
    features = ctx.features or model_features(ctx.target.model_id)
    clean = check_points(features, params.get("measurepoints"))
    _store(ctx, ctx.target.id, clean, report_time(params))
    return p.reply(ctx.request.id)


def resume(ctx: Context) -> dict:
    """Data the device cached while offline: history with its own time, latest only where newer."""
    params = ctx.params_object()
    clean = check_points(model_features(ctx.target.model_id), params.get("measurepoints"))
    when = report_time(params)
    store_history([LatestRow(ctx.target.id, ValueKind.MEASUREPOINT, k, v, when) for k, v in clean.items()])
    _store(ctx, ctx.target.id, clean, when)
    return p.reply(ctx.request.id)


def _flag(ctx: Context, name: str) -> bool:
    raw = ctx.request.options.get(name, ctx.params.get(name) if isinstance(ctx.params, dict) else None)
    return raw is True or str(raw).lower() == "true"


def _offline_sub_device(ctx: Context, item: dict) -> DeviceRef | None:
    """allowOfflineSubDevice: a sub-device of this gateway that is not logged in may be reported for."""
    if not ctx.session.device.is_gateway:
        return None
    device = (Device.objects.select_related("product")
              .filter(product__product_key=str(item.get("productKey", "")), device_key=str(item.get("deviceKey", "")),
                      gateway_id=ctx.session.device.id, enabled=True).first())
    return DeviceRef.of(device) if device is not None else None


def _batch_items(ctx: Context) -> list[tuple[DeviceRef, dict]]:
    """The items of a batch, each for the connection's own device or a logged-in sub-device."""
    params = ctx.params
    items = params.get("measurepoints") if isinstance(params, dict) else params
    if not isinstance(items, list) or not items:
        raise Refusal(p.MEASUREPOINT_FORMAT_ERROR, "params must be a list of {productKey, deviceKey, "
                                                   "measurepoints, time}.")
    if len(items) > MAX_BATCH_ITEMS:
        raise Refusal(p.MEASUREPOINT_FORMAT_ERROR, f"A batch carries at most {MAX_BATCH_ITEMS} items.")
    found: list[tuple[DeviceRef, dict]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Refusal(p.MEASUREPOINT_FORMAT_ERROR, f"Item {index} is not an object.")
        target = ctx.session.target(item.get("productKey") or ctx.target.product_key,
                                    item.get("deviceKey") or ctx.target.device_key)
        if target is None and _flag(ctx, "allowOfflineSubDevice"):
            target = _offline_sub_device(ctx, item)
        if target is None:
            raise Refusal(p.SUB_DEVICE_NO_PERMISSION,
                          f"Item {index}: {item.get('deviceKey')} is not logged in through this connection.")
        found.append((target, item))
    return found


def _post_batch(ctx: Context, *, history: bool) -> dict:
    checked: list[tuple[DeviceRef, dict, dt.datetime]] = []
    problems: dict[str, Any] = {}
    for index, (target, item) in enumerate(_batch_items(ctx)):
        try:
            clean = check_points(model_features(target.model_id), item.get("measurepoints"))
        except Refusal as refusal:
            problems[str(index)] = refusal.message
            continue
        checked.append((target, clean, report_time(item)))
    skip_invalid = _flag(ctx, "skipInvalidMeasurepoints")
    if problems and not skip_invalid:
        raise Refusal(p.INVALID_VALUE, "; ".join(f"item {i}: {m}" for i, m in problems.items()),
                      data={"errors": problems})
    rows = [LatestRow(target.id, ValueKind.MEASUREPOINT, k, v, when)
            for target, clean, when in checked for k, v in clean.items()]
    if history:
        store_history(rows)
    for target, clean, when in checked:
        _store(ctx, target.id, clean, when)
        if target.id != ctx.target.id:
            trace(target.id, "up", ctx.request.method, "ok", message=f"through {ctx.session.device.device_key}",
                  payload=clean)
    return p.reply(ctx.request.id)


def post_batch(ctx: Context) -> dict:
    return _post_batch(ctx, history=False)


def resume_batch(ctx: Context) -> dict:
    return _post_batch(ctx, history=True)


def post_event(ctx: Context, event_id: str) -> dict:
    params = ctx.params if isinstance(ctx.params, dict) else {}
    features = ctx.features or model_features(ctx.target.model_id)
    feature = features.events.get(event_id)
    if feature is None:
        raise Refusal(p.INVALID_VALUE, f'"{event_id}" is not an event of model {features.model_id}.')
    raw = params["value"] if "value" in params else params.get("events")
    if isinstance(raw, dict) and event_id in raw and feature.get("data_type") != "struct":
        raw = raw[event_id]
    try:
        value = check_value(feature, raw)
    except ValueProblem as problem:
        raise Refusal(p.INVALID_VALUE, f'event "{event_id}": {problem}') from None
    when = report_time(params)
    if ctx.latest is not None:
        ctx.latest.add(ctx.target.id, ValueKind.EVENT, {event_id: value}, when)
    else:
        store_latest_values([LatestRow(ctx.target.id, ValueKind.EVENT, event_id, value, when)])
    return p.reply(ctx.request.id)
