"""What connectivity keeps: live sessions, the latest reported values, and issued commands.

Status itself stays on the device (online, last_online_at, …); these tables say which
connection holds a device, what it last reported, and what was asked of it.

What follows a device when it migrates to another OU, kind of history by kind:

- **Live session and latest values** (`DeviceSession`, `LatestValue`) are the device's present
  state, not a record of anyone's work: they move with it. The target OU sees the values the
  device last reported, as the device itself would tell anyone who asked.
- **Command invocations** (`CommandInvocation`) belong to the OU that issued them: their
  parameters, the device's replies and the username of whoever sent them are that OU's business.
  Each invocation records its issuing OU (`ou`); a device's invocations are shown only where
  `invocation.ou` is the device's present OU (`CommandInvocationQuerySet.visible_to`,
  `recent_for`). After a move the target starts with an empty command history, and the source
  no longer sees the device at all; if the device ever comes back, the source's own invocations
  show again.
- **Message traces** (tracing) belong to the OU their device was in when they started, and a
  migration ends the device's open trace: the same rule as invocations (`tracing.models`).
- **Audit events** (accounts) are written against an OU and stay with it: the source keeps
  `device.migrate_out` and everything before it, the target starts with `device.migrate_in`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet
from assets.models import Device, Product

if TYPE_CHECKING:
    from accounts.permissions import AnyUser

RECENT_COMMANDS = 20


class Transport(models.TextChoices):
    WEBSOCKET = "websocket", _("Websocket")
    MQTT = "mqtt", _("MQTT (portal broker)")
    EMQX = "emqx", _("MQTT (EMQX cluster)")
    RABBITMQ = "rabbitmq", _("MQTT (RabbitMQ cluster)")


class DeviceSession(models.Model):
    """The one live connection of a device, or of a sub-device through its gateway's connection.

    A new login replaces the row (and the old connection is told to close); a connection that
    closes removes only the row carrying its own `session_id`, so a late close of a replaced
    connection never marks a freshly logged-in device offline.
    """

    device = models.OneToOneField(Device, verbose_name=_("device"), primary_key=True, on_delete=models.CASCADE,
                                  related_name="live_session")
    session_id = models.CharField(verbose_name=_("session ID"), max_length=64)
    transport = models.CharField(verbose_name=_("transport"), max_length=10, choices=Transport.choices)
    client_id = models.CharField(_("client ID"), max_length=200, blank=True)
    # set for a sub-device logged in with combine.login; its row carries the gateway's session_id,
    # so it lives and dies with that gateway session
    via = models.ForeignKey(Device, verbose_name=_("via gateway"), null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    connected_at = models.DateTimeField(verbose_name=_("connected at"), default=now)
    # the connection's process touches its sessions every CONNECTIVITY_SESSION_HEARTBEAT_SECONDS;
    # a session not touched for three of them belongs to a process that died with it
    seen_at = models.DateTimeField(verbose_name=_("seen at"), default=now)

    class Meta:
        verbose_name = _("device session")
        verbose_name_plural = _("device sessions")
        indexes = [
            models.Index(fields=["session_id"], name="session_id"),
            models.Index(fields=["seen_at"], name="session_seen"),
            models.Index(fields=["transport", "client_id"], name="session_client"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} over {self.transport} ({self.session_id})"


class EndReason(models.TextChoices):
    """Why a session ended (ConnectionRecord.end_reason)."""

    CLOSED = "closed", _("Closed by the device")
    KEEPALIVE = "keepalive", _("Keep-alive lost")
    DISABLED = "disabled", _("Device disabled")
    SECRET_RESET = "secret_reset", _("Device secret reset")
    MIGRATED = "migrated", _("Migrated to another OU")
    REPLACED = "replaced", _("Replaced by a newer connection")
    GATEWAY_OFFLINE = "gateway_offline", _("Gateway went offline")
    SERVER_LOST = "server_lost", _("Server lost")
    SERVER_SHUTDOWN = "server_shutdown", _("Server shut down")
    OTHER = "other", _("Other")


class KeptByOUQuerySet(OUScopedQuerySet):
    """Rows an OU keeps about a device (its `ou` when written): the user's OUs' rows of devices still in
    that OU; a migrated device's earlier rows stay with the OU that wrote them, unseen by the new one."""

    def visible_to(self, user: AnyUser) -> Self:
        return super().visible_to(user).filter(device__ou_id=F("ou_id"))

    def writable_by(self, user: AnyUser) -> Self:
        return super().writable_by(user).filter(device__ou_id=F("ou_id"))


class ConnectionRecordQuerySet(KeptByOUQuerySet):
    """Sessions kept by the user's OUs of devices still in that OU (as command invocations)."""


