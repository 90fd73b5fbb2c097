"""`manage.py load_demo_data`: two OUs with their people, a thing model, products and 220 devices.

Idempotent: everything is looked up by a stable key (usernames, OU names, model IDs, product
names within their OU, fixed deviceKeys) and only what is missing is created, so a second run
changes nothing. OUs, memberships, models and products go through the services like any other
write; devices are bulk-inserted with their connection state set directly (see `_seed_devices`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit, Role, User
from accounts.services import create_ou, set_membership
from assets import services
from assets.models import Device, DeviceStatus, Product, ProductType, ThingModel

DEMO_PASSWORD = "demo-password-1"
SUPPORT_USERNAME = "support"
DEVICES_PER_OU = 108  # plus two gateways: 110 per OU, 220 in all
SUB_DEVICES = 6  # the first devices of each OU hang under its first gateway

ATTRIBUTES = [
    {"identifier": "serial", "name": "Serial number", "data_type": "string", "required": True,
     "spec": {"max_length": 32}},
    {"identifier": "capacity", "name": "Rated capacity", "data_type": "double",
     "spec": {"min": 0, "max": 5000, "unit": "kW"}},
    {"identifier": "phase", "name": "Phase", "data_type": "enum", "spec": {"values": {"1": "single", "3": "three"}}},
    {"identifier": "commissioned", "name": "Commissioned", "data_type": "date"},
]
MEASUREPOINTS = [
    {"identifier": "power", "name": "Active power", "data_type": "double", "spec": {"unit": "kW"}},
    {"identifier": "temperature", "name": "Temperature", "data_type": "float",
     "spec": {"min": -50, "max": 150, "unit": "°C"}},
    {"identifier": "running", "name": "Running", "data_type": "bool"},
]
SERVICES = [
    {"identifier": "restart", "name": "Restart", "output": [],
     "input": [{"identifier": "delay", "name": "Delay (s)", "data_type": "int32", "spec": {"min": 0, "max": 3600}}]},
]
EVENTS = [{"identifier": "fault", "name": "Fault", "data_type": "string"}]

# one in ten disabled, two inactive, four online (once `run_portal` connects them), three offline
STATUS_CYCLE = (
    DeviceStatus.DISABLED, DeviceStatus.INACTIVE, DeviceStatus.INACTIVE,
    DeviceStatus.ONLINE, DeviceStatus.ONLINE, DeviceStatus.ONLINE, DeviceStatus.ONLINE,
    DeviceStatus.OFFLINE, DeviceStatus.OFFLINE, DeviceStatus.OFFLINE,
)


@dataclass(frozen=True)
class DemoOU:
    key: str  # prefixes usernames and deviceKeys
    name: str
    asset: str  # what its devices are
    model_id: str
    phones: tuple[str, str, str]  # OU admin (the owner), asset manager, asset viewer


DEMO_OUS = (
    DemoOU("east", "Solar Farm East", "Solar Inverter", "solar_inverter",
           ("+8613800001001", "+8613800001002", "+8613800001003")),
    DemoOU("west", "Wind Farm West", "Wind Turbine", "wind_turbine",
           ("+8613800002001", "+8613800002002", "+8613800002003")),
)
ROLES = (Role.OU_ADMIN, Role.ASSET_MANAGER, Role.ASSET_VIEWER)
ROLE_SUFFIX = {Role.OU_ADMIN: "admin", Role.ASSET_MANAGER: "manager", Role.ASSET_VIEWER: "viewer"}


def simulated_device_keys(spec: DemoOU) -> list[str]:
    """The deviceKeys of the OU's demo devices meant to look Online, which `run_portal` keeps connected
    through the simulator: the first gateway (with those of its sub-devices) and one device in
    `STATUS_CYCLE` of every ten. The loader itself leaves every device offline."""
    devices = [device_key(spec, n) for n in range(1, DEVICES_PER_OU + 1)
               if STATUS_CYCLE[n % len(STATUS_CYCLE)] == DeviceStatus.ONLINE]
    return [gateway_key(spec, 1), *devices]


def demo_username(spec: DemoOU, role: str) -> str:
    return f"{spec.key}-{ROLE_SUFFIX[role]}"


def device_key(spec: DemoOU, number: int) -> str:
    return f"{spec.key}-dev-{number:04d}"


def gateway_key(spec: DemoOU, number: int) -> str:
    return f"{spec.key}-gw-{number:04d}"


class Command(BaseCommand):
    help = "Load the demo OUs, users (password demo-password-1), thing models, products and devices."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            people = [self._support_user()]
            created_devices = 0
            for spec in DEMO_OUS:
                users = {role: _user(demo_username(spec, role), spec.phones[i]) for i, role in enumerate(ROLES)}
                ou = _ou(spec, users)
                model = _thing_model(spec, ou)
                device_product = _product(ou, model, spec.asset, ProductType.DEVICE)
                gateway_product = _product(ou, model, f"{spec.asset} Gateway", ProductType.GATEWAY)
                created_devices += _seed_devices(spec, ou, device_product, gateway_product)
                people += [(users[role].username, Role(role).label, ou.name) for role in ROLES]
        self._report(people, created_devices)

    def _support_user(self) -> tuple[str, str, str]:
        if not User.objects.filter(username=SUPPORT_USERNAME).exists():
            User.objects.create_superuser(SUPPORT_USERNAME, f"{SUPPORT_USERNAME}@example.com", DEMO_PASSWORD)
        return (SUPPORT_USERNAME, "superuser (Django admin)", "all OUs")

    def _report(self, people: list[tuple[str, str, str]], created_devices: int) -> None:
        self.stdout.write(f"Demo data loaded ({created_devices} device(s) created this run).\n")
        widths = [max(len(row[i]) for row in [("username", "role", "OU"), *people]) for i in range(3)]
        header = ("username", "role", "OU", "password")
        rows = [header, *[(*row, DEMO_PASSWORD) for row in people]]
        for index, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))
            if index == 0:
                self.stdout.write("  ".join("-" * w for w in (*widths, len(DEMO_PASSWORD))))


def _user(username: str, phone: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username=username, password=DEMO_PASSWORD, phone=phone,
                                        email=f"{username}@example.com")
    return user


def _ou(spec: DemoOU, users: dict[str, User]) -> OrganizationUnit:
    ou = OrganizationUnit.objects.filter(name=spec.name).order_by("pk").first()
    if ou is None:
        ou = create_ou(SYSTEM, spec.name, users[Role.OU_ADMIN])  # the owner becomes its OU admin
    for role in (Role.ASSET_MANAGER, Role.ASSET_VIEWER):
        set_membership(SYSTEM, ou, users[role], role)  # no-op (and no audit event) when already so
    return ou


def _thing_model(spec: DemoOU, ou: OrganizationUnit) -> ThingModel:
    model = ThingModel.objects.filter(ou=ou, model_id=spec.model_id).first()
    if model is None:
        model = services.create_model(
            SYSTEM, ou, model_id=spec.model_id, name=spec.asset, description=f"Demo model: {spec.asset.lower()}",
            attributes=ATTRIBUTES, measurepoints=MEASUREPOINTS, services=SERVICES, events=EVENTS)
    return model


def _product(ou: OrganizationUnit, model: ThingModel, name: str, product_type: str) -> Product:
    # the productKey is random: finding the product by (OU, name) keeps it stable across runs
    product = Product.objects.filter(ou=ou, name=name).order_by("pk").first()
    if product is None:
        product = services.create_product(SYSTEM, ou, model=model, name=name, product_type=product_type,
                                          description=f"Demo {product_type.lower()} product")
    return product


def _seed_devices(spec: DemoOU, ou: OrganizationUnit, product: Product, gateway_product: Product) -> int:
    """Insert the OU's missing demo devices; returns how many were created.

    This is seed data, not a user's write: the devices are bulk-inserted with their connection
    state (activated, last seen) set directly, which only the connectivity services do for real
    devices, so that the demo shows Disabled, Inactive and Offline devices at once. None is left
    Online: only a live connection makes a device Online (`run_portal` simulates those meant to be).
    """
    now = timezone.now()
    gateways = [
        _device(spec, ou, gateway_product, gateway_key(spec, 1), f"{spec.asset} Gateway 1",
                DeviceStatus.ONLINE, 1, now),
        _device(spec, ou, gateway_product, gateway_key(spec, 2), f"{spec.asset} Gateway 2",
                DeviceStatus.OFFLINE, 2, now),
    ]
    created = _insert_missing(gateway_product, gateways)
    hub = Device.objects.get(product=gateway_product, device_key=gateway_key(spec, 1))
    devices = []
    for number in range(1, DEVICES_PER_OU + 1):
        device = _device(spec, ou, product, device_key(spec, number), f"{spec.asset} {number:03d}",
                         STATUS_CYCLE[number % len(STATUS_CYCLE)], number, now)
        if number <= SUB_DEVICES:
            device.gateway = hub
        devices.append(device)
    created += _insert_missing(product, devices)
    if created:
        audit.record(SYSTEM, "device.seed", ou=ou, object_type="device", object_repr=f"{created} demo devices",
                     after={"created": created})
    return created


def _insert_missing(product: Product, devices: list[Device]) -> int:
    existing = set(Device.objects.filter(product=product).values_list("device_key", flat=True))
    missing = [device for device in devices if device.device_key not in existing]
    Device.objects.bulk_create(missing)
    return len(missing)


def _device(spec: DemoOU, ou: OrganizationUnit, product: Product, key: str, name: str, status: str,
            number: int, now: dt.datetime) -> Device:
    device = Device(
        ou=ou, product=product, device_key=key, name=name,
        description=f"Demo {spec.asset.lower()} #{number}",
        timezone="Asia/Shanghai" if number % 2 else "+08:00",
        attributes={
            "serial": f"{spec.key.upper()}-SN-{number:05d}",
            "capacity": float(100 + (number % 40) * 25),
            "phase": 3 if number % 4 else 1,
            "commissioned": (dt.date(2023, 1, 1) + dt.timedelta(days=number * 3)).isoformat(),
        },
        tags={"site": spec.key, "row": "ABCD"[number % 4], "area/zone": f"z{number % 3}"} if number % 3 == 0 else {},
        # oldest first, so the console's newest-first list starts with the last device
        created_at=now - dt.timedelta(days=60) + dt.timedelta(minutes=number),
    )
    activated = now - dt.timedelta(days=30 - number % 30)
    if status == DeviceStatus.DISABLED:
        device.enabled = False
        if number % 20 == 0:  # some disabled devices had been in service, some never connected
            device.activated_at, device.last_online_at, device.last_offline_at = (
                activated, activated, now - dt.timedelta(days=1))
    elif status == DeviceStatus.ONLINE:
        # meant to look Online, but no device is shown Online without a live connection: it was online
        # until a few minutes ago, and `run_portal` connects it again through the simulator
        device.activated_at = activated
        device.last_offline_at = now - dt.timedelta(minutes=number % 50 + 1)
        device.last_online_at = device.last_offline_at - dt.timedelta(hours=2)
    elif status == DeviceStatus.OFFLINE:
        device.activated_at = activated
        device.last_online_at = now - dt.timedelta(hours=number % 48 + 3)
        device.last_offline_at = device.last_online_at + dt.timedelta(hours=2)
    return device
