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
    ou = models.ForeignKey(OrganizationUnit, on_delete=models.CASCADE, related_name="message_traces")
    # SET_NULL: a deleted device's traces stay (ended "deleted") until the retention purge
    device = models.ForeignKey(Device, null=True, on_delete=models.SET_NULL, related_name="message_traces")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    started_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=10, choices=StopReason.choices, blank=True)
    stopped_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # seq of the last log recorded, and of the oldest one kept (older ones were dropped by the cap)
    last_seq = models.BigIntegerField(default=0)
    first_seq = models.BigIntegerField(default=1)
    dropped = models.BigIntegerField(default=0)

    objects = MessageTraceQuerySet.as_manager()

    class Meta:
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
    trace = models.ForeignKey(MessageTrace, on_delete=models.CASCADE, related_name="logs")
    seq = models.BigIntegerField()
    time = models.DateTimeField()
    direction = models.CharField(max_length=4, choices=Direction.choices, blank=True)
    method = models.CharField(max_length=128)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    code = models.IntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["trace_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["trace", "seq"], name="trace_log_seq_unique")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.method} {self.outcome}"

    @property
    def payload_text(self) -> str:
        return json.dumps(self.payload, indent=1, ensure_ascii=False)
