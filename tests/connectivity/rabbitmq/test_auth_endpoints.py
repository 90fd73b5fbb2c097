"""The HTTP auth backend endpoints RabbitMQ calls, as RabbitMQ 3.10 calls them (form-encoded POST,
plain-text allow/deny): no broker needed here; tests/connectivity/rabbitmq/test_devices.py runs them for real."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assets.models import Device
from connectivity import protocol as p
from tracing import services as tracing
from tracing.models import TraceLog

pytestmark = pytest.mark.django_db
SECRET = "broker-only-7f3a"


@pytest.fixture(autouse=True)
def configured(settings) -> None:
    settings.RABBITMQ_AUTH_SECRET = SECRET
    settings.RABBITMQ_AUTH_ALLOWED_NETWORKS = "127.0.0.0/8"


def ask(client, what: str, form: dict, *, secret: str = SECRET, address: str = "127.0.0.1"):
    return client.post(f"/api/rabbitmq/auth/{secret}/{what}/", form, REMOTE_ADDR=address)


def credentials(device: Device, secret: str | None = None) -> dict:
    fields = p.mqtt_connect_fields(device.product.product_key, device.device_key, secret or device.device_secret)
    return {"username": fields["username"], "password": fields["password"], "vhost": "/",
            "client_id": fields["client_id"]}


def test_the_endpoints_answer_only_the_broker_with_the_secret(client, device, settings):
    assert ask(client, "user", credentials(device)).content == b"allow"
    assert ask(client, "user", credentials(device), secret="guess").status_code == 403
    assert ask(client, "user", credentials(device), address="203.0.113.9").status_code == 403
    assert client.get(f"/api/rabbitmq/auth/{SECRET}/user/", REMOTE_ADDR="127.0.0.1").status_code == 405
    settings.RABBITMQ_AUTH_SECRET = ""
    assert ask(client, "user", credentials(device)).status_code == 404


def test_guessing_the_secret_is_rate_limited_per_address_and_the_broker_is_not_locked_out(client, device):
    for _ in range(20):
        assert ask(client, "vhost", {"username": "a&b", "vhost": "/"}, secret="guess").status_code == 403
    locked = ask(client, "vhost", {"username": "a&b", "vhost": "/"}, secret="guess")
    assert locked.status_code == 429 and locked.content == b"deny"
    # a guesser sharing the broker's address (NAT) must not cut every device off
    assert ask(client, "vhost", {"username": "a&b", "vhost": "/"}).content == b"allow"


def test_a_wrong_sign_is_denied_and_traced(client, device, writer):
    tracing.start_trace(writer, device, timedelta(hours=1))
    answer = ask(client, "user", credentials(device, secret="not-the-secret-at-all"))
    assert answer.status_code == 200 and answer.content == b"deny"
    assert TraceLog.objects.filter(code=p.SIGN_CHECK_FAILED).exists()


def test_a_disabled_device_is_denied(client, device):
    Device.objects.filter(pk=device.pk).update(enabled=False)
    assert ask(client, "user", credentials(device)).content == b"deny"


def test_the_user_check_is_one_query(client, device, django_assert_max_num_queries):
    form = credentials(device)
    with django_assert_max_num_queries(1):
        assert ask(client, "user", form).content == b"allow"


def test_a_device_reaches_only_its_own_topics(client, device, product):
    pk, dk = product.product_key, device.device_key
    form = {"username": f"{dk}&{pk}", "vhost": "/", "resource": "topic", "name": "amq.topic", "permission": "write"}
    own = f".sys.{pk}.{dk}.thing.measurepoint.post"
    assert ask(client, "topic", {**form, "routing_key": own}).content == b"allow"
    assert ask(client, "topic", {**form, "permission": "read", "routing_key": f".sys.{pk}.{dk}.#"}).content == b"allow"
    assert ask(client, "topic", {**form, "routing_key": f".sys.{pk}.other.thing.measurepoint.post"}).content == b"deny"
    assert ask(client, "topic", {**form, "permission": "read", "routing_key": ".sys.#"}).content == b"deny"
    assert ask(client, "topic", {**form, "name": "amq.direct", "routing_key": own}).content == b"deny"


def test_a_gateway_reaches_its_sub_devices_topics(client, gateway, device):
    Device.objects.filter(pk=device.pk).update(gateway=gateway)
    form = {"username": f"{gateway.device_key}&{gateway.product.product_key}", "vhost": "/", "resource": "topic",
            "name": "amq.topic", "permission": "write",
            "routing_key": f".sys.{device.product.product_key}.{device.device_key}.thing.measurepoint.post"}
    assert ask(client, "topic", form).content == b"allow"
    Device.objects.filter(pk=device.pk).update(gateway=None)
    assert ask(client, "topic", form).content == b"deny"


def test_resources_are_the_clients_own_subscription_queues_and_amq_topic(client, device):
    client_id = credentials(device)["client_id"]
    base = {"username": "a&b", "vhost": "/", "client_id": client_id}
    assert ask(client, "resource", {**base, "resource": "queue", "permission": "configure",
                                    "name": f"mqtt-subscription-{client_id}qos1"}).content == b"allow"
    assert ask(client, "resource", {**base, "resource": "queue", "permission": "read",
                                    "name": "enos.up.0"}).content == b"deny"
    assert ask(client, "resource", {**base, "resource": "exchange", "permission": "write",
                                    "name": "amq.topic"}).content == b"allow"
    assert ask(client, "resource", {**base, "resource": "exchange", "permission": "configure",
                                    "name": "amq.topic"}).content == b"deny"
    assert ask(client, "vhost", {"username": "a&b", "vhost": "/"}).content == b"allow"
    assert ask(client, "vhost", {"username": "a&b", "vhost": "other"}).content == b"deny"


@pytest.mark.django_db(transaction=True)
def test_the_portals_asgi_app_answers_the_broker_without_the_middleware_stack(device):
    from urllib.parse import urlencode

    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator

    from enos_portal.asgi import application

    async def post(path: str, form: dict) -> dict:
        body = urlencode(form).encode()
        communicator = ApplicationCommunicator(application, {
            "type": "http", "method": "POST", "path": path, "query_string": b"", "scheme": "http",
            "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)})
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(timeout=10)
        content = await communicator.receive_output(timeout=10)
        return {"status": start["status"], "headers": dict(start["headers"]), "body": content["body"]}

    answer = async_to_sync(post)(f"/api/rabbitmq/auth/{SECRET}/user/", credentials(device))
    assert (answer["status"], answer["body"]) == (200, b"allow")
    assert b"x-request-id" not in answer["headers"]  # RequestIdMiddleware, like the rest of the stack, was skipped
    wrong = async_to_sync(post)(f"/api/rabbitmq/auth/{SECRET}/user/", credentials(device, secret="x" * 20))
    assert wrong["body"] == b"deny"
