"""Measure points and events as the SDK reports them: post, post.batch (many devices and times in one
message), resume and resume.batch (data cached while offline: history with its own times, never
overwriting a newer latest value), and thing.event.<id>.post with the SDK's malformed method."""

from __future__ import annotations

import datetime as dt

import pytest
from enos.core.message.IResponseCallback import IResponseCallback
from enos.message.upstream.resume.MeasurepointResumeBatchRequest import MeasurepointResumeBatchRequest
from enos.message.upstream.resume.MeasurepointResumeRequest import MeasurepointResumeRequest
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest
from enos.message.upstream.tsl.EventPostRequest import EventPostRequest
from enos.message.upstream.tsl.MeasurepointPostBatchRequest import MeasurepointPostBatchRequest
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest

from connectivity.models import LatestValue, ValueKind
from tests.waiting import wait_for

from .conftest import WAIT, at_ms, make_sub_devices, now_ms

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


def latest(device, identifier: str, kind: str = ValueKind.MEASUREPOINT) -> LatestValue | None:
    return LatestValue.objects.filter(device=device, kind=kind, identifier=identifier).first()


def history(device, identifier: str) -> list[tuple[dt.datetime, object]]:
    """The device's stored history of one measure point, oldest first (connectivity.models.ValueHistory)."""
    from connectivity.models import ValueHistory

    return list(ValueHistory.objects.filter(device=device, identifier=identifier).order_by("time")
                .values_list("time", "value"))


def login_sub(client, sub) -> None:
    request = SubDeviceLoginRequest.builder().set_sub_device_info(
        sub.product.product_key, sub.device_key, sub.device_secret).build()
    response = client.publish(request)
    assert response.get_code() == 200, response.get_message()


def post(device, points: dict, stamp: int):
    return (MeasurepointPostRequest.builder().set_product_key(device.product.product_key)
            .set_device_key(device.device_key).add_measurepoints(points).set_timestamp(stamp).build())


def resume(device, points: dict, stamp: int):
    return (MeasurepointResumeRequest.builder().set_product_key(device.product.product_key)
            .set_device_key(device.device_key).add_measure_points(points).set_timestamp(stamp).build())


def test_a_post_is_stored_as_the_latest_value_at_the_device_time(sdk, device):
    client = sdk.connected(device)
    stamp = now_ms() - 5_000
    response = client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", 12.5)
                              .add_measurepoint("running", True).set_timestamp(stamp).build())
    assert response.get_code() == 200, response.get_message()
    wait_for(lambda: latest(device, "running") is not None, WAIT)
    assert latest(device, "power").value == 12.5
    assert latest(device, "power").time == at_ms(stamp)


def test_a_post_answers_asynchronously_too(sdk, device):
    client = sdk.connected(device)
    answered: list = []

    class Callback(IResponseCallback):
        def on_response(self, response):
            answered.append(response.get_code())

        def on_failure(self, exception):
            answered.append(exception)

    client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", 3.0).build(), Callback())
    wait_for(lambda: answered, WAIT)
    assert answered == [200]


def test_a_batch_post_carries_many_devices_and_times_in_one_message(sdk, gateway, product):
    sub_a, sub_b = make_sub_devices(gateway, product, "sub-a", "sub-b")
    client = sdk.connected(gateway)
    login_sub(client, sub_a)
    login_sub(client, sub_b)
    t0 = now_ms() - 60_000
    request = (MeasurepointPostBatchRequest.builder()
               .add_request(post(gateway, {"power": 1.0}, t0))
               .add_request(post(sub_a, {"power": 2.0}, t0 + 1_000))
               .add_request(post(sub_a, {"power": 2.5}, t0 + 2_000))  # the same point, newer
               .add_request(post(sub_b, {"temperature": 40.0}, t0 + 3_000))
               .build())
    response = client.publish(request)
    assert response.get_code() == 200, response.get_message()
    wait_for(lambda: latest(sub_b, "temperature") is not None, WAIT)
    assert (latest(gateway, "power").value, latest(gateway, "power").time) == (1.0, at_ms(t0))
    assert (latest(sub_a, "power").value, latest(sub_a, "power").time) == (2.5, at_ms(t0 + 2_000))
    assert latest(sub_b, "temperature").time == at_ms(t0 + 3_000)


