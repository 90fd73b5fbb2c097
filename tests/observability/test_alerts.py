"""Alert rules of each kind, evaluated from what connectivity reports (sessions ending and starting through the
real session paths, values stored, refused logins), their notifications, dedupe and digests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils.timezone import now

from assets.models import Device
from connectivity import protocol as p
from connectivity.handlers.session import LoginRefused, authenticate, close_session, open_session
from connectivity.latest import LatestRow, store_latest_values
from observability import alerting, notify, services
from observability.models import Alert, AlertState, AlertTimer, Channel, Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


def rule(writer, acme, kind="offline_for", **fields):
    fields = {"name": f"{kind} rule", "kind": kind, "emails": ["ops@example.com"], **fields}
    if kind == "offline_for":
        fields.setdefault("minutes", 1)
    return services.create_rule(writer, acme, **fields)


def later(**delta) -> dt.datetime:
    return now() + dt.timedelta(**delta)


def online_then_offline(device: Device) -> None:
    session = open_session(device, "websocket")
    close_session(session, "keep-alive timeout")


def test_an_offline_rule_fires_once_after_its_minutes_and_resolves_on_login(writer, acme, device):
    offline = rule(writer, acme)
    online_then_offline(device)
    assert AlertTimer.objects.filter(rule=offline, device=device).exists()
    assert alerting.sweep(later(seconds=30))["opened"] == 0
    figures = alerting.sweep(later(seconds=61))
    assert figures["opened"] == 1 and figures["deliveries"] == 1
    notify.send_waiting()
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "offline_for rule" in mail.outbox[0].subject
    # it stays offline: no repeat
    assert alerting.sweep(later(minutes=5)) == {"opened": 0, "deliveries": 0, "digests": 0, "retries": 0}
    open_session(device, "websocket")
    alert = Alert.objects.get(rule=offline, device=device)
    assert alert.state == AlertState.RESOLVED and alert.resolved_by is None
    assert alerting.sweep()["deliveries"] == 1
    notify.send_waiting()
    assert mail.outbox[1].subject.startswith("Resolved")


def test_a_login_before_the_minutes_cancel_the_timer(writer, acme, device):
    rule(writer, acme)
    online_then_offline(device)
    open_session(device, "websocket")
    assert not AlertTimer.objects.exists()
    assert alerting.sweep(later(minutes=2))["opened"] == 0


def test_a_disabled_device_raises_no_offline_alert(writer, acme, device):
    from assets.services import disable_device

    rule(writer, acme)
    online_then_offline(device)
    disable_device(writer, device)
    assert alerting.sweep(later(minutes=2))["opened"] == 0


def test_the_scope_picks_the_devices(writer, acme, device, product, gateway):
    rule(writer, acme, scope="product", product=product)
    online_then_offline(device)
    online_then_offline(gateway)
    alerting.sweep(later(minutes=2))
    assert list(Alert.objects.values_list("device_id", flat=True)) == [device.pk]


def test_a_query_scope(writer, acme, device, gateway):
    rule(writer, acme, scope="query", query=f"key:{gateway.device_key}")
    online_then_offline(device)
    online_then_offline(gateway)
    alerting.sweep(later(minutes=2))
    assert list(Alert.objects.values_list("device_id", flat=True)) == [gateway.pk]


def test_back_online(writer, acme, device):
    rule(writer, acme, "back_online")
    online_then_offline(device)
    open_session(device, "websocket")
    assert Alert.objects.get(device=device).state == AlertState.OPEN
    assert alerting.sweep()["deliveries"] == 1


def values(device: Device, identifier: str, value, kind: str = "measurepoint") -> None:
    store_latest_values([LatestRow(device.pk, kind, identifier, value, now())])


def test_a_threshold_at_once_and_its_clearing(writer, acme, device):
    hot = rule(writer, acme, "measure_point_threshold", identifier="temperature", comparison="above", threshold=80)
    values(device, "temperature", 70)
    assert not Alert.objects.exists()
    values(device, "temperature", 90)
    values(device, "temperature", 95)  # still above: the same alert
    alert = Alert.objects.get(rule=hot)
    assert alert.details == {"value": 90}
    values(device, "temperature", 60)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_a_threshold_for_minutes_is_a_timer(writer, acme, device):
    rule(writer, acme, "measure_point_threshold", identifier="power", comparison="below", threshold=1, minutes=5)
    values(device, "power", 0.5)
    assert AlertTimer.objects.filter(kind="threshold").count() == 1
    assert alerting.sweep(later(minutes=4))["opened"] == 0
    assert alerting.sweep(later(minutes=6))["opened"] == 1


def test_a_threshold_that_cleared_before_its_minutes_raises_nothing(writer, acme, device):
    rule(writer, acme, "measure_point_threshold", identifier="power", comparison="below", threshold=1, minutes=5)
    values(device, "power", 0.5)
    values(device, "power", 3.0)
    assert not AlertTimer.objects.exists()
    assert alerting.sweep(later(minutes=6))["opened"] == 0


def test_an_event(writer, acme, device):
    rule(writer, acme, "event", identifier="fault")
    values(device, "other", "x", kind="event")
    assert not Alert.objects.exists()
    values(device, "fault", "overheat", kind="event")
    values(device, "fault", "again", kind="event")
    assert Alert.objects.get().details == {"event": "fault", "value": "overheat"}


def bad_login(device: Device) -> None:
    login = p.LoginRequest(product_key=device.product.product_key, device_key=device.device_key, client_id="c",
                           timestamp=str(int(now().timestamp() * 1000)), sign="0" * 64)
    with pytest.raises(LoginRefused):
        authenticate(login)


def test_more_than_k_failed_logins_in_the_window(writer, acme, device):
    rule(writer, acme, "failed_logins", count=2, minutes=10)
    bad_login(device)
    bad_login(device)
    assert not Alert.objects.exists()
    bad_login(device)
    assert Alert.objects.get(device=device).details == {"failedLogins": 3}


def test_failed_logins_are_not_kept_without_a_rule(acme, device):
    from observability.models import LoginFailure

    bad_login(device)
    assert not LoginFailure.objects.exists()


def many_devices(product, n: int) -> list[Device]:
    return Device.objects.bulk_create([Device(ou=product.ou, product=product, device_key=f"many-{i:04d}",
                                              name=f"Many {i}") for i in range(n)])


def test_many_devices_tripping_a_rule_make_one_digest(writer, acme, product, settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    offline = rule(writer, acme, emails=["ops@example.com"], phones=["+8613800000002"])
    devices = many_devices(product, 30)
    for device in devices:
        online_then_offline(device)
    figures = alerting.sweep(later(minutes=2))
    assert figures == {"opened": 30, "deliveries": 2, "digests": 1, "retries": 0}
    digest = Delivery.objects.get(channel=Channel.EMAIL)
    assert digest.digest and digest.payload["count"] == 30 and len(digest.payload["devices"]) == 20
    assert notify.send_waiting() == 2
    assert Alert.objects.filter(rule=offline, state="open").count() == 30


def test_a_few_devices_make_one_notification_each(writer, acme, product):
    rule(writer, acme)
    for device in many_devices(product, 3):
        online_then_offline(device)
    assert alerting.sweep(later(minutes=2))["deliveries"] == 3


def test_acknowledge_and_resolve_by_hand(writer, viewer, acme, device):
    from accounts.errors import AccessDenied, Conflict

    rule(writer, acme, "back_online")
    online_then_offline(device)
    open_session(device, "websocket")
    alert = Alert.objects.get()
    with pytest.raises(AccessDenied):
        services.acknowledge_alert(viewer, alert)
    services.acknowledge_alert(writer, alert)
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by == writer
    with pytest.raises(Conflict):
        services.acknowledge_alert(writer, alert)
    services.resolve_alert(writer, alert)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == writer


def test_a_rule_that_could_never_work_is_refused(writer, acme):
    from accounts.errors import DomainError

    for fields in ({"emails": []}, {"emails": ["nope"]}, {"minutes": 0}, {"webhook_url": "ftp://x"},
                   {"phones": ["123"]}, {"scope": "query", "query": "("}):
        with pytest.raises(DomainError):
            rule(writer, acme, **fields)


def test_a_failed_delivery_is_retried_with_backoff(writer, acme, device, settings, monkeypatch):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    rule(writer, acme, "back_online", emails=[], phones=["+8613800000002"])
    online_then_offline(device)
    open_session(device, "websocket")
    alerting.sweep()
    delivery = Delivery.objects.get()
    calls = []

    def flaky(to, message):
        calls.append(to)
        if len(calls) == 1:
            from accounts.sms import SmsDeliveryError
            raise SmsDeliveryError("down")

    monkeypatch.setattr(notify, "send_sms", flaky)
    assert notify.deliver(delivery.pk) == DeliveryStatus.RETRYING
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.error == "down"
    assert delivery.next_retry_at > now() + dt.timedelta(seconds=5)
    assert notify.deliver(delivery.pk) == DeliveryStatus.RETRYING  # a duplicate task does not send early
    assert len(calls) == 1
    assert notify.enqueue_due_retries(now()) == 0
    assert notify.enqueue_due_retries(delivery.next_retry_at) == 1
    Delivery.objects.filter(pk=delivery.pk).update(next_retry_at=now() - dt.timedelta(seconds=1))
    assert notify.deliver(delivery.pk) == DeliveryStatus.SENT
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and len(calls) == 2 and delivery.sent_at is not None


def test_a_group_scope(writer, acme, device, gateway):
    from assets.groups import add_group_devices, create_group

    group = create_group(writer, acme, name="watched")
    add_group_devices(writer, group, [gateway])
    rule(writer, acme, scope="group", group=group)
    online_then_offline(device)
    online_then_offline(gateway)
    alerting.sweep(later(minutes=2))
    assert list(Alert.objects.values_list("device_id", flat=True)) == [gateway.pk]


def test_many_devices_coming_back_make_one_resolved_digest(writer, acme, product):
    rule(writer, acme)
    devices = many_devices(product, 25)
    for device in devices:
        online_then_offline(device)
    alerting.sweep(later(minutes=2))
    for device in devices:
        open_session(device, "websocket")
    assert alerting.sweep() == {"opened": 0, "deliveries": 1, "digests": 1, "retries": 0}
    digest = Delivery.objects.get(event="resolved")
    assert digest.digest and digest.payload["count"] == 25 and digest.subject.startswith("Resolved")


def test_latest_value_flushes_read_the_rules_from_the_cache_until_one_changes(writer, acme, device):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from observability.models import AlertRule

    hot = rule(writer, acme, "measure_point_threshold", identifier="temperature", comparison="above", threshold=80)
    values(device, "temperature", 70)  # the first flush loads the OU's rules
    rules_table = AlertRule._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        values(device, "temperature", 75)
    assert not [q for q in queries if f'FROM "{rules_table}"' in q["sql"]]
    services.update_rule(writer, hot, threshold=72)  # seen at the next flush
    values(device, "temperature", 75)
    assert Alert.objects.get(rule=hot).details == {"value": 75}
    services.delete_rule(writer, hot)
    other = rule(writer, acme, "measure_point_threshold", identifier="temperature", comparison="below", threshold=0)
    values(device, "temperature", 90)
    assert not Alert.objects.filter(rule=other).exists()
