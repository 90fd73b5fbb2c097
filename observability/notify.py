"""Notifications of alerts: one per alert state change and channel target, or one digest per rule when
many devices trip it in one sweep; each a Delivery row, sent by a Celery task and retried with backoff.

Webhooks carry a JSON body signed with the OU's secret: `X-Portal-Timestamp` (Unix seconds) and
`X-Portal-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`; a receiver recomputes it and
refuses old timestamps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count
from django.utils import translation
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts.sms import SmsDeliveryError, send_sms

from .models import Alert, AlertRule, Channel, Delivery, DeliveryStatus, WebhookSecret

logger = logging.getLogger(__name__)
DIGEST_LIST = 20  # devices a digest names (it counts them all)
SIGNATURE_HEADER = "X-Portal-Signature"
TIMESTAMP_HEADER = "X-Portal-Timestamp"


def digest_over() -> int:
    return getattr(settings, "ALERT_DIGEST_OVER", 20)


def max_attempts() -> int:
    return getattr(settings, "ALERT_DELIVERY_ATTEMPTS", 6)


def retry_base_seconds() -> float:
    return getattr(settings, "ALERT_RETRY_BASE_SECONDS", 10.0)


def new_secret() -> str:
    return secrets.token_hex(32)


def secret_of(ou_id: int) -> str:
    """The OU's webhook secret, made on first use (a writer sees a new one when they reset it)."""
    found = WebhookSecret.objects.filter(ou_id=ou_id).values_list("secret", flat=True).first()
    if found:
        return found
    WebhookSecret.objects.get_or_create(ou_id=ou_id, defaults={"secret": new_secret()})
    return WebhookSecret.objects.get(ou_id=ou_id).secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- what a notification says -------------------------------------------------------------------------

def _rule_json(rule: AlertRule) -> dict[str, Any]:
    return {"id": rule.pk, "name": rule.name, "kind": rule.kind}


def alert_payload(alert: Alert, event: str) -> dict[str, Any]:
    device = alert.device
    return {"type": f"alert.{event}", "ouId": alert.rule.ou.ou_id, "rule": _rule_json(alert.rule), "alert": {
        "id": alert.pk, "state": alert.state, "assetId": device.asset_id, "deviceKey": device.device_key,
        "deviceName": device.name, "openedAt": alert.opened_at.isoformat(),
        "resolvedAt": alert.resolved_at.isoformat() if alert.resolved_at else None, "details": alert.details}}


def alert_subject(alert: Alert, event: str) -> str:
    values = {"rule": alert.rule.name, "device": alert.device.name or alert.device.device_key}
    if event == "resolved":
        return _("Resolved: %(rule)s on %(device)s") % values
    return _("Alert: %(rule)s on %(device)s") % values


def digest_subject(rule: AlertRule, event: str, count: int) -> str:
    values = {"rule": rule.name, "count": count}
    if event == "resolved":
        return _("Resolved: %(rule)s on %(count)d devices") % values
    return _("Alert: %(rule)s on %(count)d devices") % values


def _targets(rule: AlertRule) -> list[tuple[str, str]]:
    found = [(Channel.EMAIL, e) for e in rule.emails or []] + [(Channel.SMS, s) for s in rule.phones or []]
    if rule.webhook_url:
        found.append((Channel.WEBHOOK, rule.webhook_url))
    return found


# --- the sweep's part -------------------------------------------------------------------------------

def notify_pending(at: dt.datetime) -> dict[str, int]:
    """Every alert state change not yet notified: per rule and change, one delivery per target for each
    alert, or one digest when more than ALERT_DIGEST_OVER alerts wait. Then they are marked notified.
    Written in the portal's language (LANGUAGE_CODE), whatever language the calling thread last served."""
    with translation.override(settings.LANGUAGE_CODE):
        return _notify_pending(at)


