"""The OU's audit log in the console and the API: who reads it, filters, pages, exports, links, queries."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.models import AuditEvent
from accounts.services import set_membership
from assets import services
from tests.assets.api.helpers import api_client_for, assert_error
from tests.conftest import client_for

PAGE = reverse("observability:audit-log")
API = "/api/audit-events/"
EXPORT_API = "/api/audit-events/export/"


def export_url(fmt: str) -> str:
    return reverse("observability:audit-log-export", args=[fmt])


def page_text(client, query: str = "") -> str:
    """The events table of the page (the action filter's options name every action)."""
    response = client.get(PAGE + query)
    assert response.status_code == 200, response.content
    return response.content.decode().split('id="audit-events"')[1].split("</table>")[0]


@pytest.fixture
def history(cast, owner, acme, device, globex_device):
    """Acme: the writer disables and renames its device; Globex: its owner disables theirs."""
    services.disable_device(cast["writer"], device)
    services.update_device(cast["writer"], device, name="Renamed inverter")
    services.disable_device(cast["outsider"], globex_device)
    return device


# --- who reads it --------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("writer", 404), ("viewer", 404), ("anonymous", 302)])
def test_the_page_is_the_ou_admins(cast, owner, history, who, expected):
    user = owner if who == "owner" else cast[who]
    for url in (PAGE, export_url("csv"), export_url("jsonl")):
        assert client_for(user).get(url).status_code == expected


def test_an_ou_admin_who_is_not_the_owner_reads_it(cast, acme, history):
    set_membership(SYSTEM, acme, cast["viewer"], "ou_admin")
    assert "Renamed inverter" in page_text(client_for(cast["viewer"]))


def test_the_nav_entry_shows_only_to_readers(cast, owner, history):
    assert 'id="audit-log-link"' in client_for(owner).get(reverse("assets:device-list")).content.decode()
    for who in ("writer", "viewer"):
        page = client_for(cast[who]).get(reverse("assets:device-list")).content.decode()
        assert 'id="audit-log-link"' not in page


def test_another_ous_events_never_appear(cast, owner, history, globex_device):
    page = page_text(client_for(owner))
    assert "Renamed inverter" in page and globex_device.name not in page
    outsiders = page_text(client_for(cast["outsider"]))  # the owner of Globex reads Globex's
    assert globex_device.name in outsiders and "Renamed inverter" not in outsiders
    body = api_client_for(owner).get(API).json()
    assert {row["ouId"] for row in body["results"]} == {history.ou.ou_id}


# --- the table -----------------------------------------------------------------------------------

def test_a_row_shows_actor_label_link_and_changed_keys(owner, history):
    page = page_text(client_for(owner), "?action=device.update")
    assert "Device edited" in page and "writer" in page
    assert reverse("assets:device-detail", args=[history.asset_id]) in page
    assert "<b>name</b>: Inverter 1 → Renamed inverter" in page
    assert "Device disabled" not in page


def test_a_deleted_object_is_named_without_a_link(cast, owner, history):
    services.delete_device(cast["writer"], history)
    page = page_text(client_for(owner), "?action=device.delete")
    assert "Renamed inverter" in page
    assert reverse("assets:device-detail", args=[history.asset_id]) not in page


@pytest.mark.parametrize(("query", "present", "absent"), [
    ("?actor=writer", "Device edited", "OU created"),
    ("?actor=system", "OU created", "Device edited"),
    ("?action=device.disable", "Device disabled", "Device edited"),
    ("?object_type=organizationunit", "OU created", "Device edited"),
    ("?q=renamed", "Device edited", "OU created"),
])
def test_filters(owner, history, query, present, absent):
    page = page_text(client_for(owner), query)
    assert present in page and absent not in page


def test_the_object_id_filter(owner, history):
    page = page_text(client_for(owner), f"?object_id={history.asset_id}")
    assert "Device edited" in page and "Member role set" not in page


def test_time_range(owner, history):
    AuditEvent.objects.filter(action="device.update").update(created_at=timezone.now() - timedelta(days=10))
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    page = page_text(client_for(owner), f"?since={day}&until={day}")
    assert "Device edited" in page and "Device disabled" not in page
    page = page_text(client_for(owner), f"?since={timezone.now().date().isoformat()}")
    assert "Device edited" not in page and "Device disabled" in page


@pytest.mark.parametrize("query", ["?since=yesterday", "?since=2026-02-01&until=2026-01-01", "?after=garbage!"])
def test_a_bad_filter_is_said_not_crashed(owner, history, query):
    response = client_for(owner).get(PAGE + query)
    assert response.status_code == 400
    assert 'id="filter-error"' in response.content.decode()
    assert_error(api_client_for(owner).get(API + query.replace("after", "cursor")), 400)


def make_events(ou, count: int) -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create([AuditEvent(ou=ou, action="device.update", object_type="device",
                                               object_id=f"X{i}", object_repr=f"Bulk {i}") for i in range(count)])
    # several share one instant: the keyset must walk ties by id
    for index, event in enumerate(AuditEvent.objects.filter(object_repr__startswith="Bulk ").order_by("id")):
        AuditEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(seconds=index // 7))


def test_keyset_pages_walk_every_event_once_newest_first(owner, acme):
    make_events(acme, 120)
    client, seen, url = client_for(owner), [], PAGE + "?q=Bulk"
    while url:
        response = client.get(url)
        rows = [line for line in response.content.decode().splitlines() if "Bulk " in line and "<td>" in line]
        seen += [line.split("Bulk ")[1].split("<")[0] for line in rows]
        older = response.context["next_cursor"]
        url = f"{PAGE}?q=Bulk&after={older}" if older else None
    assert len(seen) == 120 and len(set(seen)) == 120
    assert [int(n) for n in seen] == sorted((int(n) for n in seen), key=lambda n: (n // 7, -n))


def test_the_api_pages_with_a_cursor(owner, acme):
    make_events(acme, 45)
    client, ids, url = api_client_for(owner), [], f"{API}?q=Bulk&pageSize=20"
    while url:
        body = client.get(url).json()
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(ids) == 45 == len(set(ids))
    events = AuditEvent.objects.filter(pk__in=ids).order_by("-created_at", "-id")
    assert ids == [e.pk for e in events]


def test_a_page_costs_the_same_queries_however_many_rows(owner, acme, history, product, thing_model):
    def queries() -> int:
        client = client_for(owner)
        client.get(PAGE)  # the session's OU is settled
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    services.update_product(owner, product, name="Renamed product")
    few = queries()  # links: one query per kind of object on the page (device, product here)
    make_events(acme, 40)
    for index in range(5):
        services.update_device(SYSTEM, history, name=f"Name {index}")
        services.update_product(owner, product, name=f"Product {index}")
    assert queries() == few


def test_the_api_costs_the_same_queries_however_many_rows(owner, acme, history):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_client_for(owner).get(API).status_code == 200
        return len(captured)

    few = queries()
    make_events(acme, 60)
    assert queries() == few


# --- exports -------------------------------------------------------------------------------------

def streamed(response) -> str:
    assert response.status_code == 200, response
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_the_csv_export(owner, history):
    response = client_for(owner).get(export_url("csv") + "?action=device.update")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert list(rows[0]) == ["time", "actor", "ou", "action", "object_type", "object_id", "object_repr", "before",
                             "after", "request_id"]
    assert [(r["actor"], r["action"], r["object_id"]) for r in rows] == [("writer", "device.update",
                                                                          history.asset_id)]
    assert json.loads(rows[0]["after"])["name"] == "Renamed inverter"


def test_the_jsonl_export_walks_past_one_batch(owner, acme, monkeypatch):
    from observability import audit_log

    monkeypatch.setattr(audit_log, "EXPORT_BATCH", 7)
    make_events(acme, 30)
    lines = streamed(client_for(owner).get(export_url("jsonl") + "?q=Bulk")).splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 30 == len({r["object_id"] for r in records})
    assert {r["ou"] for r in records} == {acme.ou_id}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_api_export(owner, history, fmt):
    text = streamed(api_client_for(owner).get(f"{EXPORT_API}?format={fmt}&action=device.disable"))
    parse = {"csv": lambda: list(csv.DictReader(io.StringIO(text))),
             "jsonl": lambda: [json.loads(line) for line in text.splitlines()]}
    rows = parse[fmt]()
    assert [row["action"] for row in rows] == ["device.disable"]  # Acme's only: Globex's stays out


def test_the_api_export_needs_a_known_format(owner, history):
    assert_error(api_client_for(owner).get(f"{EXPORT_API}?format=xml"), 400)
    assert client_for(owner).get(export_url("xml")).status_code == 404


# --- the API's OU scope --------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["writer", "viewer", "outsider"])
def test_an_ou_whose_log_one_may_not_read_is_not_found(cast, history, who):
    for url in (f"{API}?ou={history.ou.ou_id}", f"{EXPORT_API}?format=csv&ou={history.ou.ou_id}"):
        assert_error(api_client_for(cast[who]).get(url), 404)


@pytest.mark.parametrize("who", ["writer", "viewer"])
def test_members_who_are_not_admins_list_nothing(cast, history, who):
    assert api_client_for(cast[who]).get(API).json()["results"] == []


def test_anonymous_is_refused(history):
    assert_error(api_client_for(None).get(API), 401)
    assert_error(api_client_for(None).get(f"{EXPORT_API}?format=csv"), 401)


def test_the_api_names_one_ou(owner, history):
    body = api_client_for(owner).get(f"{API}?ou={history.ou.ou_id}&action=device.update").json()
    [row] = body["results"]
    assert row["actor"] == "writer" and row["actionLabel"] == "Device edited"
    assert row["before"]["name"] == "Inverter 1" and row["objectId"] == history.asset_id
    assert row["time"].endswith("Z") or "+00:00" in row["time"]


# --- retention -----------------------------------------------------------------------------------

def test_retention_deletes_old_events_in_batches(settings, acme):
    from accounts.audit import purge_old_events
    from accounts.tasks import purge_audit_events

    settings.AUDIT_RETENTION_DAYS = 30
    make_events(acme, 25)
    old = list(AuditEvent.objects.filter(object_repr__startswith="Bulk ").values_list("pk", flat=True)[:12])
    AuditEvent.objects.filter(pk__in=old).update(created_at=timezone.now() - timedelta(days=31))
    kept = AuditEvent.objects.exclude(pk__in=old).count()
    assert purge_old_events(batch=5) == 12
    assert AuditEvent.objects.count() == kept and not AuditEvent.objects.filter(pk__in=old).exists()
    assert purge_audit_events() == 0


def test_the_retention_task_runs_on_beat(settings):
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values()
               if entry["task"] == "accounts.tasks.purge_audit_events"]
    assert entries and settings.AUDIT_RETENTION_DAYS == 365


def test_dates_at_the_ends_of_the_calendar_are_no_bound(owner, history):
    page = page_text(client_for(owner), "?since=0001-01-01&until=9999-12-31")
    assert "Device edited" in page
    assert api_client_for(owner).get(f"{API}?since=0001-01-01&until=9999-12-31").status_code == 200


def test_every_action_the_code_records_has_a_label():
    """The actions are the dotted codes the services pass to audit.record: a new one without a label would
    show as its raw code in the console's log (and its filter)."""
    import re
    from pathlib import Path

    from observability.actions import ACTION_LABELS

    root = Path(__file__).resolve().parents[2]
    recorded = {match for app in ("accounts", "assets", "tracing", "connectivity", "observability")
                for path in (root / app).rglob("*.py") if "migrations" not in path.parts
                for match in re.findall(r"""record\(\s*\w+,\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text())}
    assert len(recorded) > 30, "the pattern no longer finds the audit.record calls"
    assert recorded - ACTION_LABELS.keys() == set()