class ConnectionRecord(models.Model):
    """One session of a device, kept after it ends: the connection history.

    Written in the transactions that open and close `DeviceSession` rows: one INSERT at login, one
    UPDATE at the end (with its reason). Like command invocations it belongs to the OU the device
    was in (`ou`): a migration ends the record in the source OU and, for a connected device, starts
    one in the target. Rows older than CONNECTION_HISTORY_DAYS are removed by a beat task.
    """

    # no single-column indexes: (device, -started_at) serves the device's lookups
    device = models.ForeignKey(Device, verbose_name=_("device"), on_delete=models.CASCADE,
                               related_name="connection_records", db_index=False)
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+",
                           db_index=False)
    session_id = models.CharField(verbose_name=_("session ID"), max_length=64)
    transport = models.CharField(verbose_name=_("transport"), max_length=10, choices=Transport.choices)
    client_address = models.CharField(verbose_name=_("client address"), max_length=64, blank=True)
    # a sub-device logged in through its gateway
    via_gateway = models.BooleanField(verbose_name=_("via its gateway"), default=False)
    started_at = models.DateTimeField(verbose_name=_("started at"))
    ended_at = models.DateTimeField(verbose_name=_("ended at"), null=True, blank=True)
    end_reason = models.CharField(verbose_name=_("end reason"), max_length=16, choices=EndReason.choices, blank=True)

    objects = ConnectionRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("connection record")
        verbose_name_plural = _("connection history")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["device", "-started_at"], name="connection_device_recent"),
            # the open record of a device, found at every close without reading its history
            models.Index(fields=["device"], condition=models.Q(ended_at__isnull=True), name="connection_open"),
            models.Index(fields=["ended_at"], name="connection_ended"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.started_at:%Y-%m-%d %H:%M:%S} over {self.transport}"

    @property
    def duration(self) -> dt.timedelta | None:
        """How long it lasted; None while open."""
        return self.ended_at - self.started_at if self.ended_at else None


class OnlineHourQuerySet(OUScopedQuerySet):
    """Hours of the OUs the user reads (counts only: no device is named)."""


class OnlineHour(models.Model):
    """How many devices of one product were online in an OU at some moment of one hour (UTC): the hourly
    roll-up of the connection history the OU's Connectivity page charts (connectivity.rollup).

    Counted by the OU that kept the records (`ConnectionRecord.ou`); a device has one product, so an OU's
    count is the sum over its products. Hours with no device online have no row.
    """

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+",
                           db_index=False)
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(verbose_name=_("hour"))
    devices = models.PositiveIntegerField(verbose_name=_("devices online"))

    objects = OnlineHourQuerySet.as_manager()

    class Meta:
        verbose_name = _("online devices per hour")
        verbose_name_plural = _("online devices per hour")
        constraints = [models.UniqueConstraint(fields=["ou", "hour", "product"], name="online_hour_unique")]
        indexes = [models.Index(fields=["hour"], name="online_hour_hour")]  # the roll-up's and retention's

    def __str__(self) -> str:
        return f"{self.ou_id} {self.product_id} {self.hour:%Y-%m-%d %H}:00 {self.devices}"


class FlappingDeviceQuerySet(KeptByOUQuerySet):
    """Ranks kept by the user's OUs, of devices still in that OU."""


class FlappingDevice(models.Model):
    """One of the devices of a product that started the most sessions in an OU over a period (day, week,
    month), as the roll-up last counted them: the OU's top list reads these few rows, not the history."""

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+",
                           db_index=False)
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, verbose_name=_("device"), on_delete=models.CASCADE, related_name="+")
    period = models.CharField(verbose_name=_("period"), max_length=8)
    sessions = models.PositiveIntegerField(verbose_name=_("sessions"))
    counted_at = models.DateTimeField(verbose_name=_("counted at"))

    objects = FlappingDeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("flapping device")
        verbose_name_plural = _("flapping devices")
        indexes = [models.Index(fields=["ou", "period", "-sessions"], name="flapping_rank")]

    def __str__(self) -> str:
        return f"{self.device_id} {self.period}: {self.sessions}"


class ValueKind(models.TextChoices):
    MEASUREPOINT = "measurepoint", _("Measure point")
    EVENT = "event", _("Event")


class LatestValue(models.Model):
    """The last value a device reported for one measure point (or event) and when."""

    device = models.ForeignKey(Device, verbose_name=_("device"), on_delete=models.CASCADE, related_name="latest_values")
    kind = models.CharField(verbose_name=_("kind"), max_length=12, choices=ValueKind.choices,
                            default=ValueKind.MEASUREPOINT)
    identifier = models.CharField(verbose_name=_("identifier"), max_length=64)
    value = models.JSONField(verbose_name=_("value"), null=True)
    time = models.DateTimeField(verbose_name=_("time"))  # the device's own timestamp of the value (or arrival time)
    received_at = models.DateTimeField(verbose_name=_("received at"), default=now)

    class Meta:
        verbose_name = _("latest value")
        verbose_name_plural = _("latest values")
        constraints = [
            models.UniqueConstraint(fields=["device", "kind", "identifier"], name="one_latest_value_per_point"),
        ]

    def __str__(self) -> str:
        return f"{self.identifier}={self.value!r}"


