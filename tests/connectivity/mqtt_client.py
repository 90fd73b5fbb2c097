"""A paho-mqtt device for tests against the real broker process."""

from __future__ import annotations

import itertools
import json
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt

from connectivity import protocol as p
from tests.processes import free_port, new_log, running, subprocess_env

NOT_AUTHORIZED = 5  # CONNACK return code 5 "not authorized" (MQTT 3.1.1)


def new_client(**kwargs: Any) -> mqtt.Client:
    """A paho client with the callback signatures of paho 1.x, on paho 1.x (which the official EnOS
    SDK needs) and on paho 2.x alike."""
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho >= 2
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
    return mqtt.Client(**kwargs)


@contextmanager
def mqtt_broker(**extra_env: str) -> Iterator[int]:
    """`manage.py run_mqtt_broker` as a real process sharing the test database; yields its port."""
    port = free_port()
    env = subprocess_env(MQTT_BROKER_SWEEP_SECONDS="0.3", CONNECTIVITY_LATEST_FLUSH_SECONDS="0.1", **extra_env)
    with running([sys.executable, "manage.py", "run_mqtt_broker", "--port", str(port)], new_log("mqtt-broker"),
                 "MQTT broker listening", env):
        yield port


class PahoDevice:
    """One device over MQTT: CONNECT with the EnOS sign, publish requests, wait for replies."""

    def __init__(self, port: int, product_key: str, device_key: str, secret: str, *, keepalive: int = 60,
                 secure_mode: int = p.STATIC_ACTIVATION) -> None:
        self.port, self.product_key, self.device_key = port, product_key, device_key
        fields = p.mqtt_connect_fields(product_key, device_key, secret, secure_mode=secure_mode)
        self.client = new_client(client_id=fields["client_id"], protocol=mqtt.MQTTv311, clean_session=True)
        self.client.username_pw_set(fields["username"], fields["password"])
        self.keepalive = keepalive
        self.messages: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.connack: queue.Queue[Any] = queue.Queue()
        self.disconnected = threading.Event()
        self.ids = itertools.count(1)
        self.client.on_connect = lambda c, u, flags, code: self.connack.put(code)
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, json.loads(msg.payload)))
        self.client.on_disconnect = lambda *args: self.disconnected.set()

    def connect(self) -> int:
        """The MQTT 3.1.1 CONNACK return code (0 = accepted, NOT_AUTHORIZED = refused)."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.client.loop_start()
        return int(self.connack.get(timeout=10))

    def subscribe(self, topic_filter: str) -> int:
        """The SUBACK code of the filter: the granted QoS, or 0x80 when refused."""
        granted: queue.Queue = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, codes: granted.put(codes[0])
        self.client.subscribe(topic_filter)
        return int(granted.get(timeout=5))

    def publish(self, method: str, params: Any, *, product_key: str | None = None, device_key: str | None = None,
                topic: str | None = None) -> str:
        request_id = str(next(self.ids))
        topic = topic or p.topic_for(product_key or self.product_key, device_key or self.device_key, method)
        self.client.publish(topic, json.dumps(p.request(request_id, method, params))).wait_for_publish(5)
        return request_id

    def call(self, method: str, params: Any, **where: Any) -> dict:
        request_id = self.publish(method, params, **where)
        return self.expect(lambda topic, message: message.get("id") == request_id)[1]

    def expect(self, match: Any, timeout: float = 5) -> tuple[str, dict]:
        while True:
            topic, message = self.messages.get(timeout=timeout)
            if match(topic, message):
                return topic, message

    def nothing(self, timeout: float = 0.5) -> bool:
        try:
            self.messages.get(timeout=timeout)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def stop_talking(self) -> None:
        """Keep the socket open but send nothing more (no PINGREQ): a device that hangs."""
        self.client.loop_stop()
