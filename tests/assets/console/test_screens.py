"""What the console's pages say: a model's specs in words (not Python dicts), breadcrumbs that end on the page,
batch jobs' statuses as the job page says them, with one badge per outcome."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assets.models import BatchJob, BatchOperation, BatchStatus
from assets.views.specs import describe_spec
from tests.conftest import client_for


def test_the_model_page_shows_specs_in_words(cast, product, writer):
    body = client_for(writer).get(reverse("assets:model-detail", args=[product.model.pk])).content.decode()
    assert "{&#x27;" not in body and "{'" not in body  # no dict's repr
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    assert "Values 1 = single, 3 = three" in text
    assert "Range 0 – 5000" in text and "Max length 32" in text and "Unit kW" in text


@pytest.mark.parametrize(("spec", "lines"), [
    (None, []),
    ({}, []),
    ({"min": -50}, [("Minimum", "-50")]),
    ({"max": 1.5, "unit": "°C"}, [("Maximum", "1.5"), ("Unit", "°C")]),
    ({"item_type": "int32", "size": 4}, [("Items", "int32"), ("Size", "4")]),
    ({"fields": [{"identifier": "x", "data_type": "double"}, {"identifier": "on", "data_type": "bool"}]},
     [("Fields", "x (double), on (bool)")]),
    ({"precision": 2, "labels": {"a": 1}}, [("precision", "2"), ("labels", '{"a": 1}')]),
    ("odd", [("Spec", "odd")]),
])
def test_describe_spec(spec, lines):
    assert describe_spec(spec) == lines


def crumbs(body: str) -> str:
    nav = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', body, re.S)
    assert nav, "no breadcrumb"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", nav.group(1))).strip()


@pytest.fixture
def jobs(product, writer) -> dict[str, BatchJob]:
    make = BatchJob.objects.create
    return {status: make(ou=product.ou, product=product, operation=BatchOperation.IMPORT, requested_by=writer,
                         status=status, filename=f"{status}.xlsx", message="Refused: no rows" if status == "failed"
                         else "") for status in (BatchStatus.APPLIED, BatchStatus.FAILED, BatchStatus.PARSED)}


def test_breadcrumbs_end_on_the_page_they_are_on(cast, device, writer, jobs):
    client = client_for(writer)
    expected = {
        reverse("assets:device-detail", args=[device.asset_id]): "Device Assets › Device Details",
        reverse("assets:product-detail", args=[device.product.product_key]): "Products › Inverter",
        reverse("assets:model-detail", args=[device.product.model.pk]): "Models › Inverter",
        reverse("assets:batch"): "Device Assets › Batch Import and Update",
        reverse("assets:batch-job", args=[jobs["failed"].pk]):
            "Device Assets › Batch Import and Update › failed.xlsx",
        reverse("assets:migrate") + f"?asset_ids={device.asset_id}": "Device Assets › Migrate",
    }
    for url, trail in expected.items():
        assert crumbs(client.get(url).content.decode()) == trail, url


def test_the_job_list_says_refused_and_gives_each_outcome_its_badge(cast, writer, jobs):
    body = client_for(writer).get(reverse("assets:batch")).content.decode()
    badges = dict(re.findall(r'<span class="badge (job-\w+)" data-status="\w+">([^<]+)</span>', body))
    assert badges == {"job-applied": "Applied", "job-failed": "Refused", "job-parsed": "Parsed"}
    assert ">Failed<" not in body
    job_page = client_for(writer).get(reverse("assets:batch-job", args=[jobs["failed"].pk])).content.decode()
    assert "<h2>Refused</h2>" in job_page


def test_sub_device_messages_use_plural_forms(cast, gateway, product, writer):
    from assets.models import Device

    subs = [Device.objects.create(ou=product.ou, product=product, device_key=f"cand-{i}", name=f"C{i}")
            for i in range(2)]
    client = client_for(writer)
    response = client.post(reverse("assets:device-sub-device-add", args=[gateway.asset_id]),
                           {"asset_ids": [d.asset_id for d in subs]}, follow=True)
    assert "2 sub-devices added to Gateway 1." in response.content.decode()
    response = client.post(reverse("assets:device-sub-device-remove", args=[gateway.asset_id]),
                           {"asset_ids": [d.asset_id for d in subs]}, follow=True)
    assert "2 sub-devices removed from Gateway 1." in response.content.decode()


def test_latest_data_and_events_share_one_table(cast, device, writer):
    """Their columns line up: events are a second body of the measure points' table, not a table of their own."""
    body = client_for(writer).get(reverse("connectivity:device-latest", args=[device.asset_id])).content.decode()
    assert body.count("<table") == 1
    assert '<tbody class="section latest-events">' in body and 'data-event="fault"' in body
