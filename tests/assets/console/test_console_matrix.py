"""OU isolation over every console URL: writer, viewer, outsider, anonymous."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import client_for

# (url name, kwargs builder, method, writer status, viewer status)
READ_PAGES = [
    ("assets:device-counts", lambda o: [o["device"].ou.ou_id]),
    ("assets:device-detail", lambda o: [o["device"].asset_id]),
    ("assets:device-sub-devices", lambda o: [o["gateway"].asset_id]),
    ("assets:product-detail", lambda o: [o["product"].product_key]),
    ("assets:model-detail", lambda o: [o["model"].pk]),
]
WRITE_PAGES = [
    ("assets:device-edit", lambda o: [o["device"].asset_id], "get"),
    ("assets:device-delete", lambda o: [o["device"].asset_id], "get"),
    ("assets:device-secret", lambda o: [o["device"].asset_id], "post"),
    ("assets:device-reset-secret", lambda o: [o["device"].asset_id], "post"),
    ("assets:device-toggle", lambda o: [o["device"].asset_id], "post"),
    ("assets:device-sub-device-candidates", lambda o: [o["gateway"].asset_id], "get"),
    ("assets:device-sub-device-add", lambda o: [o["gateway"].asset_id], "post"),
    ("assets:device-sub-device-remove", lambda o: [o["gateway"].asset_id], "post"),
    ("assets:product-edit", lambda o: [o["product"].product_key], "get"),
    ("assets:product-delete", lambda o: [o["product"].product_key], "get"),
    ("assets:model-edit", lambda o: [o["model"].pk], "get"),
    ("assets:model-delete", lambda o: [o["model"].pk], "get"),
]


@pytest.fixture
def objects(cast, device, gateway, product, thing_model):
    return {"device": device, "gateway": gateway, "product": product, "model": thing_model}


@pytest.mark.parametrize(("name", "args"), READ_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("writer", 200), ("viewer", 200), ("outsider", 404),
                                               ("anonymous", 302)])
def test_read_pages(objects, name, args, who, expected):
    response = client_for(objects and _user(objects, who)).get(reverse(name, args=args(objects)))
    assert response.status_code == expected


@pytest.mark.parametrize(("name", "args", "method"), WRITE_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("viewer", 403), ("outsider", 404), ("anonymous", 302)])
def test_write_pages_refuse_everyone_but_writers(objects, name, args, method, who, expected):
    client = client_for(_user(objects, who))
    response = getattr(client, method)(reverse(name, args=args(objects)))
    assert response.status_code == expected


@pytest.mark.parametrize(("name", "args", "method"), WRITE_PAGES)
def test_write_pages_open_for_writers(objects, name, args, method):
    client = client_for(_user(objects, "writer"))
    response = getattr(client, method)(reverse(name, args=args(objects)))
    assert response.status_code in (200, 302)


def _user(objects, who):
    from accounts.models import User

    return None if who == "anonymous" else User.objects.get(username=who)
