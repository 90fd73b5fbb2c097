"""The fixed cast every test speaks of: an owner (OU admin), a writer (asset manager), a viewer
(asset viewer) of OU "Acme", an outsider who belongs only to OU "Globex", and anonymous.

`acme` has a thing model, a Device product, a Gateway product and a few devices.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client
from django.utils import translation

from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit, User
from accounts.services import create_ou, set_membership
from assets.models import Device, Product, ProductType, ThingModel

# The test process itself holds no connection pool (the servers and workers it starts keep theirs:
# tests/test_db_connections.py checks the pool there). Each scenario of the connectivity tests runs
# its own event loop, whose worker threads end with it; a pooled connection such a thread held is
# never given back, and after ten tests the pool is empty (PoolTimeout).
connections.settings["default"].setdefault("OPTIONS", {}).pop("pool", None)

PASSWORD = "correct-horse-battery"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/6"

MODEL_ATTRIBUTES = [
    {"identifier": "serial", "name": "Serial number", "data_type": "string", "required": True,
     "spec": {"max_length": 32}},
    {"identifier": "capacity", "name": "Capacity", "data_type": "double", "spec": {"min": 0, "max": 5000}},
    {"identifier": "phase", "name": "Phase", "data_type": "enum", "spec": {"values": {"1": "single", "3": "three"}}},
    {"identifier": "commissioned", "name": "Commissioned", "data_type": "date"},
]
MODEL_MEASUREPOINTS = [
    {"identifier": "power", "name": "Active power", "data_type": "double", "spec": {"unit": "kW"}},
    {"identifier": "temperature", "name": "Temperature", "data_type": "float", "spec": {"min": -50, "max": 150}},
    {"identifier": "running", "name": "Running", "data_type": "bool"},
]
MODEL_SERVICES = [
    {"identifier": "restart", "name": "Restart", "input": [
        {"identifier": "delay", "name": "Delay (s)", "data_type": "int32", "spec": {"min": 0, "max": 3600}}],
     "output": []},
]


def pytest_collection_modifyitems(config, items) -> None:
    # the browser tests last: their session-wide Playwright leaves an event loop running in the
    # main thread, after which async_to_sync refuses to run
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # the default hasher spends ~0.5 s per password by design; tests need no such protection
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def default_language() -> None:
    """Each test starts in the default language: LocaleMiddleware leaves the language of a test's last request
    active in the thread, and a test without requests after one in Chinese would read Chinese messages."""
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fresh_throttles() -> None:
    """No test inherits another's login failures, rate counts or SMS quotas (accounts.throttle)."""
    from accounts import throttle

    throttle.reset_all()


@pytest.fixture
def redis_everywhere(settings, monkeypatch) -> str:
    """This process and the servers and workers it starts all speak through Redis: the channel layer,
    the traced-set stamp (the "tracing" cache) and, by REDIS_URL in the environment they inherit, the
    broker. Yields that URL; skips the test where no Redis answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]}}}
    settings.CACHES = {**settings.CACHES, "tracing": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                      "LOCATION": REDIS_URL}}
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    return REDIS_URL


def make_user(username: str, phone: str = "") -> User:
    return User.objects.create_user(username=username, password=PASSWORD, phone=phone,
                                    email=f"{username}@example.com")


@pytest.fixture
def owner(db) -> User:
    return make_user("owner", "+8613800000001")


@pytest.fixture
def writer(db) -> User:
    return make_user("writer")


@pytest.fixture
def viewer(db) -> User:
    return make_user("viewer")


@pytest.fixture
def outsider(db) -> User:
    return make_user("outsider", "+8613800000009")


@pytest.fixture
def acme(owner, writer, viewer) -> OrganizationUnit:
    ou = create_ou(SYSTEM, "Acme", owner)
    set_membership(SYSTEM, ou, writer, "asset_manager")
    set_membership(SYSTEM, ou, viewer, "asset_viewer")
    return ou


@pytest.fixture
def globex(outsider) -> OrganizationUnit:
    return create_ou(SYSTEM, "Globex", outsider)


@pytest.fixture
def thing_model(acme) -> ThingModel:
    return ThingModel.objects.create(
        ou=acme, model_id="inverter", name="Inverter", attributes=MODEL_ATTRIBUTES,
        measurepoints=MODEL_MEASUREPOINTS, services=MODEL_SERVICES,
        events=[{"identifier": "fault", "name": "Fault", "data_type": "string"}],
    )


@pytest.fixture
def product(acme, thing_model) -> Product:
    return Product.objects.create(ou=acme, name="Inverter", model=thing_model, product_type=ProductType.DEVICE)


@pytest.fixture
def gateway_product(acme, thing_model) -> Product:
    return Product.objects.create(ou=acme, name="Edge gateway", model=thing_model,
                                  product_type=ProductType.GATEWAY)


@pytest.fixture
def device(product) -> Device:
    return Device.objects.create(ou=product.ou, product=product, device_key="inv-0001", name="Inverter 1",
                                 attributes={"serial": "SN-1"})


@pytest.fixture
def gateway(gateway_product) -> Device:
    return Device.objects.create(ou=gateway_product.ou, product=gateway_product, device_key="gw-0001",
                                 name="Gateway 1", attributes={"serial": "GW-1"})


@pytest.fixture
def globex_device(globex) -> Device:
    model = ThingModel.objects.create(ou=globex, model_id="meter", name="Meter")
    product = Product.objects.create(ou=globex, name="Meter", model=model)
    return Device.objects.create(ou=globex, product=product, device_key="meter-0001", name="Meter 1")


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def cast(owner, writer, viewer, outsider, acme, globex) -> dict[str, User | None]:
    """The four roles of the OU matrix, by name."""
    return {"writer": writer, "viewer": viewer, "outsider": outsider, "anonymous": None}
