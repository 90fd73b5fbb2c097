"""Which language the console answers in: the browser's Accept-Language, overridden by the header's switch
(Django's set_language and its cookie); English for anything else. The admin comes with Django's catalogs."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
COOKIE = settings.LANGUAGE_COOKIE_NAME


def page_language(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, "no <html lang>"
    return match[1]


def test_english_is_the_default(writer, device):
    response = client_for(writer).get("/devices/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.status_code == 200
    assert page_language(response) == "en" and response["Content-Language"] == "en"
    assert "<h1>Device Assets</h1>" in response.content.decode()


@pytest.mark.parametrize("accept_language", ["zh-Hans", "zh-CN,zh;q=0.9,en;q=0.8", "zh-hans-cn"])
def test_a_chinese_browser_gets_the_console_in_chinese(writer, device, accept_language):
    response = client_for(writer).get("/devices/", HTTP_ACCEPT_LANGUAGE=accept_language)
    page = response.content.decode()
    assert page_language(response) == "zh-hans" and response["Content-Language"] == "zh-hans"
    assert "<h1>设备资产</h1>" in page and "新建设备" in page and "批量导入" in page
    assert 'placeholder="搜索，或输入查询：status:offline tag:site=suzhou"' in page
    assert "Device Assets" not in page


def test_the_language_cookie_overrides_the_browser(writer, device):
    client = client_for(writer)
    client.cookies[COOKIE] = "zh-hans"
    page = client.get(f"/devices/{device.asset_id}/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "设备三元组" in page and "基本信息" in page and "Device triple" not in page


def test_set_language_remembers_the_choice_and_returns_to_the_page(writer, device):
    client = client_for(writer)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/devices/?status=online"},
                           HTTP_ACCEPT_LANGUAGE="en-US")
    assert response.status_code == 302 and response["Location"] == "/devices/?status=online"
    cookie = response.cookies[COOKIE]
    assert cookie.value == "zh-hans" and cookie["max-age"] == settings.LANGUAGE_COOKIE_AGE
    assert page_language(client.get("/devices/", HTTP_ACCEPT_LANGUAGE="en-US")) == "zh-hans"

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/devices/"}, HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.cookies[COOKIE].value == "en"
    assert "<h1>Device Assets</h1>" in client.get("/devices/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()


def test_set_language_never_sends_the_browser_elsewhere(writer):
    response = client_for(writer).post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize("language", ["fr", "xx-nonsense", ""])
def test_an_unsupported_language_is_ignored(writer, device, language):
    client = client_for(writer)
    response = client.post("/i18n/setlang/", {"language": language, "next": "/devices/"})
    assert response.status_code == 302 and response["Location"] == "/devices/"
    # Django stores any language it has a catalog for ("fr": its own); the console still answers in English
    client.cookies[COOKIE] = language
    response = client.get("/devices/", HTTP_ACCEPT_LANGUAGE=f"{language or 'de'};q=1")
    assert response.status_code == 200 and page_language(response) == "en"
    assert "<h1>Device Assets</h1>" in response.content.decode()


def test_the_header_offers_each_language_in_its_own_language(writer, device):
    page = client_for(writer).get("/devices/?status=online", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    switch = page[page.index('<form method="post" action="/i18n/setlang/"'):]
    switch = switch[:switch.index("</form>")]
    assert '<input type="hidden" name="next" value="/devices/?status=online">' in switch
    assert re.search(r'<option value="en" lang="en">English</option>', switch)
    assert re.search(r'<option value="zh-hans" lang="zh-hans" selected>简体中文</option>', switch)
    assert 'aria-label="语言"' in switch and "<noscript><button>切换</button></noscript>" in switch


def test_the_login_page_has_the_switch_and_speaks_chinese():
    client = Client()
    client.cookies[COOKIE] = "zh-hans"
    page = client.get("/login/?next=/devices/").content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert '<input type="hidden" name="next" value="/login/?next=/devices/">' in page
    assert "<h1>登录</h1>" in page and "用户名" in page and "密码" in page


def test_the_login_pages_switch_keeps_only_a_safe_next():
    page = Client().get("/login/?next=https://evil.example/").content.decode()
    assert '<input type="hidden" name="next" value="/login/">' in page and "evil.example" not in page


def test_a_not_found_page_speaks_chinese(writer, device):
    client = client_for(writer)
    client.cookies[COOKIE] = "zh-hans"
    response = client.get("/devices/no-such-device/")
    assert response.status_code == 404 and "<h1>未找到</h1>" in response.content.decode()


def test_the_admin_speaks_chinese_with_the_cookie(db):
    support = User.objects.create_superuser("support", "support@example.com", "x-password-1")
    client = client_for(support)
    client.cookies[COOKIE] = "zh-hans"
    response = client.get("/admin/")
    assert response.status_code == 200 and "站点管理" in response.content.decode()
    anonymous = Client()
    anonymous.cookies[COOKIE] = "zh-hans"
    assert "登录" in anonymous.get("/admin/login/").content.decode()
    assert "Site administration" in client_for(support).get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
