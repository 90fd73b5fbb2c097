"""Counts read as sentences: one device, two devices (ngettext), never "device(s)"; in Chinese the
count stands before its measure word."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from accounts.errors import Conflict, DomainError
from assets import services
from assets.migration import services as migration
from assets.migration.quota import wait_text
from assets.models import Device
from assets.views.catalog import _model_in_use, _product_in_use
from tests.assets.migration.helpers import send, start, wrong
from tracing.services import describe_duration

pytestmark = pytest.mark.django_db


def _second_device(device: Device) -> Device:
    return Device.objects.create(ou=device.ou, product=device.product, device_key="inv-0002", name="Inverter 2",
                                 attributes={"serial": "SN-2"})


def test_a_product_in_use_counts_its_devices(writer, device):
    with pytest.raises(Conflict) as one:
        services.delete_product(writer, device.product)
    assert "is used by 1 device (in this or other OUs); delete or move it first." in one.value.message
    _second_device(device)
    with pytest.raises(Conflict) as two:
        services.delete_product(writer, device.product)
    assert "is used by 2 devices (in this or other OUs); delete or move them first." in two.value.message
    assert "(s)" not in one.value.message + two.value.message


def test_the_delete_pages_count_in_english_and_chinese(device):
    assert _product_in_use(device.product).startswith("1 device (in this or other OUs) still uses this product")
    assert _model_in_use(device.product.model).startswith("1 product (in this or other OUs) still uses this model")
    _second_device(device)
    assert _product_in_use(device.product).startswith("2 devices (in this or other OUs) still use this product")
    with translation.override("zh-hans"):
        assert _product_in_use(device.product).startswith("仍有 2 个设备（在本组织或其他组织中）使用该产品")


@pytest.mark.parametrize(("seconds", "english", "chinese"), [
    (1, "1 second", "1 秒"), (2, "2 seconds", "2 秒"), (60, "60 seconds", "60 秒"),
    (120, "2 minutes", "2 分钟"), (7200, "2 hours", "2 小时"),
])
def test_waits_read_as_words(seconds, english, chinese):
    assert wait_text(seconds) == english
    with translation.override("zh-hans"):
        assert wait_text(seconds) == chinese


@pytest.mark.parametrize(("duration", "english", "chinese"), [
    (timedelta(minutes=1), "1 minute", "1 分钟"),
    (timedelta(hours=1, minutes=30), "1 hour 30 minutes", "1 小时 30 分钟"),
    (timedelta(days=2, hours=1), "2 days 1 hour", "2 天 1 小时"),
])
def test_trace_durations_read_as_words(duration, english, chinese):
    assert describe_duration(duration) == english
    with translation.override("zh-hans"):
        assert describe_duration(duration) == chinese


def test_the_attempts_left_after_a_wrong_code(writer, device, globex):
    request = start(writer, [device], globex)
    code = send(request)

    def refusal() -> str:
        with pytest.raises(DomainError) as refused:
            migration.check_code(writer, request.pk, wrong(code))
        return refused.value.message

    assert [refusal() for _ in range(3)] == [f"Wrong code; {n} attempts left." for n in (4, 3, 2)]
    with translation.override("zh-hans"):
        assert refusal() == "验证码错误；还可尝试 1 次。"
    request.refresh_from_db()
    request.failed_attempts = 3
    request.save(update_fields=["failed_attempts"])
    assert refusal() == "Wrong code; 1 attempt left."
