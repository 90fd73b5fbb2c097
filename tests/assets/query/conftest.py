"""A fleet for the query tests: typed attributes of every comparable data type, tags, times and sub-devices,
in Acme; and look-alike devices (same tags, same attribute names) in Globex that no Acme query may reach."""

from __future__ import annotations

import datetime as dt

import pytest

from assets.models import Device, Product, ProductType, ThingModel

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)

METER_ATTRIBUTES = [
    {"identifier": "capacity", "name": "Capacity", "data_type": "double"},
    {"identifier": "slots", "name": "Slots", "data_type": "int32"},
    {"identifier": "sealed", "name": "Sealed", "data_type": "bool"},
    {"identifier": "installed", "name": "Installed", "data_type": "date"},
    {"identifier": "calibrated", "name": "Calibrated", "data_type": "timestamp"},
    {"identifier": "serial", "name": "Serial", "data_type": "string"},
    {"identifier": "phase", "name": "Phase", "data_type": "enum", "spec": {"values": {"1": "single", "3": "three"}}},
    {"identifier": "layout", "name": "Layout", "data_type": "struct", "spec": {"fields": []}},
]
# a second model where "capacity" is text: its devices never match a numeric comparison
LABEL_ATTRIBUTES = [{"identifier": "capacity", "name": "Capacity", "data_type": "string"}]


def ms(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp() * 1000)


@pytest.fixture
def fleet(acme, globex, gateway_product) -> dict[str, Device]:
    meter_model = ThingModel.objects.create(ou=acme, model_id="meter", name="Meter", attributes=METER_ATTRIBUTES)
    label_model = ThingModel.objects.create(ou=acme, model_id="label", name="Label", attributes=LABEL_ATTRIBUTES)
    meter = Product.objects.create(ou=acme, name="Meter", model=meter_model, product_type=ProductType.DEVICE)
    label = Product.objects.create(ou=acme, name="Label", model=label_model)

    def make(key: str, product: Product = meter, **fields) -> Device:
        return Device.objects.create(ou=acme, product=product, device_key=key, name=fields.pop("name", key), **fields)

    gateway = make("gw-1", gateway_product, activated_at=NOW - dt.timedelta(days=30), online=True,
                   last_online_at=NOW - dt.timedelta(hours=1), tags={"site": "suzhou"})
    devices = {
        "big": make("big-1", attributes={"capacity": 1500.0, "slots": 8, "sealed": True, "installed": "2026-01-15",
                                         "calibrated": ms("2026-11-01T00:00:00"), "serial": "SN-100", "phase": 3},
                    tags={"site": "suzhou", "line": "a"}, activated_at=NOW - dt.timedelta(days=40), online=False,
                    last_online_at=NOW - dt.timedelta(days=10), last_offline_at=NOW - dt.timedelta(days=9),
                    gateway=gateway),
        "small": make("small-1", attributes={"capacity": 250, "slots": 2, "sealed": False, "installed": "2026-12-01",
                                             "serial": "SN-200", "phase": 1},
                      tags={"site": "shanghai", "line": "b"}, activated_at=NOW - dt.timedelta(days=2), online=True,
                      last_online_at=NOW - dt.timedelta(hours=3)),
        "odd": make("odd-1", attributes={"capacity": "lots", "slots": "8", "sealed": "yes", "installed": 20261201},
                    tags={"site": "suzhou"}, enabled=False),
        "bare": make("bare-1", name="Pump North"),
        "label": make("label-1", label, attributes={"capacity": "100"}, tags={"line": "a"}),
        "gateway": gateway,
    }
    # Globex: the same tags and attribute names, invisible to Acme's users
    globex_model = ThingModel.objects.create(ou=globex, model_id="meter", name="Meter", attributes=METER_ATTRIBUTES)
    globex_product = Product.objects.create(ou=globex, name="Meter", model=globex_model)
    devices["globex"] = Device.objects.create(
        ou=globex, product=globex_product, device_key="big-1", name="big-1",
        attributes={"capacity": 9000.0, "serial": "SN-100"}, tags={"site": "suzhou", "secret": "x"},
        activated_at=NOW - dt.timedelta(days=40), last_online_at=NOW - dt.timedelta(days=10))
    return devices