class GatewayNotice(models.Model):
    """A downstream notice to a gateway about one of its sub-devices (combine.disable / enable / delete).

    Kept until the connection holding the gateway claims and sends it: the channel layer pushes it
    at once, and the MQTT broker's sweep sends the ones nobody claimed (no shared channel layer).
    """

    gateway = models.ForeignKey(Device, verbose_name=_("gateway"), on_delete=models.CASCADE, related_name="+")
    method = models.CharField(verbose_name=_("method"), max_length=32)
    params = models.JSONField(verbose_name=_("parameters"), default=list)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("gateway notice")
        verbose_name_plural = _("gateway notices")
        indexes = [models.Index(fields=["gateway", "sent_at"], name="notice_unsent")]

    def __str__(self) -> str:
        return f"{self.method} → {self.gateway_id}"

    @property
    def message_id(self) -> str:
        return f"notice-{self.pk}"


class ValueHistory(models.Model):
    """Values a device resumed (cached while offline and sent later), each with its own time.

    Live posts only keep the latest value; resumed data is history the device could not send
    in time, so it is kept as such (and becomes the latest value only where it is newer).
    """

    device = models.ForeignKey(Device, verbose_name=_("device"), on_delete=models.CASCADE, related_name="value_history")
    kind = models.CharField(verbose_name=_("kind"), max_length=12, choices=ValueKind.choices,
                            default=ValueKind.MEASUREPOINT)
    identifier = models.CharField(verbose_name=_("identifier"), max_length=64)
    value = models.JSONField(verbose_name=_("value"), null=True)
    time = models.DateTimeField(verbose_name=_("time"))
    received_at = models.DateTimeField(verbose_name=_("received at"), default=now)

    class Meta:
        verbose_name = _("value history")
        verbose_name_plural = _("value history")
        indexes = [models.Index(fields=["device", "identifier", "-time"], name="value_history_point")]

    def __str__(self) -> str:
        return f"{self.identifier}={self.value!r} at {self.time}"


class CommandStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the reply")
    OK = "ok", _("Succeeded")
    ERROR = "error", _("Failed on the device")
    TIMEOUT = "timeout", _("No reply in time")
    OFFLINE = "offline", _("Device offline")


class CommandInvocationQuerySet(KeptByOUQuerySet):
    """Invocations the user's OUs issued to devices that are still in the issuing OU."""

    def recent_for(self, device: Device, limit: int = RECENT_COMMANDS) -> list[CommandInvocation]:
        """The device's latest invocations issued by its present OU (an earlier OU's stay hidden)."""
        return list(self.filter(device=device, ou_id=device.ou_id).select_related("requested_by")[:limit])


class CommandInvocation(models.Model):
    """One `thing.service.<identifier>` sent to a device, with its outcome."""

    device = models.ForeignKey(Device, verbose_name=_("device"), on_delete=models.CASCADE,
                               related_name="command_invocations")
    # the OU that issued the command, which keeps it when the device migrates (see the module docstring)
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="command_invocations")
    service = models.CharField(verbose_name=_("service"), max_length=64)
    params = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=CommandStatus.choices,
                              default=CommandStatus.PENDING)
    code = models.IntegerField(verbose_name=_("code"), null=True, blank=True)
    message = models.CharField(verbose_name=_("message"), max_length=500, blank=True)
    reply = models.JSONField(verbose_name=_("reply"), null=True, blank=True)  # the `data` of the device's reply
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True,
                                     on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now)
    dispatched_at = models.DateTimeField(verbose_name=_("dispatched at"), null=True,
                                         blank=True)  # claimed by the connection that sent it
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    objects = CommandInvocationQuerySet.as_manager()

    class Meta:
        verbose_name = _("command invocation")
        verbose_name_plural = _("command invocations")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["device", "-created_at"], name="command_device_recent"),
            models.Index(fields=["status", "dispatched_at"], name="command_undelivered"),
        ]

    def __str__(self) -> str:
        return f"{self.service} → {self.device_id}: {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # an invocation created without its OU is issued by the device's OU at this moment
        if self.ou_id is None and self.device_id is not None:
            self.ou_id = Device.objects.filter(pk=self.device_id).values_list("ou_id", flat=True).first()
        super().save(*args, **kwargs)

    @property
    def message_id(self) -> str:
        """The `id` of the downstream request; the device's reply carries it back."""
        return f"cmd-{self.pk}"

    def outcome(self) -> dict:
        return {
            "invocationId": self.pk,
            "service": self.service,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "data": self.reply,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
        }
