"""The login page sends a user back where they came from, on this site only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def log_in(next_url: str):
    return Client().post(f"{reverse('login')}?next={next_url}",
                         {"username": "writer", "password": PASSWORD, "next": next_url})


@pytest.mark.parametrize("next_url", ["https://evil.example/devices/", "//evil.example/devices/",
                                      "http://testserver.evil.example/", "https:///evil.example/",
                                      "javascript:alert(1)"])
def test_the_login_refuses_to_send_anyone_to_another_site(writer, next_url):
    response = log_in(next_url)
    assert response.status_code == 302
    assert response["Location"] == reverse("assets:device-list")


def test_the_login_goes_back_to_the_page_asked_for(writer):
    response = log_in(reverse("assets:product-list"))
    assert response.status_code == 302 and response["Location"] == reverse("assets:product-list")


def test_the_login_page_does_not_offer_another_sites_next(client):
    page = client.get(f"{reverse('login')}?next=https://evil.example/").content.decode()
    assert "evil.example" not in page