def test_a_batch_post_for_a_sub_device_that_is_not_logged_in_is_declined_whole(sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-offline")
    client = sdk.connected(gateway)
    request = (MeasurepointPostBatchRequest.builder()
               .add_request(post(gateway, {"power": 1.0}, now_ms()))
               .add_request(post(sub, {"power": 2.0}, now_ms()))
               .build())
    response = client.publish(request)
    assert response.get_code() == 1212, (response.get_code(), response.get_message())  # "No sub-device permission"
    assert latest(gateway, "power") is None and latest(sub, "power") is None


def test_resumed_data_is_history_and_never_overwrites_a_newer_latest_value(sdk, device):
    client = sdk.connected(device)
    newest = now_ms()
    assert client.publish(post(device, {"power": 9.0}, newest)).get_code() == 200
    wait_for(lambda: latest(device, "power") is not None, WAIT)
    cached = [newest - 30_000, newest - 20_000]
    for stamp, value in zip(cached, [1.0, 2.0], strict=True):
        response = client.publish(resume(device, {"power": value}, stamp))
        assert response.get_code() == 200, response.get_message()
    wait_for(lambda: len(history(device, "power")) == 2, WAIT)
    assert history(device, "power") == [(at_ms(cached[0]), 1.0), (at_ms(cached[1]), 2.0)]
    assert (latest(device, "power").value, latest(device, "power").time) == (9.0, at_ms(newest))


def test_resumed_data_newer_than_the_latest_value_becomes_the_latest(sdk, device):
    client = sdk.connected(device)
    stamp = now_ms()
    response = client.publish(MeasurepointResumeRequest.builder()
                              .add_measure_point_with_quality("temperature", 21.5, 9).set_timestamp(stamp).build())
    assert response.get_code() == 200, response.get_message()
    wait_for(lambda: latest(device, "temperature") is not None, WAIT)
    assert latest(device, "temperature").time == at_ms(stamp)
    assert history(device, "temperature") == [(at_ms(stamp), latest(device, "temperature").value)]


def test_a_resume_batch_keeps_each_device_and_time(sdk, gateway, product):
    sub_a, sub_b = make_sub_devices(gateway, product, "sub-a", "sub-b")
    client = sdk.connected(gateway)
    login_sub(client, sub_a)
    login_sub(client, sub_b)
    t0 = now_ms() - 600_000
    request = (MeasurepointResumeBatchRequest.builder()
               .add_request(resume(sub_a, {"power": 1.0}, t0))
               .add_request(resume(sub_a, {"power": 1.5}, t0 + 60_000))
               .add_request(resume(sub_b, {"power": 7.0}, t0 + 120_000))
               .add_request(resume(gateway, {"power": 3.0}, t0 + 180_000))
               .set_allow_offline_sub_device(False).set_skip_invalid_measurepoints(False)
               .build())
    response = client.publish(request)
    assert response.get_code() == 200, response.get_message()
    wait_for(lambda: len(history(gateway, "power")) == 1, WAIT)
    assert history(sub_a, "power") == [(at_ms(t0), 1.0), (at_ms(t0 + 60_000), 1.5)]
    assert history(sub_b, "power") == [(at_ms(t0 + 120_000), 7.0)]
    wait_for(lambda: latest(sub_a, "power") is not None, WAIT)  # latest values are flushed each second
    assert latest(sub_a, "power").value == 1.5


def test_an_event_post_with_the_sdk_method_is_stored(sdk, device):
    client = sdk.connected(device)
    request = (EventPostRequest.builder().set_event_identifier("fault").add_value("fault", "overheat")
               .set_timestamp(now_ms()).build())
    assert request.get_method() == "thing.event.%s.postfault"  # the SDK's malformed method, on the right topic
    response = client.publish(request)
    assert response.get_code() == 200, response.get_message()
    wait_for(lambda: latest(device, "fault", ValueKind.EVENT) is not None, WAIT)
