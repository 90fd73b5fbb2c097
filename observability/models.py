"""Alerts: rules an OU writes, the alerts they raise per device, the timers that stand for "for N minutes",
and the log of every notification sent (e-mail, SMS, webhook; one alert or a digest of many).

Alerts are evaluated from what connectivity reports (a session ended, a login, values arrived, a login
refused): nothing here polls the fleet. Timers are rows with an indexed `due_at`, swept every few seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet


class RuleKind(models.TextChoices):
    OFFLINE_FOR = "offline_for", _("Offline for N minutes")
    BACK_ONLINE = "back_online", _("Back online")
    THRESHOLD = "measure_point_threshold", _("Measure point threshold")
    EVENT = "event", _("Event")
    FAILED_LOGINS = "failed_logins", _("Failed logins")


class Scope(models.TextChoices):
    ALL = "all", _("All devices of the OU")
    PRODUCT = "product", _("A product")
    GROUP = "group", _("A group")
    QUERY = "query", _("A query")


class Comparison(models.TextChoices):
    ABOVE = "above", _("above")
    BELOW = "below", _("below")


class AlertRule(models.Model):
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="alert_rules")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=32, choices=RuleKind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.ALL)
    product = models.ForeignKey("assets.Product", verbose_name=_("product"), null=True, blank=True,
                                on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("assets.DeviceGroup", verbose_name=_("group"), null=True, blank=True,
                              on_delete=models.CASCADE, related_name="+")
    query = models.TextField(_("query"), blank=True)
    # offline_for: N; measure_point_threshold: M (0 fires at once); failed_logins: the window
    minutes = models.PositiveIntegerField(_("minutes"), default=0)
    identifier = models.CharField(_("identifier"), max_length=64, blank=True)  # measure point or event
    comparison = models.CharField(_("comparison"), max_length=5, choices=Comparison.choices, blank=True)
    threshold = models.FloatField(_("threshold"), null=True, blank=True)
    count = models.PositiveIntegerField(_("count"), default=0)  # failed_logins: more than K
    emails = models.JSONField(_("e-mail addresses"), default=list, blank=True)
    phones = models.JSONField(_("SMS numbers"), default=list, blank=True)
    webhook_url = models.CharField(_("webhook URL"), max_length=500, blank=True)  # checked by the services
    created_at = models.DateTimeField(_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["kind", "enabled", "ou"], name="alert_rule_kind")]

    def __str__(self) -> str:
        return self.name


class WebhookSecret(models.Model):
    """The OU's key for signing webhook bodies (HMAC-SHA256): shown to a writer when generated, once."""

    ou = models.OneToOneField(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                              related_name="webhook_secret")
    secret = models.CharField(_("secret"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=now)

    class Meta:
        verbose_name = _("webhook secret")
        verbose_name_plural = _("webhook secrets")

    def __str__(self) -> str:
        return str(self.ou_id)


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="alerts")
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey("assets.Device", verbose_name=_("device"), on_delete=models.CASCADE,
                               related_name="alerts")
    state = models.CharField(_("state"), max_length=12, choices=AlertState.choices, default=AlertState.OPEN)
    opened_at = models.DateTimeField(_("opened at"), default=now)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("acknowledged by"), null=True,
                                        blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("resolved by"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    details = models.JSONField(_("details"), default=dict, blank=True)
    # the state change whose notification the sweep has yet to send: "opened", "resolved" or ""
    pending_notice = models.CharField(_("pending notice"), max_length=10, blank=True, db_index=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-opened_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule", "device"], condition=~Q(state="resolved"),
                                               name="one_live_alert_per_rule_device")]
        indexes = [models.Index(fields=["ou", "state", "-opened_at"], name="alert_ou_state"),
                   models.Index(fields=["device", "state"], name="alert_device_state")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.device_id}"


class TimerKind(models.TextChoices):
    OFFLINE = "offline", _("Offline")
    THRESHOLD = "threshold", _("Threshold")


class AlertTimer(models.Model):
    """A condition that raises an alert if it still holds at `due_at` (a device still offline, a value still
    past its threshold); removed when the condition clears."""

    rule = models.ForeignKey(AlertRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey("assets.Device", verbose_name=_("device"), on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=TimerKind.choices)
    started_at = models.DateTimeField(_("started at"))
    due_at = models.DateTimeField(_("due at"), db_index=True)

    class Meta:
        verbose_name = _("alert timer")
        verbose_name_plural = _("alert timers")
        constraints = [models.UniqueConstraint(fields=["rule", "device"], name="one_timer_per_rule_device")]
        indexes = [models.Index(fields=["device", "kind"], name="alert_timer_device")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.device_id}@{self.due_at}"


class LoginFailure(models.Model):
    """A refused login of a device whose OU has a failed-logins rule (counted in the rule's window)."""

    device = models.ForeignKey("assets.Device", verbose_name=_("device"), on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(_("at"), default=now)

    class Meta:
        verbose_name = _("login failure")
        verbose_name_plural = _("login failures")
        indexes = [models.Index(fields=["device", "at"], name="login_failure_device_at")]

    def __str__(self) -> str:
        return f"{self.device_id}@{self.at}"


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WEBHOOK = "webhook", _("Webhook")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One notification to one target: of one alert's state change, or a digest of a rule's many."""

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AlertRule, verbose_name=_("rule"), null=True, on_delete=models.SET_NULL,
                             related_name="deliveries")
    alert = models.ForeignKey(Alert, verbose_name=_("alert"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="deliveries")
    digest = models.BooleanField(_("digest"), default=False)
    event = models.CharField(_("event"), max_length=10)  # opened / resolved
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    target = models.CharField(_("target"), max_length=500)
    subject = models.CharField(_("subject"), max_length=200)
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    next_retry_at = models.DateTimeField(_("next retry"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created at"), default=now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification delivery")
        verbose_name_plural = _("notification deliveries")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["ou", "-created_at"], name="delivery_ou_created")]

    def __str__(self) -> str:
        return f"{self.channel} {self.target}"
