"""The API's error messages in the caller's language: Accept-Language: zh-Hans answers in Simplified
Chinese, no header in English (the default). The JSON shape stays {code, message, details}."""

from __future__ import annotations

import pytest

from tests.assets.api.helpers import api_client_for, assert_error

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def test_a_validation_error_is_in_chinese_when_asked(writer, acme):
    client = api_client_for(writer)
    chinese = assert_error(client.get("/api/devices/?pageSize=0", **CHINESE), 400, "validation_error")
    english = assert_error(client.get("/api/devices/?pageSize=0"), 400, "validation_error")
    assert chinese["message"] == "pageSize 必须是 1 到 200 之间的整数。"
    assert chinese["details"] == {"pageSize": [chinese["message"]]}
    assert english["message"] == "pageSize must be a whole number from 1 to 200."


def test_a_refused_write_is_in_chinese_when_asked(viewer, device):
    client = api_client_for(viewer)
    url = f"/api/devices/{device.asset_id}/disable/"
    assert assert_error(client.post(url, **CHINESE), 403)["message"] == "您需要该组织的资产管理写权限。"
    assert assert_error(client.post(url), 403)["message"] == "You need write access to Asset Management for this OU."


def test_a_conflict_names_the_device_in_either_language(writer, device):
    client = api_client_for(writer)
    url = f"/api/devices/{device.asset_id}/enable/"
    assert assert_error(client.post(url, **CHINESE), 409)["message"] == "设备 inv-0001 已处于启用状态。"
    assert assert_error(client.post(url), 409)["message"] == "Device inv-0001 is already enabled."


def test_an_unknown_url_is_in_chinese_when_asked(writer):
    client = api_client_for(writer)
    chinese = assert_error(client.get("/api/no-such-thing/", **CHINESE), 404, "not_found")
    assert chinese["message"].startswith("不存在该 API URL：/api/no-such-thing/。")
    english = assert_error(client.get("/api/no-such-thing/"), 404, "not_found")
    assert english["message"].startswith("No such API URL: /api/no-such-thing/.")


def test_an_object_not_found_is_in_chinese_when_asked(writer, acme):
    client = api_client_for(writer)
    body = {"ouId": "o00000000000000", "name": "x"}
    chinese = assert_error(client.post("/api/products/", body, **CHINESE), 404)
    assert chinese["message"] == "未找到组织 o00000000000000。"
    assert assert_error(client.post("/api/products/", body), 404)["message"] == "OU o00000000000000 was not found."
