"""Message traces of a device and the logs they record.

A trace belongs to the OU its device was in when it started: after a migration the new OU does
not read what was recorded under the old one, and the old one has lost the device (and with it
the trace's doors). At most one trace per device is open (`stopped_at` null) at a time.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import VIEW, OUScopedQuerySet, ou_ids_with
from assets.models import Device

if TYPE_CHECKING:
    from accounts.permissions import AnyUser


class StopReason(models.TextChoices):
    STOPPED = "stopped", _("Stopped")
    EXPIRED = "expired", _("Expired")
    DELETED = "deleted", _("Device deleted")
    MIGRATED = "migrated", _("Device migrated")


class Direction(models.TextChoices):
    UP = "up", _("Up (device → cloud)")
    DOWN = "down", _("Down (cloud → device)")


class Outcome(models.TextChoices):
    OK = "ok", _("OK")
    ERROR = "error", _("Error")
    TIMEOUT = "timeout", _("Timeout")
    DROPPED = "dropped", _("Older logs dropped")


class MessageTraceQuerySet(OUScopedQuerySet):
    def visible_to(self, user: AnyUser):
        """Traces of devices the user sees, recorded while the device was in its present OU."""
        ids = ou_ids_with(user, VIEW)
        if ids is not None and not ids:
            return self.none()
        scoped = self.filter(device__ou_id=F("ou_id"))
        return scoped if ids is None else scoped.filter(ou__in=sorted(ids))

    def open(self):
        """Not yet closed in the data (an expired one stays open until the sweep or a new start closes it)."""
        return self.filter(stopped_at__isnull=True)

    def active(self, at=None):
        return self.open().filter(expires_at__gt=at or now())


class MessageTrace(models.Model):
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="message_traces")
    # SET_NULL: a deleted device's traces stay (ended "deleted") until the retention purge
    device = models.ForeignKey(Device, verbose_name=_("device"), null=True, on_delete=models.SET_NULL,
                               related_name="message_traces")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True,
                                   on_delete=models.SET_NULL,
                                   related_name="+")
    started_at = models.DateTimeField(verbose_name=_("started at"), default=now)
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    stopped_at = models.DateTimeField(verbose_name=_("stopped at"), null=True, blank=True)
    stop_reason = models.CharField(verbose_name=_("stop reason"), max_length=10, choices=StopReason.choices, blank=True)
    stopped_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("stopped by"), null=True, blank=True,
                                   on_delete=models.SET_NULL,
                                   related_name="+")
    # seq of the last log recorded, and of the oldest one kept (older ones were dropped by the cap)
    last_seq = models.BigIntegerField(verbose_name=_("last sequence number"), default=0)
    first_seq = models.BigIntegerField(verbose_name=_("first sequence number"), default=1)
    dropped = models.BigIntegerField(verbose_name=_("dropped"), default=0)

    objects = MessageTraceQuerySet.as_manager()

    class Meta:
        verbose_name = _("message trace")
        verbose_name_plural = _("message traces")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["device"], condition=Q(stopped_at__isnull=True),
                                    name="one_open_trace_per_device"),
        ]
        indexes = [
            models.Index(fields=["device", "-started_at"], name="trace_device_started"),
            # the sweep's and the purge's scans
            models.Index(fields=["expires_at"], condition=Q(stopped_at__isnull=True), name="trace_open_expiry"),
            models.Index(fields=["stopped_at"], name="trace_stopped"),
        ]

    def __str__(self) -> str:
        return f"Trace {self.pk} of device {self.device_id}"

    @property
    def public_id(self) -> str:
        return str(self.pk)

    @property
    def is_active(self) -> bool:
        """Recording now: open and not past its expiry (whether or not the sweep has run)."""
        return self.stopped_at is None and self.expires_at > now()

    @property
    def ended_at(self):
        if self.stopped_at is not None:
            return self.stopped_at
        return self.expires_at if self.expires_at <= now() else None

    @property
    def end_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return StopReason.EXPIRED if self.ended_at else ""

    @property
    def kept_logs(self) -> int:
        return max(0, self.last_seq - self.first_seq + 1)


class TraceLog(models.Model):
    trace = models.ForeignKey(MessageTrace, verbose_name=_("trace"), on_delete=models.CASCADE, related_name="logs")
    seq = models.BigIntegerField(verbose_name=_("sequence number"))
    time = models.DateTimeField(verbose_name=_("time"))
    direction = models.CharField(verbose_name=_("direction"), max_length=4, choices=Direction.choices, blank=True)
    method = models.CharField(verbose_name=_("method"), max_length=128)
    outcome = models.CharField(verbose_name=_("outcome"), max_length=8, choices=Outcome.choices)
    code = models.IntegerField(verbose_name=_("code"), null=True, blank=True)
    message = models.CharField(verbose_name=_("message"), max_length=500, blank=True)
    payload = models.JSONField(verbose_name=_("payload"), null=True, blank=True)

    class Meta:
        verbose_name = _("trace log")
        verbose_name_plural = _("trace logs")
        ordering = ["trace_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["trace", "seq"], name="trace_log_seq_unique")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.method} {self.outcome}"

    @property
    def payload_text(self) -> str:
        return json.dumps(self.payload, indent=1, ensure_ascii=False)