def _notify_pending(at: dt.datetime) -> dict[str, int]:
    groups = list(Alert.objects.exclude(pending_notice="").values_list("rule_id", "pending_notice")
                  .annotate(n=Count("pk")).order_by())
    made: list[Delivery] = []
    digests = 0
    rules = AlertRule.objects.select_related("ou").in_bulk([rule_id for rule_id, _e, _n in groups])
    for rule_id, event, count in groups:
        rule = rules[rule_id]
        pending = Alert.objects.filter(rule_id=rule_id, pending_notice=event)
        targets = _targets(rule)
        if count > digest_over():
            with transaction.atomic():
                first = list(pending.select_related("device").order_by("opened_at", "pk")[:DIGEST_LIST])
                claimed = pending.update(pending_notice="")
                if not claimed:
                    continue
                digests += 1
                devices = [{"assetId": a.device.asset_id, "deviceKey": a.device.device_key,
                            "deviceName": a.device.name} for a in first]
                payload = {"type": "digest", "event": event, "ouId": rule.ou.ou_id, "rule": _rule_json(rule),
                           "count": claimed, "devices": devices}
                subject = digest_subject(rule, event, claimed)
                made += Delivery.objects.bulk_create([
                    Delivery(ou_id=rule.ou_id, rule=rule, digest=True, event=event, channel=channel, target=target,
                             subject=subject[:200], payload=payload) for channel, target in targets])
            continue
        with transaction.atomic():
            alerts = list(pending.select_related("device", "rule__ou")
                          .select_for_update(skip_locked=True, of=("self",)))
            if not alerts:
                continue
            Alert.objects.filter(pk__in=[a.pk for a in alerts], pending_notice=event).update(pending_notice="")
            made += Delivery.objects.bulk_create([
                Delivery(ou_id=rule.ou_id, rule=rule, alert=alert, event=event, channel=channel, target=target,
                         subject=alert_subject(alert, event)[:200], payload=alert_payload(alert, event))
                for alert in alerts for channel, target in targets])
    enqueue([d.pk for d in made if d.pk])
    return {"deliveries": len(made), "digests": digests}


def enqueue(delivery_ids: list[int]) -> None:
    if not delivery_ids:
        return
    from .tasks import send_delivery

    def send() -> None:
        for pk in delivery_ids:
            send_delivery.delay(pk)

    transaction.on_commit(send)


def enqueue_due_retries(at: dt.datetime) -> int:
    due = list(Delivery.objects.filter(status=DeliveryStatus.RETRYING, next_retry_at__lte=at)
               .values_list("pk", flat=True)[:1000])
    enqueue(due)
    return len(due)


# --- sending ------------------------------------------------------------------------------------------

class DeliveryFailed(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _post_webhook(delivery: Delivery) -> int:
    body = json.dumps(delivery.payload, default=str, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "enos-portal-alerts",
               TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret_of(delivery.ou_id), stamp, body)}
    request = urllib.request.Request(delivery.target, data=body, headers=headers, method="POST")
    timeout = getattr(settings, "ALERT_WEBHOOK_TIMEOUT", 10)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the OU's own URL
            code = response.status
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code}", error.code) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DeliveryFailed(str(getattr(error, "reason", error))[:500]) from None
    if not 200 <= code < 300:
        raise DeliveryFailed(f"HTTP {code}", code)
    return code


def _text(delivery: Delivery) -> str:
    payload = delivery.payload
    if delivery.digest:
        names = ", ".join(d["deviceName"] or d["deviceKey"] for d in payload.get("devices", []))
        return f"{delivery.subject}\n{names}"
    alert = payload.get("alert", {})
    return f"{delivery.subject}\n{alert.get('assetId', '')} {json.dumps(alert.get('details', {}))}"


def deliver(delivery_id: int) -> str:
    """Send one delivery (claimed first: a retry and a late task never both send); the status it ends in."""
    row = Delivery.objects.filter(pk=delivery_id).values("attempts", "status", "next_retry_at").first()
    if row is None or row["status"] not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
        return row["status"] if row else "gone"
    if row["next_retry_at"] is not None and row["next_retry_at"] > now():
        return row["status"]  # a duplicate task: the retry waits for its time
    if not Delivery.objects.filter(pk=delivery_id, attempts=row["attempts"], status=row["status"]).update(
            attempts=row["attempts"] + 1, next_retry_at=None):
        return "claimed elsewhere"
    delivery = Delivery.objects.get(pk=delivery_id)
    code: int | None = None
    try:
        if delivery.channel == Channel.WEBHOOK:
            code = _post_webhook(delivery)
        elif delivery.channel == Channel.EMAIL:
            send_mail(delivery.subject, _text(delivery), None, [delivery.target])
        else:
            send_sms(delivery.target, _text(delivery)[:300])
    except (DeliveryFailed, SmsDeliveryError, OSError) as failure:
        code = getattr(failure, "code", None)
        if delivery.attempts >= max_attempts():
            status, retry = DeliveryStatus.FAILED, None
        else:
            status = DeliveryStatus.RETRYING
            retry = now() + dt.timedelta(seconds=retry_base_seconds() * 2 ** (delivery.attempts - 1))
        Delivery.objects.filter(pk=delivery_id).update(status=status, response_code=code, error=str(failure)[:500],
                                                       next_retry_at=retry)
        return status
    Delivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.SENT, response_code=code, error="",
                                                   sent_at=now())
    return DeliveryStatus.SENT


def send_waiting(limit: int = 1000) -> int:
    """Send the deliveries waiting now in this process (tests, benchmarks, a portal without a worker)."""
    ids = list(Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING])
               .exclude(next_retry_at__gt=now()).values_list("pk", flat=True)[:limit])
    return sum(deliver(pk) == DeliveryStatus.SENT for pk in ids)
