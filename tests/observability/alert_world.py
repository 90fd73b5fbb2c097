"""An OU's alerting as the matrices need it: a rule with an open alert and a delivery, and a spare rule."""

from __future__ import annotations

from types import SimpleNamespace

from observability import services
from observability.models import Alert, Channel, Delivery

HOOK = "http://127.0.0.1:9/hook"


def alerting(writer, acme, device) -> SimpleNamespace:
    rule = services.create_rule(writer, acme, name="Device back", kind="back_online", webhook_url=HOOK)
    spare = services.create_rule(writer, acme, name="Spare rule", kind="event", identifier="fault",
                                 emails=["ops@example.com"])
    alert = Alert.objects.create(rule=rule, ou=acme, device=device, details={"why": "test"})
    Delivery.objects.create(ou=acme, rule=rule, alert=alert, event="opened", channel=Channel.WEBHOOK, target=HOOK,
                            subject=f"Alert: {rule.name} on {device.name}")
    return SimpleNamespace(rule=rule, spare_rule=spare, alert=alert)


def reopen(w: SimpleNamespace) -> None:
    Alert.objects.filter(pk=w.alerting.alert.pk).update(state="open", resolved_at=None)


def admin_rows(device) -> dict:
    """One alert rule, alert and delivery of the device's OU, for the admin's scope cases."""
    from observability.models import AlertRule

    rule = AlertRule.objects.create(ou=device.ou, name=f"rule of {device.device_key}", kind="back_online",
                                    webhook_url=HOOK)
    alert = Alert.objects.create(rule=rule, ou=device.ou, device=device)
    delivery = Delivery.objects.create(ou=device.ou, rule=rule, alert=alert, event="opened", channel=Channel.WEBHOOK,
                                       target=HOOK, subject="Alert")
    return {"observability.AlertRule": rule, "observability.Alert": alert, "observability.Delivery": delivery}
