"""Connectivity settings: a Django setting of the same name wins, then the environment, then the default."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

_read: dict[str, Any] = {}  # read once per process: these are asked on every device message


def _value(name: str, default: Any, cast: type = str) -> Any:
    if name in _read:
        return _read[name]
    if hasattr(settings, name):
        value = getattr(settings, name)
    else:
        raw = os.environ.get(name)
        value = default if raw is None or raw == "" else cast(raw)
    _read[name] = value
    return value


def _forget(setting: str, **kwargs: Any) -> None:
    _read.pop(setting, None)  # tests override settings


setting_changed.connect(_forget, dispatch_uid="connectivity.conf")


def sign_window_seconds() -> int:
    """How far a login's timestamp may be from the portal's clock (either way); 0 (the default) does not
    check it, as EnOS does not: the official SDK signs once and re-sends that timestamp at every reconnect."""
    return _value("CONNECTIVITY_SIGN_WINDOW_SECONDS", 0, int)


def keepalive_seconds() -> int:
    """A connection with no message for this long (×1.5) is closed and its device goes offline."""
    return _value("CONNECTIVITY_KEEPALIVE_SECONDS", 60, int)


def login_timeout_seconds() -> float:
    return _value("CONNECTIVITY_LOGIN_TIMEOUT_SECONDS", 10.0, float)


def command_timeout_seconds() -> float:
    return _value("CONNECTIVITY_COMMAND_TIMEOUT_SECONDS", 10.0, float)


def session_heartbeat_seconds() -> float:
    """How often a server process marks its live sessions as alive; three missed beats end them."""
    return _value("CONNECTIVITY_SESSION_HEARTBEAT_SECONDS", 60.0, float)


def latest_flush_seconds() -> float:
    """How often connections write buffered latest values (one batched upsert per interval)."""
    return _value("CONNECTIVITY_LATEST_FLUSH_SECONDS", 1.0, float)


def model_cache_seconds() -> float:
    return _value("CONNECTIVITY_MODEL_CACHE_SECONDS", 10.0, float)


def mqtt_bind() -> str:
    return _value("MQTT_BIND", "127.0.0.1")


def mqtt_port() -> int:
    return _value("MQTT_PORT", 11883, int)


def broker_sweep_seconds() -> float:
    """How often the MQTT broker re-checks its sessions against the database (disabled, secret reset,
    commands waiting): the safety net under channel-layer pushes, and the only path without Redis."""
    return _value("MQTT_BROKER_SWEEP_SECONDS", 2.0, float)


def emqx_webhook_token() -> str:
    """The bearer token EMQX must send to the portal's EMQX endpoints; empty turns them off."""
    return _value("EMQX_WEBHOOK_TOKEN", "")


def emqx_api_url() -> str:
    """EMQX's REST API (e.g. http://emqx:18083/api/v5): replies and commands are published through it."""
    return _value("EMQX_API_URL", "")


def emqx_api_key() -> str:
    return _value("EMQX_API_KEY", "")


def emqx_api_secret() -> str:
    return _value("EMQX_API_SECRET", "")


def rabbitmq_auth_secret() -> str:
    """The secret in the path RabbitMQ's HTTP auth backend calls (auth_http.*_path); empty turns them off."""
    return _value("RABBITMQ_AUTH_SECRET", "")


def rabbitmq_auth_networks() -> str:
    """The addresses the auth backend endpoints answer (comma-separated networks): the brokers' own."""
    return _value("RABBITMQ_AUTH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")


def rabbitmq_amqp_url() -> str:
    """Where bridges consume and publish (amqp://user:password@host:5672/%2F)."""
    return _value("RABBITMQ_AMQP_URL", "")


def rabbitmq_management_url() -> str:
    """RabbitMQ's management API (http://user:password@host:15672): kicks, and commands from the portal."""
    return _value("RABBITMQ_MANAGEMENT_URL", "")


def rabbitmq_shards() -> int:
    """How many queues device messages are hashed over (per-device order within a queue); fixed per deployment."""
    return _value("RABBITMQ_SHARDS", 8, int)
