"""Device status is derived: disabled > inactive > online/offline, the same in Python and in SQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils.timezone import now

from assets.models import Device, DeviceStatus, status_q

pytestmark = pytest.mark.django_db

ACTIVATED = now() - timedelta(days=3)

# (enabled, activated_at, online) → status; the odd rows check which rule wins
STATES = [
    pytest.param(False, None, False, DeviceStatus.DISABLED, id="disabled-never-activated"),
    pytest.param(False, ACTIVATED, True, DeviceStatus.DISABLED, id="disabled-wins-over-online"),
    pytest.param(False, ACTIVATED, False, DeviceStatus.DISABLED, id="disabled-wins-over-offline"),
    pytest.param(True, None, False, DeviceStatus.INACTIVE, id="inactive"),
    pytest.param(True, None, True, DeviceStatus.INACTIVE, id="inactive-wins-over-online-flag"),
    pytest.param(True, ACTIVATED, True, DeviceStatus.ONLINE, id="online"),
    pytest.param(True, ACTIVATED, False, DeviceStatus.OFFLINE, id="offline"),
]


def make_device(product, key: str, *, enabled: bool = True, activated_at=None, online: bool = False) -> Device:
    return Device.objects.create(ou=product.ou, product=product, device_key=key, name=key, enabled=enabled,
                                 activated_at=activated_at, online=online, attributes={"serial": key})


@pytest.mark.parametrize(("enabled", "activated_at", "online", "expected"), STATES)
def test_status_property(product, enabled, activated_at, online, expected):
    device = make_device(product, "dev-1", enabled=enabled, activated_at=activated_at, online=online)
    assert device.status == expected


@pytest.mark.parametrize(("enabled", "activated_at", "online", "expected"), STATES)
def test_database_annotation_gives_the_same_status(product, enabled, activated_at, online, expected):
    device = make_device(product, "dev-1", enabled=enabled, activated_at=activated_at, online=online)
    assert Device.objects.with_status().get(pk=device.pk).status_value == expected.value


@pytest.mark.parametrize(("enabled", "activated_at", "online", "expected"), STATES)
def test_status_filter_matches_only_the_derived_status(product, enabled, activated_at, online, expected):
    device = make_device(product, "dev-1", enabled=enabled, activated_at=activated_at, online=online)
    matching = {status for status in DeviceStatus if Device.objects.filter(status_q(status), pk=device.pk).exists()}
    assert matching == {expected}
    assert list(Device.objects.with_status_in(expected.value)) == [device]


def test_a_new_device_is_enabled_and_inactive(product):
    device = Device.objects.create(ou=product.ou, product=product, device_key="fresh", name="Fresh")
    assert device.status == DeviceStatus.INACTIVE


def test_status_speaks_enos_values_to_the_api_and_labels_to_people():
    assert [s.value for s in DeviceStatus] == ["disable", "inactive", "online", "offline"]
    assert [s.label for s in DeviceStatus] == ["Disabled", "Inactive", "Online", "Offline"]


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        status_q("sleeping")


def make_fleet(product) -> list[Device]:
    """Two disabled, three inactive, one online, four offline."""
    specs = ([{"enabled": False}, {"enabled": False, "activated_at": ACTIVATED, "online": True}]
             + [{}] * 3
             + [{"activated_at": ACTIVATED, "online": True}]
             + [{"activated_at": ACTIVATED}] * 4)
    return [make_device(product, f"fleet-{i:02d}", **spec) for i, spec in enumerate(specs)]


def test_status_counts_come_in_one_query(product, django_assert_num_queries):
    make_fleet(product)
    with django_assert_num_queries(1):
        counts = Device.objects.filter(ou=product.ou).status_counts()
    assert counts == {"total": 10, "disable": 2, "inactive": 3, "online": 1, "offline": 4}


def test_status_counts_agree_with_the_status_property(product):
    fleet = make_fleet(product)
    tally = Counter(device.status.value for device in fleet)
    counts = Device.objects.all().status_counts()
    assert {s.value: counts[s.value] for s in DeviceStatus} == {s.value: tally[s.value] for s in DeviceStatus}


def test_status_counts_follow_the_queryset_they_are_asked_of(product, viewer, outsider, globex_device):
    make_fleet(product)
    assert Device.objects.visible_to(viewer).status_counts()["total"] == 10
    assert Device.objects.visible_to(outsider).status_counts() == {
        "total": 1, "disable": 0, "inactive": 1, "online": 0, "offline": 0}


def test_status_counts_of_no_devices_are_zero(acme):
    assert Device.objects.filter(ou=acme).status_counts() == {
        "total": 0, "disable": 0, "inactive": 0, "online": 0, "offline": 0}
