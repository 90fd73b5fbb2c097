"""The job form's *Migrate these devices…*: the selection (rows, the query or a group) opens the Move flow,
whose SMS code the target OU's owner gets; writers of the current OU only, at most the flow's maximum."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assets import groups
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = reverse("fleet:job-migrate")


def test_the_query_s_devices_open_the_move_flow(writer, devices):
    page = client_for(writer).post(URL, {"query": "key:fl-0000"}).content.decode()
    # the Move flow's first step, its form posting every chosen device to Get Code
    assert f'action="{reverse("assets:migrate")}"' in page
    chosen = [d.asset_id for d in devices if d.device_key.startswith("fl-0000")]
    assert len(chosen) == 10
    for asset_id in chosen:
        assert f'name="asset_ids" value="{asset_id}"' in page
    assert devices[15].asset_id not in page


def test_a_group_and_selected_rows_open_it_too(writer, acme, devices):
    group = groups.create_group(writer, acme, name="Three")
    groups.add_group_devices(writer, group, devices[:3])
    page = client_for(writer).post(URL, {"group": str(group.pk)}).content.decode()
    assert all(f'value="{d.asset_id}"' in page for d in devices[:3]) and devices[3].asset_id not in page
    page = client_for(writer).post(URL, {"asset_ids": [devices[5].asset_id]}).content.decode()
    assert f'name="asset_ids" value="{devices[5].asset_id}"' in page


def test_more_than_the_flow_takes_or_nothing_is_refused_on_the_job_form(writer, product, devices, monkeypatch):
    from fleet import views

    monkeypatch.setattr(views, "MAX_DEVICES_PER_REQUEST", 5)
    page = client_for(writer).post(URL, {"query": "key:fl-"}).content.decode()
    assert "At most 5 devices can be migrated at once: narrow the selection." in page
    assert 'value="key:fl-"' in page  # the query kept in the form
    page = client_for(writer).post(URL, {"query": "key:nothing-like-this"}).content.decode()
    assert "No device you may change matches this selection." in page
    page = client_for(writer).post(URL, {"query": "status:("}).content.decode()
    assert 'id="selection-error"' in page  # the query's own error, not a 500
    assert client_for(writer).post(URL, {"group": "x1"}).status_code == 200


def test_only_the_current_ou_s_writers_and_never_another_ou_s_devices(cast, devices, globex):
    acme_ids = [d.asset_id for d in devices[:2]]
    assert client_for(cast["viewer"]).post(URL, {"asset_ids": acme_ids}).status_code == 403
    assert client_for(cast["anonymous"]).post(URL, {"asset_ids": acme_ids}).status_code == 302
    assert client_for(cast["writer"]).get(URL).status_code == 405
    # the outsider's current OU is Globex: Acme's devices are not found, and nothing of them is shown
    page = client_for(cast["outsider"]).post(URL, {"asset_ids": acme_ids}).content.decode()
    assert "No device you may change matches this selection." in page
    assert devices[0].device_key not in page and devices[1].device_key not in page and "Acme" not in page
