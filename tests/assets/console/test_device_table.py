from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from assets.models import Device
from tests.conftest import client_for

LIST = reverse("assets:device-list")


def make_devices(product, count: int, **fields) -> list[Device]:
    return Device.objects.bulk_create(
        Device(ou=product.ou, product=product, device_key=f"bulk-{i:05d}", name=f"Bulk {i}",
               attributes={"serial": f"S{i}"}, **fields)
        for i in range(count)
    )


def test_it_lists_the_current_ous_devices_only(cast, device, globex_device, writer):
    response = client_for(writer).get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert device.device_key in body
    assert globex_device.device_key not in body


def test_anonymous_is_sent_to_login(db):
    response = client_for(None).get(LIST)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_shows_status_labels_and_leaves_the_counts_to_their_fragment(cast, product, writer):
    from django.utils import timezone

    now = timezone.now()
    make_devices(product, 1)
    Device.objects.create(ou=product.ou, product=product, device_key="on-1", name="On", activated_at=now,
                          online=True, attributes={"serial": "x"})
    Device.objects.create(ou=product.ou, product=product, device_key="off-1", name="Off", activated_at=now,
                          attributes={"serial": "x"})
    Device.objects.create(ou=product.ou, product=product, device_key="dis-1", name="Dis", enabled=False,
                          attributes={"serial": "x"})
    client = client_for(writer)
    response = client.get(LIST)
    body = response.content.decode()
    for label in ("Online", "Offline", "Inactive", "Disabled"):
        assert f">{label}</span>" in body
    # the summary is a placeholder that loads itself, for the same OU and filters as the rows
    counts = reverse("assets:device-counts", args=[product.ou.ou_id])
    assert f'hx-get="{counts}" hx-trigger="load"' in body
    assert "Counting devices…" in body and "summary" not in response.context
    body = client.get(LIST, {"status": "online", "size": 50, "sort": "name"}).content.decode()
    assert f'hx-get="{counts}?status=online" hx-trigger="load"' in body


def test_the_page_itself_counts_nothing(cast, product, writer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_devices(product, 3)
    client = client_for(writer)
    client.get(LIST)
    with CaptureQueriesContext(connection) as queries:
        client.get(LIST, {"q": "bulk", "tag": "site"})
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "disable"}, {"dis-1"}),
    ({"status": "online"}, {"on-1"}),
    ({"q": "ON-"}, {"on-1"}),
    ({"tag": "site"}, {"on-1", "off-1"}),
    ({"tag": "site:north"}, {"on-1"}),
    ({"type": "Gateway"}, {"gw-0001"}),
    ({"type": "Sub-device"}, {"off-1"}),
])
def test_filters_narrow_the_table(cast, product, gateway, writer, params, expected):
    from django.utils import timezone

    now = timezone.now()
    Device.objects.create(ou=product.ou, product=product, device_key="on-1", name="On", activated_at=now,
                          online=True, tags={"site": "north"}, attributes={"serial": "x"})
    Device.objects.create(ou=product.ou, product=product, device_key="off-1", name="Off", activated_at=now,
                          tags={"site": "south"}, gateway=gateway, attributes={"serial": "x"})
    Device.objects.create(ou=product.ou, product=product, device_key="dis-1", name="Dis", enabled=False,
                          attributes={"serial": "x"})
    response = client_for(writer).get(LIST, params)
    assert {d.device_key for d in response.context["page"].rows} == expected


def test_filter_by_product(cast, product, gateway, writer):
    make_devices(product, 3)
    response = client_for(writer).get(LIST, {"product": gateway.product.product_key})
    assert [d.device_key for d in response.context["page"].rows] == ["gw-0001"]


def test_keyset_pages_walk_forward_and_back_without_gaps(cast, product, writer):
    make_devices(product, 45)
    client = client_for(writer)
    seen: list[str] = []
    response = client.get(LIST, {"size": 20, "sort": "name"})
    pages = [response.context["page"]]
    while pages[-1].next_cursor:
        pages.append(client.get(LIST, {"size": 20, "sort": "name", "after": pages[-1].next_cursor}).context["page"])
    for page in pages:
        seen += [d.name for d in page.rows]
    assert len(pages) == 3
    assert seen == sorted(seen) and len(set(seen)) == 45
    back = client.get(LIST, {"size": 20, "sort": "name", "before": pages[2].prev_cursor}).context["page"]
    assert [d.name for d in back.rows] == [d.name for d in pages[1].rows]


def test_a_tampered_cursor_is_a_clear_error(cast, product, writer):
    response = client_for(writer).get(LIST, {"after": "not-a-cursor"})
    assert response.status_code == 200
    assert "not valid any more" in response.content.decode()


@pytest.mark.parametrize("size", [20, 200])
@pytest.mark.parametrize("filters", [{}, {"status": "inactive"}, {"q": "bulk", "tag": "site"}])
def test_the_table_costs_the_same_queries_at_any_page_size(cast, product, gateway, writer, size, filters,
                                                            django_assert_num_queries):
    make_devices(product, 210, tags={"site": "x"})
    client = client_for(writer)
    client.get(LIST)  # warm the session
    # session, user, permissions, current OU, products, the rows, the OU switcher's OUs, the rows with live alerts
    with django_assert_num_queries(8):
        response = client.get(LIST, {"size": size, **filters})
    assert len(response.context["page"].rows) == size


def test_writer_toggles_a_device_in_place(cast, device, writer):
    client = client_for(writer)
    url = reverse("assets:device-toggle", args=[device.asset_id])
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-status="disable"' in response.content.decode()
    device.refresh_from_db()
    assert device.enabled is False
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert 'data-status="inactive"' in response.content.decode()
    assert list(AuditEvent.objects.filter(object_id=device.asset_id).values_list("action", flat=True)) == [
        "device.enable", "device.disable"]


def test_viewer_sees_a_switch_they_cannot_use(cast, device, viewer):
    client = client_for(viewer)
    body = client.get(LIST).content.decode()
    assert "disabled>" in body.replace('checked disabled>', 'disabled>')
    assert reverse("assets:device-toggle", args=[device.asset_id]) not in body
    response = client.post(reverse("assets:device-toggle", args=[device.asset_id]))
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.enabled is True


def test_outsider_cannot_toggle_another_ous_device(cast, device, outsider):
    response = client_for(outsider).post(reverse("assets:device-toggle", args=[device.asset_id]))
    assert response.status_code == 404
