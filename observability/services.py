"""Observability's writes by people: alert rules (create, change, delete), acknowledging and resolving alerts,
and resetting the OU's webhook secret. Each takes the acting user first, needs write access to the OU's
assets and is audited."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts import audit
from accounts.errors import Conflict, DomainError
from accounts.models import OrganizationUnit
from assets.models import Product
from assets.query import QueryError, parse
from assets.services import require_write

from . import alerting, notify
from .models import Alert, AlertRule, AlertState, AlertTimer, Comparison, RuleKind, Scope, WebhookSecret

NAME_MAX = 100
MAX_TARGETS = 20
MAX_MINUTES = 10_080  # a week
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
FIELDS = ("name", "kind", "enabled", "scope", "product", "group", "query", "minutes", "identifier", "comparison",
          "threshold", "count", "emails", "phones", "webhook_url")


def rule_snapshot(rule: AlertRule) -> dict[str, Any]:
    return {"name": rule.name, "kind": rule.kind, "enabled": rule.enabled, "scope": rule.scope,
            "product": rule.product.product_key if rule.product_id else None,
            "group": rule.group.name if rule.group_id else None, "query": rule.query, "minutes": rule.minutes,
            "identifier": rule.identifier, "comparison": rule.comparison, "threshold": rule.threshold,
            "count": rule.count, "emails": rule.emails, "phones": rule.phones, "webhook_url": rule.webhook_url}


def _invalid(message: str, field: str) -> DomainError:
    return DomainError(message, code="invalid", field=field)


def _list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,;]+", value) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _invalid(_("A list of texts is expected."), field)
    if len(value) > MAX_TARGETS:
        raise _invalid(_("At most %(limit)d targets.") % {"limit": MAX_TARGETS}, field)
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _check(rule: AlertRule) -> None:
    """Refuses, field by field, a rule that could never work."""
    name = rule.name.strip() if isinstance(rule.name, str) else ""
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise _invalid(_("A rule name is 1 to %(limit)d printable characters.") % {"limit": NAME_MAX}, "name")
    rule.name = name
    if rule.kind not in RuleKind.values:
        raise _invalid(_("Choose what the rule watches."), "kind")
    if rule.scope not in Scope.values:
        raise _invalid(_("Choose which devices the rule watches."), "scope")
    if not isinstance(rule.minutes, int) or isinstance(rule.minutes, bool) or not 0 <= rule.minutes <= MAX_MINUTES:
        raise _invalid(_("Minutes are a whole number from 0 to %(limit)d.") % {"limit": MAX_MINUTES}, "minutes")
    if rule.kind == RuleKind.OFFLINE_FOR and rule.minutes < 1:
        raise _invalid(_("An offline rule needs at least 1 minute."), "minutes")
    if rule.kind == RuleKind.FAILED_LOGINS and rule.minutes < 1:
        raise _invalid(_("Failed logins are counted in a window of at least 1 minute."), "minutes")
    if rule.kind in (RuleKind.THRESHOLD, RuleKind.EVENT):
        if not isinstance(rule.identifier, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", rule.identifier):
            raise _invalid(_("Name the measure point or event (its identifier)."), "identifier")
    else:
        rule.identifier = ""
    if rule.kind == RuleKind.THRESHOLD:
        if rule.comparison not in Comparison.values:
            raise _invalid(_("Choose above or below."), "comparison")
        if not isinstance(rule.threshold, int | float) or isinstance(rule.threshold, bool) \
                or rule.threshold != rule.threshold or abs(rule.threshold) > 1e300:
            raise _invalid(_("The threshold is a number."), "threshold")
    else:
        rule.comparison, rule.threshold = "", None
    if not isinstance(rule.count, int) or isinstance(rule.count, bool) or not 0 <= rule.count <= 100_000:
        raise _invalid(_("The count is a whole number from 0 to 100000."), "count")
    if rule.scope == Scope.PRODUCT:
        if rule.product is None or not Product.objects.in_ou(rule.ou).filter(pk=rule.product.pk).exists():
            raise _invalid(_("Choose a product of this OU."), "product")
    else:
        rule.product = None
    if rule.scope == Scope.GROUP:
        if rule.group is None or rule.group.ou_id != rule.ou_id:
            raise _invalid(_("Choose a group of this OU."), "group")
    else:
        rule.group = None
    if rule.scope == Scope.QUERY:
        text = rule.query.strip() if isinstance(rule.query, str) else ""
        try:
            if not text or parse(text) is None:
                raise _invalid(_("Write the query that picks the devices."), "query")
        except QueryError as error:
            raise _invalid(error.message, "query") from None
        rule.query = text
    else:
        rule.query = ""
    rule.emails = _list(rule.emails, "emails")
    for email in rule.emails:
        try:
            validate_email(email)
        except ValidationError:
            raise _invalid(_("“%(value)s” is not an e-mail address.") % {"value": email[:100]}, "emails") from None
    rule.phones = _list(rule.phones, "phones")
    for phone in rule.phones:
        if not PHONE.match(phone):
            raise _invalid(_("“%(value)s” is not a phone number in the +86… form.") % {"value": phone[:40]}, "phones")
    rule.webhook_url = rule.webhook_url.strip() if isinstance(rule.webhook_url, str) else ""
    if rule.webhook_url:
        try:
            URLValidator(schemes=["http", "https"])(rule.webhook_url)
        except ValidationError:
            raise _invalid(_("The webhook URL is an http or https address."), "webhook_url") from None
    if not (rule.emails or rule.phones or rule.webhook_url):
        raise _invalid(_("Give at least one e-mail address, phone number or webhook URL."), "emails")
    rule.enabled = bool(rule.enabled)


def _forget_timers(rule: AlertRule) -> None:
    """A changed or disabled rule starts again from what devices report next."""
    AlertTimer.objects.filter(rule=rule).delete()


@transaction.atomic
def create_rule(actor: Any, ou: OrganizationUnit, **fields: Any) -> AlertRule:
    require_write(actor, ou)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be set: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    rule = AlertRule(ou=ou, **fields)
    _check(rule)
    rule.save()
    audit.record(actor, "alert_rule.create", rule, after=rule_snapshot(rule))
    return rule


@transaction.atomic
def update_rule(actor: Any, rule: AlertRule, **changes: Any) -> AlertRule:
    require_write(actor, rule.ou_id)
    unknown = set(changes) - set(FIELDS) - {"kind"}
    if unknown or "kind" in changes and changes["kind"] != rule.kind:
        raise DomainError(_("These fields cannot be changed: %(fields)s.") % {
            "fields": ", ".join(sorted(unknown | ({"kind"} if "kind" in changes else set())))})
    before = rule_snapshot(rule)
    for name, value in changes.items():
        setattr(rule, name, value)
    _check(rule)
    rule.save()
    _forget_timers(rule)
    if not rule.enabled:
        alerting.resolve_alerts(rule.alerts.all(), now(), actor)
    audit.record(actor, "alert_rule.update", rule, before=before, after=rule_snapshot(rule))
    return rule


@transaction.atomic
def delete_rule(actor: Any, rule: AlertRule) -> None:
    require_write(actor, rule.ou_id)
    audit.record(actor, "alert_rule.delete", rule, before=rule_snapshot(rule))
    rule.delete()


def _alert_repr(alert: Alert) -> dict[str, Any]:
    return {"rule": alert.rule.name, "device": alert.device.asset_id, "state": alert.state}


@transaction.atomic
def acknowledge_alert(actor: Any, alert: Alert) -> Alert:
    """An open alert is being looked at: who and when are kept; it stays live until resolved."""
    require_write(actor, alert.ou_id)
    if alert.state != AlertState.OPEN:
        raise Conflict(_("Only an open alert can be acknowledged."), code="not_open")
    before = _alert_repr(alert)
    stamp = now()
    if not Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=stamp):
        raise Conflict(_("Only an open alert can be acknowledged."), code="not_open")
    alert.refresh_from_db()
    audit.record(actor, "alert.acknowledge", alert, object_repr=f"{alert.rule.name}: {alert.device.name}",
                 before=before, after=_alert_repr(alert))
    return alert


@transaction.atomic
def resolve_alert(actor: Any, alert: Alert) -> Alert:
    """Resolved by hand (the condition may still hold: the next state change raises a new alert)."""
    require_write(actor, alert.ou_id)
    if alert.state == AlertState.RESOLVED:
        raise Conflict(_("This alert is already resolved."), code="already_resolved")
    before = _alert_repr(alert)
    alerting.resolve_alerts(Alert.objects.filter(pk=alert.pk), now(), actor)
    AlertTimer.objects.filter(rule_id=alert.rule_id, device_id=alert.device_id).delete()
    alert.refresh_from_db()
    audit.record(actor, "alert.resolve", alert, object_repr=f"{alert.rule.name}: {alert.device.name}",
                 before=before, after=_alert_repr(alert))
    return alert


@transaction.atomic
def reset_webhook_secret(actor: Any, ou: OrganizationUnit) -> str:
    """A new secret for the OU's webhooks, returned to be shown once; the old one stops verifying at once."""
    require_write(actor, ou)
    secret = notify.new_secret()
    WebhookSecret.objects.update_or_create(ou=ou, defaults={"secret": secret, "created_at": now()})
    audit.record(actor, "alert.webhook_secret_reset", ou=ou, object_type="ou", object_id=ou.ou_id,
                 object_repr=ou.name)
    return secret

