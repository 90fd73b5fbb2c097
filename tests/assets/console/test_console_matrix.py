"""OU isolation over the console's URLs: writer, viewer, outsider, anonymous.

Pages of one object (a device, product, model) answer the outsider 404. Pages of the current OU
(lists, New …, the status badges) answer everyone signed in, each for their own OU: the outsider's
shows nothing of Acme. The OU switch is the door between OUs: it lets a user into their own OUs only.

tests/test_route_matrix.py checks that every console route is in one of these tables (or in
another module's matrix).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.actors import SYSTEM
from accounts.ous import SESSION_KEY
from tests.conftest import client_for

Objects = dict[str, Any]

# (url name, url args builder): every signed-in member of the OU reads them
READ_PAGES = [
    ("assets:device-counts", lambda o: [o["device"].ou.ou_id]),
    ("assets:device-detail", lambda o: [o["device"].asset_id]),
    ("assets:device-sub-devices", lambda o: [o["gateway"].asset_id]),
    ("assets:product-detail", lambda o: [o["product"].product_key]),
    ("assets:model-detail", lambda o: [o["model"].pk]),
    ("assets:group-detail", lambda o: [o["group"].pk]),
    ("connectivity:device-services", lambda o: [o["device"].asset_id]),
    ("connectivity:device-latest", lambda o: [o["device"].asset_id]),
    ("connectivity:device-connectivity", lambda o: [o["device"].asset_id]),
    ("fleet:job-detail", lambda o: [o["job"].public_id]),
    ("fleet:job-progress", lambda o: [o["job"].public_id]),
    ("fleet:job-export", lambda o: [o["job"].public_id]),
]
# (url name, url args builder, method): writers only
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
    ("assets:group-edit", lambda o: [o["group"].pk], "get"),
    ("assets:group-delete", lambda o: [o["group"].pk], "get"),
    ("assets:group-devices-add", lambda o: [o["group"].pk], "post"),
    ("assets:group-devices-remove", lambda o: [o["group"].pk], "post"),
    ("connectivity:device-invoke", lambda o: [o["device"].asset_id, "restart"], "post"),
    ("connectivity:device-measurepoints-set", lambda o: [o["device"].asset_id], "post"),
    ("connectivity:device-measurepoints-get", lambda o: [o["device"].asset_id], "post"),
    ("fleet:job-cancel", lambda o: [o["job"].public_id], "post"),
    ("observability:alert-rule-edit", lambda o: [o["alerting"].rule.pk], "get"),
    ("observability:alert-rule-delete", lambda o: [o["alerting"].spare_rule.pk], "get"),
    ("observability:alert-acknowledge", lambda o: [o["alerting"].alert.pk], "post"),
    ("observability:alert-resolve", lambda o: [o["alerting"].alert.pk], "post"),
    ("observability:webhook-secret-reset", lambda o: [o["acme"].ou_id], "post"),
]
# (url name, query string builder, what of Acme the page shows to Acme's members): lists of the current OU
CURRENT_OU_PAGES = [
    ("assets:device-list", lambda o: "", lambda o: reverse("assets:device-detail", args=[o["device"].asset_id])),
    ("assets:product-list", lambda o: "",
     lambda o: reverse("assets:product-detail", args=[o["product"].product_key])),
    ("assets:model-list", lambda o: "", lambda o: reverse("assets:model-detail", args=[o["model"].pk])),
    ("connectivity:device-statuses", lambda o: f"?id={o['device'].asset_id}", lambda o: o["device"].asset_id),
    ("assets:group-list", lambda o: "", lambda o: reverse("assets:group-detail", args=[o["group"].pk])),
    ("assets:group-query-check", lambda o: "?query=key:inv-0001", lambda o: "Valid query: 1 device matches now."),
    ("assets:device-export", lambda o: "?format=csv", lambda o: o["device"].device_key),  # the current OU's devices
    # the OU's Connectivity page: its products in the selector (the chart and list: tests/connectivity)
    ("connectivity:ou-connectivity", lambda o: "", lambda o: o["product"].product_key),
    ("fleet:job-list", lambda o: "", lambda o: o["job"].public_id),
    ("observability:alerts", lambda o: "", lambda o: o["device"].asset_id),
    ("observability:alert-rules", lambda o: "", lambda o: o["alerting"].rule.name),
    ("observability:alert-deliveries", lambda o: "", lambda o: o["alerting"].rule.name),
]
# New … pages create in the current OU: writers of it only; the outsider's is for Globex
CREATE_PAGES = [
    ("assets:device-create", lambda o: o["product"].product_key),
    ("assets:product-create", lambda o: o["model"].model_id),
    ("assets:model-create", lambda o: o["acme"].ou_id),
    ("assets:group-create", lambda o: o["acme"].ou_id),
    ("assets:group-add-selection", lambda o: o["acme"].ou_id),
    ("fleet:job-create", lambda o: o["acme"].ou_id),
    ("observability:alert-rule-create", lambda o: o["acme"].ou_id),
]


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content  # an export streams


# the current OU's audit log: its admins and owner only; the outsider reads Globex's, never Acme's
AUDIT_PAGES = [
    ("observability:audit-log", []),
    ("observability:audit-log-export", ["csv"]),
    ("observability:audit-log-export", ["jsonl"]),
]


def console_urls(o: Objects) -> list[str]:
    """Every URL these tables request (tests/test_route_matrix.py resolves them to routes)."""
    return ([reverse(name, args=args(o)) for name, args in READ_PAGES]
            + [reverse(name, args=args(o)) for name, args, _ in WRITE_PAGES]
            + [reverse(name) + query(o) for name, query, _ in CURRENT_OU_PAGES]
            + [reverse(name) for name, _ in CREATE_PAGES]
            + [reverse(name, args=args) for name, args in AUDIT_PAGES]
            + [reverse("accounts:switch-ou")])


@pytest.fixture
def objects(cast, acme, device, gateway, product, thing_model, writer) -> Objects:
    from assets.groups import create_group
    from fleet.services import start_job
    from tests.observability.alert_world import alerting

    group = create_group(writer, acme, name="picked in the console")
    job = start_job(writer, acme, action="disable", asset_ids=[device.asset_id])
    return {"acme": acme, "device": device, "gateway": gateway, "product": product, "model": thing_model,
            "group": group, "job": job,
            "alerting": alerting(writer, acme, device)}


@pytest.mark.parametrize(("name", "args"), READ_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("writer", 200), ("viewer", 200), ("outsider", 404),
                                               ("anonymous", 302)])
def test_read_pages(objects, cast, name, args, who, expected):
    response = client_for(cast[who]).get(reverse(name, args=args(objects)))
    assert response.status_code == expected
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args", "method"), WRITE_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("viewer", 403), ("outsider", 404), ("anonymous", 302)])
def test_write_pages_refuse_everyone_but_writers(objects, cast, name, args, method, who, expected):
    client = client_for(cast[who])
    response = getattr(client, method)(reverse(name, args=args(objects)))
    assert response.status_code == expected


@pytest.mark.parametrize(("name", "args", "method"), WRITE_PAGES)
def test_write_pages_open_for_writers(objects, cast, name, args, method):
    client = client_for(cast["writer"])
    response = getattr(client, method)(reverse(name, args=args(objects)))
    assert response.status_code in (200, 302)


@pytest.mark.parametrize(("name", "query", "acme_mark"), CURRENT_OU_PAGES)
@pytest.mark.parametrize("who", ["writer", "viewer"])
def test_members_see_their_ous_objects_in_its_lists(objects, cast, name, query, acme_mark, who):
    response = client_for(cast[who]).get(reverse(name) + query(objects))
    assert response.status_code == 200
    assert acme_mark(objects) in body_of(response).decode()


@pytest.mark.parametrize(("name", "query", "acme_mark"), CURRENT_OU_PAGES)
def test_the_outsiders_lists_show_nothing_of_acme(objects, cast, name, query, acme_mark):
    response = client_for(cast["outsider"]).get(reverse(name) + query(objects))
    assert response.status_code == 200
    assert acme_mark(objects) not in body_of(response).decode()


@pytest.mark.parametrize(("name", "query", "acme_mark"), CURRENT_OU_PAGES)
def test_lists_send_anonymous_to_the_login(objects, name, query, acme_mark):
    response = client_for(None).get(reverse(name) + query(objects))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "acme_mark"), CREATE_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("writer", 200), ("viewer", 403), ("outsider", 200),
                                               ("anonymous", 302)])
def test_create_pages(objects, cast, name, acme_mark, who, expected):
    response = client_for(cast[who]).get(reverse(name))
    assert response.status_code == expected
    page = response.content.decode()
    if who == "outsider":  # the form is for the outsider's own OU, Globex
        assert acme_mark(objects) not in page and objects["acme"].name not in page


@pytest.mark.parametrize(("name", "args"), AUDIT_PAGES)
@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("writer", 404), ("viewer", 404), ("outsider", 200),
                                               ("anonymous", 302)])
def test_the_audit_log_is_the_ou_admins(objects, cast, owner, name, args, who, expected):
    from assets.services import disable_device

    disable_device(cast["writer"], objects["device"])
    response = client_for(owner if who == "owner" else cast[who]).get(reverse(name, args=args))
    assert response.status_code == expected
    if expected == 200:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert (objects["device"].asset_id.encode() in body) == (who == "owner")


# --- the OU switch --------------------------------------------------------------------------------

def switch(client, ou_id: str, **extra: str):
    return client.post(reverse("accounts:switch-ou"), {"ou_id": ou_id, **extra})


def test_a_member_switches_into_their_ou(objects, cast, globex):
    from accounts.services import set_membership

    set_membership(SYSTEM, globex, cast["writer"], "asset_viewer")
    client = client_for(cast["writer"])
    assert switch(client, globex.ou_id).status_code == 302
    assert client.session[SESSION_KEY] == globex.pk
    response = switch(client, objects["acme"].ou_id)
    assert response.status_code == 302 and response["Location"] == reverse("assets:device-list")
    assert client.session[SESSION_KEY] == objects["acme"].pk


@pytest.mark.parametrize("who", ["outsider", "viewer"])
def test_nobody_switches_into_an_ou_they_are_not_in(objects, cast, globex, who):
    client = client_for(cast[who])
    client.get(reverse("assets:device-list"))
    before = client.session[SESSION_KEY]
    other = globex if who == "viewer" else objects["acme"]
    response = switch(client, other.ou_id)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == before != other.pk
    page = client.get(reverse("assets:device-list")).content.decode()
    assert "You are not a member of that OU." in page
    if who == "outsider":
        assert objects["device"].asset_id not in page


def test_the_switch_refuses_anonymous_and_get(objects, cast):
    response = switch(client_for(None), objects["acme"].ou_id)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client_for(cast["writer"]).get(reverse("accounts:switch-ou")).status_code == 405


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/devices/", "http://testserver.evil/"])
def test_the_switch_goes_back_only_to_this_site(objects, cast, next_url):
    response = switch(client_for(cast["writer"]), objects["acme"].ou_id, next=next_url)
    assert response.status_code == 302 and response["Location"] == reverse("assets:device-list")


def test_the_switch_goes_back_to_the_page_it_came_from(objects, cast):
    back = reverse("assets:product-list")
    response = switch(client_for(cast["writer"]), objects["acme"].ou_id, next=back)
    assert response["Location"] == back
