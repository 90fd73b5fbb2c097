"""The endpoints an EMQX cluster calls, with requests in the shapes EMQX 5 sends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity import services
from connectivity.models import CommandStatus, DeviceSession, LatestValue
from connectivity.transports import emqx_api

from .conftest import closing

TOKEN = "emqx-shared-token"


@pytest.fixture(autouse=True)
def emqx_configured(settings):
    settings.EMQX_WEBHOOK_TOKEN = TOKEN


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(emqx_api, "publish", lambda topic, message, qos=0: sent.append((topic, message)) or True)
    return sent


def post(client, name: str, body: dict, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(f"/api/emqx/{name}/", json.dumps(body), content_type="application/json", **headers)


def credentials(device: Device, secret: str | None = None, **kwargs) -> dict:
    fields = p.mqtt_connect_fields(device.product.product_key, device.device_key,
                                   secret or device.device_secret, **kwargs)
    return {"clientid": fields["client_id"], "username": fields["username"], "password": fields["password"],
            "peerhost": "10.0.0.7"}


def connected(client, device: Device) -> dict:
    creds = credentials(device)
    assert post(client, "authenticate", creds).json()["result"] == "allow"
    event = {"event": "client.connected", "clientid": creds["clientid"], "username": creds["username"],
             "keepalive": 60, "clean_start": True, "proto_ver": 4, "connected_at": p.now_ms(),
             "peername": "10.0.0.7:51234", "node": "emqx@10.0.0.1", "timestamp": p.now_ms()}
    assert post(client, "webhook", event).json() == {"handled": True}
    return creds


def publish_event(creds: dict, topic: str, message: dict) -> dict:
    return {"event": "message.publish", "id": "0006157A3B6F1B2FF445000003F20001", "clientid": creds["clientid"],
            "username": creds["username"], "topic": topic, "payload": json.dumps(message), "qos": 0,
            "flags": {"retain": False, "dup": False}, "pub_props": {}, "peerhost": "10.0.0.7",
            "publish_received_at": p.now_ms(), "timestamp": p.now_ms(), "node": "emqx@10.0.0.1"}


def test_authentication_allows_a_good_sign_and_denies_the_rest(client, device):
    assert post(client, "authenticate", credentials(device)).json() == {"result": "allow", "is_superuser": False}
    assert post(client, "authenticate", credentials(device, secret="wrong")).json() == {"result": "deny"}
    assert post(client, "authenticate", {"clientid": "plain", "username": "x", "password": "y"}).json() == \
        {"result": "deny"}
    asset_services.disable_device(device.ou.owner, device)
    assert post(client, "authenticate", credentials(device)).json() == {"result": "deny"}


def test_the_endpoints_need_the_token_and_are_off_without_one(client, device, settings):
    assert post(client, "authenticate", credentials(device), token="guess").status_code == 401
    assert post(client, "authenticate", credentials(device), token=None).status_code == 401
    assert client.get("/api/emqx/authenticate/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    settings.EMQX_WEBHOOK_TOKEN = ""
    assert post(client, "authenticate", credentials(device)).status_code == 404


def test_connected_and_disconnected_webhooks_drive_online_and_offline(client, device):
    creds = connected(client, device)
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE and device.activated_at is not None
    assert DeviceSession.objects.get(device=device).client_id == creds["clientid"]
    event = {"event": "client.disconnected", "clientid": creds["clientid"], "username": creds["username"],
             "reason": "keepalive_timeout", "disconnected_at": p.now_ms() + 1000, "node": "emqx@10.0.0.1"}
    assert post(client, "webhook", event).json() == {"handled": True}
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE


def test_a_late_disconnect_of_an_older_connection_changes_nothing(client, device):
    creds = connected(client, device)
    event = {"event": "client.disconnected", "clientid": creds["clientid"], "reason": "takenover",
             "disconnected_at": p.now_ms() - 60_000}
    assert post(client, "webhook", event).json() == {"handled": False}
    device.refresh_from_db()
    assert device.online


def test_authorization_allows_only_the_devices_own_topics(client, device, product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="I2",
                                  attributes={"serial": "x"})
    creds = connected(client, device)
    own = p.topic_for(product.product_key, device.device_key, p.MEASUREPOINT_POST)
    theirs = p.topic_for(product.product_key, other.device_key, p.MEASUREPOINT_POST)

    def decide(topic: str, action: str) -> str:
        body = {"clientid": creds["clientid"], "username": creds["username"], "topic": topic, "action": action}
        return post(client, "authorize", body).json()["result"]

    assert decide(own, "publish") == "allow"
    assert decide(theirs, "publish") == "deny"
    assert decide(f"/sys/{product.product_key}/{device.device_key}/#", "subscribe") == "allow"
    assert decide("/sys/#", "subscribe") == "deny"
    assert decide(own, "retain") == "deny"


def test_a_published_report_is_handled_and_answered_through_emqx(client, device, published):
    creds = connected(client, device)
    topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST)
    message = p.request("77", p.MEASUREPOINT_POST, {"measurepoints": {"power": 9.5}})
    response = post(client, "webhook", publish_event(creds, topic, message))
    assert response.json()["reply"]["code"] == 200
    assert published == [(f"{topic}_reply", {"id": "77", "code": 200, "data": {}, "message": "success"})]
    assert LatestValue.objects.get(device=device, identifier="power").value == 9.5
    bad = p.request("78", p.MEASUREPOINT_POST, {"measurepoints": {"voltage": 1}})
    assert post(client, "webhook", publish_event(creds, topic, bad)).json()["reply"]["code"] == p.INVALID_VALUE


def test_an_empty_or_non_json_payload_through_emqx_is_answered_with_its_code(client, device, published):
    creds = connected(client, device)
    topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST)
    for payload, code, message in [("", p.PAYLOAD_EMPTY, "The payload is empty."),
                                   ("{not json", p.PAYLOAD_FORMAT_ERROR, "The payload is not JSON.")]:
        event = {**publish_event(creds, topic, {}), "payload": payload}
        reply = post(client, "webhook", event).json()["reply"]
        assert (reply["code"], reply["message"]) == (code, message)
    assert [(sent_topic, answer["code"]) for sent_topic, answer in published] == [
        (f"{topic}_reply", p.PAYLOAD_EMPTY), (f"{topic}_reply", p.PAYLOAD_FORMAT_ERROR)]
    assert not LatestValue.objects.filter(device=device).exists()


def test_a_gateway_behind_emqx_logs_its_sub_devices_in(client, gateway, device, published):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    device.refresh_from_db()
    creds = connected(client, gateway)
    login_topic = p.topic_for(gateway.product.product_key, gateway.device_key, p.COMBINE_LOGIN)
    login = p.request("1", p.COMBINE_LOGIN, p.login_params(device.product.product_key, device.device_key,
                                                           device.device_secret))
    assert post(client, "webhook", publish_event(creds, login_topic, login)).json()["reply"]["code"] == 200
    device.refresh_from_db()
    assert device.online
    sub_topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST)
    body = {"clientid": creds["clientid"], "username": creds["username"], "topic": sub_topic, "action": "publish"}
    assert post(client, "authorize", body).json()["result"] == "allow"
    post(client, "webhook", {"event": "client.disconnected", "clientid": creds["clientid"], "reason": "normal"})
    device.refresh_from_db()
    assert not device.online


def test_dynamic_activation_through_emqx_publishes_the_secret(client, device, product, published):
    product.dynamic_activation = True
    product.save()
    creds = credentials(device, secret=product.product_secret, secure_mode=p.DYNAMIC_ACTIVATION)
    assert post(client, "authenticate", creds).json()["result"] == "allow"
    post(client, "webhook", {"event": "client.connected", "clientid": creds["clientid"],
                             "username": creds["username"]})
    topic, info = published[0]
    assert topic.endswith("/thing/activate/info") and info["params"]["deviceSecret"] == device.device_secret
    assert post(client, "authenticate", creds).json()["result"] == "deny"  # 771 from now on


def test_disabling_a_device_behind_emqx_asks_emqx_to_disconnect_it(client, device, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    kicked: list[str] = []
    monkeypatch.setattr(emqx_api, "kick", lambda client_id: kicked.append(client_id) or True)
    creds = connected(client, device)
    with django_capture_on_commit_callbacks(execute=True):
        asset_services.disable_device(device.ou.owner, device)
    assert kicked == [creds["clientid"]]


@pytest.mark.django_db(transaction=True)
def test_a_command_to_a_device_behind_emqx_goes_through_its_api(client, device, writer, published):
    creds = connected(client, device)

    def device_answers():
        for _ in range(200):
            if published:
                topic, command = published[0]
                reply_event = publish_event(creds, f"{topic}_reply", {"id": command["id"], "code": 200, "data": {}})
                post(client, "webhook", reply_event)
                return
            threading.Event().wait(0.02)

    helper = threading.Thread(target=closing(device_answers))
    helper.start()
    invocation = services.invoke_service(writer, device, "restart", {"delay": 1}, timeout=5)
    helper.join()
    assert invocation.status == CommandStatus.OK
    assert published[0][0] == p.topic_for(device.product.product_key, device.device_key, "thing.service.restart")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, bytes]] = []

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        self.send_response(200 if self.command == "POST" else 204)
        self.end_headers()

    do_POST = do_DELETE = _record  # noqa: N815

    def log_message(self, *args) -> None:
        pass


def test_the_emqx_api_client_speaks_emqx_v5(settings):
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              kwargs={"poll_interval": 0.05})  # shutdown() waits out one poll (0.5 s by default)
    thread.start()
    try:
        settings.EMQX_API_URL = f"http://127.0.0.1:{server.server_port}/api/v5"
        settings.EMQX_API_KEY, settings.EMQX_API_SECRET = "key", "secret"
        assert emqx_api.publish("/sys/pk/dk/thing/service/restart", {"id": "cmd-1"})
        assert emqx_api.kick("dk|securemode=2,signmethod=sha256,timestamp=1|")
    finally:
        server.shutdown()
    (method, path, auth, body), (kick_method, kick_path, _, _) = _Recorder.seen
    assert (method, path, auth) == ("POST", "/api/v5/publish", "Basic a2V5OnNlY3JldA==")
    assert json.loads(body) == {"topic": "/sys/pk/dk/thing/service/restart", "payload": '{"id": "cmd-1"}',
                                "qos": 0, "payload_encoding": "plain"}
    assert (kick_method, kick_path) == ("DELETE", "/api/v5/clients/dk%7Csecuremode%3D2%2Csignmethod%3Dsha256%2C"
                                                  "timestamp%3D1%7C")


def test_two_hundred_reconnects_through_emqx_end_online_whichever_webhook_comes_first(client, device):
    """EMQX may report an old connection's end after the new one's start, or before it: either way the
    newest connection owns the device's status."""
    def connect(stamp: int) -> dict:
        creds = credentials(device, timestamp=stamp)
        assert post(client, "authenticate", creds).json()["result"] == "allow"
        event = {"event": "client.connected", "clientid": creds["clientid"], "username": creds["username"],
                 "connected_at": p.now_ms(), "timestamp": p.now_ms()}
        assert post(client, "webhook", event).json() == {"handled": True}
        return creds

    def disconnect(creds: dict, at_ms: int) -> None:
        post(client, "webhook", {"event": "client.disconnected", "clientid": creds["clientid"],
                                 "username": creds["username"], "reason": "keepalive_timeout",
                                 "disconnected_at": at_ms, "timestamp": at_ms})

    base = p.now_ms()
    current = connect(base)
    for cycle in range(1, 201):
        if cycle % 2:  # the new connection is reported first, the old one's end after it
            dropped_at = p.now_ms()
            fresh = connect(base + cycle)
            disconnect(current, dropped_at)
        else:  # the old one's end first, then the new connection
            disconnect(current, p.now_ms())
            fresh = connect(base + cycle)
        current = fresh
        device.refresh_from_db()
        assert device.status == DeviceStatus.ONLINE, f"cycle {cycle}"
        assert DeviceSession.objects.get(device=device).client_id == current["clientid"]
