"""CONNECT as the SDK sends it: every sign method it offers, its decimal timestamp and an integer one,
EnOS's other sign-method spellings in any case, and dynamic activation (secure mode 3)."""

from __future__ import annotations

import hashlib
import queue

import pytest

from assets.models import DeviceStatus
from tests.connectivity.mqtt_client import NOT_AUTHORIZED, new_client
from tests.waiting import wait_for

from .conftest import WAIT, now_ms, status_of

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("sign_method", ["hmacsha256", "hmacsha1", "hmacmd5"])
def test_the_sdk_logs_in_with_each_of_its_sign_methods_and_goes_offline_on_close(sdk, device, sign_method):
    client = sdk.connected(device, sign_method=sign_method)
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, WAIT)
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, WAIT)


def test_the_sdk_timestamp_has_decimals_and_an_integer_one_is_accepted_too(sdk, device):
    decimal = sdk.client(device)
    assert "." in decimal.get_profile().get_client_id().split("timestamp=")[1]  # what the SDK really sends
    decimal.connect()
    assert decimal.is_connected()
    decimal.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, WAIT)
    sdk.connected(device, timestamp=str(now_ms()))
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, WAIT)


def test_a_wrong_secret_is_refused_and_the_device_stays_inactive(sdk, device):
    client, connack = sdk.refused(device, secret="not-the-secret")
    assert connack == NOT_AUTHORIZED
    assert not client.is_connected()
    assert status_of(device) == DeviceStatus.INACTIVE


def raw_connect(port: int, device, sign_method: str, hex_case: str) -> int:
    """CONNECT signed the EnOS way with a sign-method name the SDK cannot send (its names are exact)."""
    stamp = str(now_ms())
    pk, dk, secret = device.product.product_key, device.device_key, device.device_secret
    digest = {"sha256": "sha256", "sha1": "sha1", "md5": "md5"}[sign_method.lower().removeprefix("hmac")]
    content = f"clientId{dk}deviceKey{dk}productKey{pk}timestamp{stamp}{secret}"
    password = hashlib.new(digest, content.encode()).hexdigest()
    password = password.upper() if hex_case == "upper" else password
    client = new_client(client_id=f"{dk}|securemode=2,signmethod={sign_method},timestamp={stamp}|",
                        clean_session=True)
    client.username_pw_set(f"{dk}&{pk}", password)
    connack: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda c, u, flags, code: connack.put(code)
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    try:
        return int(connack.get(timeout=WAIT))
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize(("sign_method", "hex_case"), [
    ("sha256", "upper"), ("SHA256", "lower"), ("HmacSHA256", "upper"), ("sha1", "upper"), ("HMACSHA1", "lower"),
    ("md5", "lower"), ("HmacMD5", "upper"),
])
def test_every_enos_sign_method_name_in_any_case_with_either_hex_case(settled_mqtt_broker, device, sign_method,
                                                                      hex_case):
    assert raw_connect(settled_mqtt_broker, device, sign_method, hex_case) == 0
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, WAIT)


def test_an_unknown_sign_method_is_refused(settled_mqtt_broker, device):
    client = new_client(client_id=f"{device.device_key}|securemode=2,signmethod=crc32,timestamp={now_ms()}|")
    client.username_pw_set(f"{device.device_key}&{device.product.product_key}", "00000000")
    connack: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda c, u, flags, code: connack.put(code)
    client.connect("127.0.0.1", settled_mqtt_broker, keepalive=60)
    client.loop_start()
    try:
        assert int(connack.get(timeout=WAIT)) == NOT_AUTHORIZED
    finally:
        client.disconnect()
        client.loop_stop()
    assert status_of(device) == DeviceStatus.INACTIVE


def test_dynamic_activation_delivers_the_secret_and_the_device_is_online_only_after_logging_in_with_it(
        sdk, device, product):
    product.dynamic_activation = True
    product.save()
    secrets: queue.Queue[str] = queue.Queue()
    activating = sdk.client(device, product_secret=product.product_secret, auto_reconnect=False)
    assert "securemode=3" in activating.get_profile().get_client_id()
    activating.on_device_dynamic_active = secrets.put
    activating.connect()
    assert activating.is_connected()
    secret = secrets.get(timeout=WAIT)  # from /ext/session/{pk}/{dk}/thing/activate/info
    assert secret == device.device_secret
    assert status_of(device) != DeviceStatus.ONLINE
    activating.close()
    sdk.connected(device, secret=secret)
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, WAIT)


def test_dynamic_activation_is_refused_where_the_product_does_not_allow_it(sdk, device, product):
    assert not product.dynamic_activation
    client, connack = sdk.refused(device, product_secret=product.product_secret)
    assert connack == NOT_AUTHORIZED
    assert not client.is_connected()
    assert status_of(device) == DeviceStatus.INACTIVE
